// Package chain is the trust-bootstrap stage of sign-in (signin-protocols.md
// §3.6 and §8.3): download the pool's certificate chain over plain HTTP,
// learn its intermediates, then prove the web services certificate verifies
// through the phone's own anchors (bundled and site roots) with hostname
// verification and SNI.
//
// The download never widens trust: downloaded certificates only become
// intermediates, and a self-signed one (a root) is ignored, unless the
// opt-in TrustDownloadedRoot mode mimics old Lync Phone Edition firmware.
// A web certificate that does not lead to an anchor fails with
// failure.ChainUntrusted ("cannot verify the web services certificate");
// a failed, garbled or oversized download fails with failure.ChainDownload.
//
// The simulated pool serves the chain as a certs-only PKCS#7 (DER,
// Content-Type application/pkcs7-mime) at
// http://<web fqdn>:<http port>/CertProv/CertProvisioningService.svc/chain.
// The real pool's format is undocumented (signin-protocols.md §7, U2).
package chain

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/deskphone/deskphone/bootstrap/failure"
	"github.com/deskphone/deskphone/certstore"
)

// Path is the chain document's path on the pool's web server.
const Path = "/CertProv/CertProvisioningService.svc/chain"

// DefaultMaxBytes is the default download size limit.
const DefaultMaxBytes = 64 << 10

// Config configures Establish.
type Config struct {
	// ChainURL is the plain-HTTP chain document,
	// http://<web fqdn>:<http port>/CertProv/CertProvisioningService.svc/chain.
	ChainURL string
	// WebURL is the https CertProv URL whose server certificate must verify.
	WebURL string
	// Trust holds the anchors (bundled + site roots); required.
	Trust *certstore.Trust
	// TrustDownloadedRoot makes downloaded self-signed certificates anchors.
	// Off by default; it mimics old LPE firmware and logs a loud warning.
	TrustDownloadedRoot bool
	// HTTP is the plain HTTP client (the agent injects its dialer and
	// resolver); nil means a client with a 30 s timeout.
	HTTP *http.Client
	// DialTLS dials the TCP connection over which the WebURL certificate is
	// checked (TLS runs on top of it); nil means a net.Dialer.
	DialTLS func(ctx context.Context, network, addr string) (net.Conn, error)
	// Now is the clock certificates are judged by; nil means time.Now.
	Now func() time.Time
	// MaxBytes limits the download; 0 means DefaultMaxBytes.
	MaxBytes int64
}

// Result describes the bootstrap. Its JSON form is the detail of
// `phoned diag chain --json`.
type Result struct {
	// Downloaded counts the certificates in the downloaded document.
	Downloaded int `json:"downloaded"`
	// Intermediates counts those learnt as intermediates.
	Intermediates int `json:"intermediates"`
	// Anchors counts downloaded roots made anchors (TrustDownloadedRoot only).
	Anchors int `json:"anchors"`
	// ServerSubject and ServerIssuer name the web services certificate.
	ServerSubject string `json:"server_subject,omitempty"`
	ServerIssuer  string `json:"server_issuer,omitempty"`
	// ChainOK reports that the web services certificate verified.
	ChainOK bool `json:"chain_ok"`
}

// Establish downloads the chain at cfg.ChainURL, adds its intermediates to
// cfg.Trust and verifies the certificate of cfg.WebURL's server through the
// result. It returns the extended Trust for the later stages. Errors are
// *failure.Error values of failure.StageChain; the Result is filled as far
// as the stage got.
func Establish(ctx context.Context, cfg Config, logger *slog.Logger) (*certstore.Trust, Result, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "chain")
	var res Result
	if cfg.Trust == nil {
		return nil, res, failure.New(failure.StageChain, failure.Internal, errors.New("chain: no trust anchors configured"))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{Timeout: 30 * time.Second}
	}
	web, err := url.Parse(cfg.WebURL)
	if err != nil || web.Scheme != "https" || web.Hostname() == "" {
		return nil, res, failure.Errorf(failure.StageChain, failure.ChainDownload, "chain: web url %q is not an https url", cfg.WebURL)
	}
	if cfg.TrustDownloadedRoot {
		logger.Warn("trust_downloaded_root is on: downloaded root certificates become trust anchors; anyone on the network can impersonate the pool")
	}

	certs, err := download(ctx, cfg)
	if err != nil {
		return nil, res, failure.New(failure.StageChain, failure.ChainDownload, err)
	}
	res.Downloaded = len(certs)

	var inter, anchors []*x509.Certificate
	for _, c := range certs {
		attrs := []any{"subject", c.Subject.String(), "sha256", certstore.Fingerprint(c)}
		switch {
		case selfSigned(c) && cfg.TrustDownloadedRoot:
			logger.Warn("trusting downloaded root certificate", attrs...)
			anchors = append(anchors, c)
		case selfSigned(c):
			logger.Info("ignoring downloaded root certificate", attrs...)
		case !c.IsCA:
			logger.Debug("ignoring downloaded non-ca certificate", attrs...)
		default:
			logger.Debug("learnt intermediate certificate", attrs...)
			inter = append(inter, c)
		}
	}
	trust := cfg.Trust.WithIntermediates(inter)
	if len(anchors) > 0 {
		trust = trust.WithAnchors(anchors)
	}
	res.Intermediates, res.Anchors = len(inter), len(anchors)

	leaf, err := probe(ctx, cfg, web, trust)
	if leaf != nil {
		res.ServerSubject, res.ServerIssuer = leaf.Subject.String(), leaf.Issuer.String()
	}
	if err != nil {
		code := failure.ChainDownload
		if untrusted(err) {
			code = failure.ChainUntrusted
		}
		return nil, res, failure.New(failure.StageChain, code, err)
	}
	res.ChainOK = true
	logger.Info("web services certificate verified",
		"server", web.Host, "subject", res.ServerSubject, "issuer", res.ServerIssuer,
		"intermediates", res.Intermediates, "anchors", res.Anchors)
	return trust, res, nil
}

// download fetches and parses the chain document.
func download(ctx context.Context, cfg Config) ([]*x509.Certificate, error) {
	u, err := url.Parse(cfg.ChainURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("chain: download: bad url %q", cfg.ChainURL)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("chain: download: %w", err)
	}
	req.Header.Set("Accept", "application/pkcs7-mime, application/x-pkcs7-certificates, application/x-pem-file;q=0.5")
	req.Close = true // a one-off fetch: keep no idle connection
	resp, err := cfg.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("chain: download: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("chain: download %s: http status %s", u.Redacted(), resp.Status)
	}
	if resp.ContentLength > cfg.MaxBytes {
		return nil, fmt.Errorf("chain: download %s: %d bytes (limit %d)", u.Redacted(), resp.ContentLength, cfg.MaxBytes)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, cfg.MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("chain: download %s: %w", u.Redacted(), err)
	}
	if int64(len(body)) > cfg.MaxBytes {
		return nil, fmt.Errorf("chain: download %s: more than %d bytes", u.Redacted(), cfg.MaxBytes)
	}
	certs, err := ParseChain(body)
	if err != nil {
		return nil, fmt.Errorf("chain: download %s (%s): %w", u.Redacted(), resp.Header.Get("Content-Type"), err)
	}
	return certs, nil
}

// probe connects to the web server and verifies its certificate through
// trust (hostname verification, SNI, time cfg.Now). It returns the server's
// leaf certificate when the server sent one, even if it did not verify.
func probe(ctx context.Context, cfg Config, web *url.URL, trust *certstore.Trust) (*x509.Certificate, error) {
	host, port := web.Hostname(), web.Port()
	if port == "" {
		port = "443"
	}
	dial := cfg.DialTLS
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	addr := net.JoinHostPort(host, port)
	conn, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("chain: connect to %s: %w", addr, err)
	}
	defer conn.Close()

	var leaf *x509.Certificate
	tcfg := trust.TLSConfig(host, cfg.Now)
	verifyConn := tcfg.VerifyConnection
	tcfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) > 0 {
			leaf = cs.PeerCertificates[0]
		}
		return verifyConn(cs)
	}
	tc := tls.Client(conn, tcfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		if cve := (*tls.CertificateVerificationError)(nil); errors.As(err, &cve) && len(cve.UnverifiedCertificates) > 0 {
			leaf = cve.UnverifiedCertificates[0]
		}
		return leaf, fmt.Errorf("chain: tls handshake with %s: %w", addr, err)
	}
	_ = tc.Close()
	return leaf, nil
}

// untrusted reports whether err is a certificate verification failure
// rather than a network one.
func untrusted(err error) bool {
	var (
		cve *tls.CertificateVerificationError
		uae x509.UnknownAuthorityError
		cie x509.CertificateInvalidError
		he  x509.HostnameError
	)
	return errors.Is(err, certstore.ErrUntrusted) || errors.As(err, &cve) ||
		errors.As(err, &uae) || errors.As(err, &cie) || errors.As(err, &he)
}

// selfSigned reports whether c is a root: issued by itself and signed by its
// own key.
func selfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawSubject, c.RawIssuer) && c.CheckSignatureFrom(c) == nil
}
