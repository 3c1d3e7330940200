package renew

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/deskphone/deskphone/bootstrap/certprov"
	"github.com/deskphone/deskphone/bootstrap/failure"
	"github.com/deskphone/deskphone/bootstrap/webticket"
	"github.com/deskphone/deskphone/certstore"
)

// DefaultRenewBefore is how long before expiry a certificate is renewed
// (Lync clients renew about a month ahead, signin-protocols.md §3.5).
const DefaultRenewBefore = 30 * 24 * time.Hour

// Timeouts of the renewal's HTTP client.
const (
	dialTimeout    = 10 * time.Second
	requestTimeout = 30 * time.Second
)

// Due reports whether cert should be renewed at now: less than before
// (DefaultRenewBefore if before <= 0) of its validity remains. A nil
// certificate is not due (there is nothing to renew; enrol with the PIN).
func Due(cert *x509.Certificate, now time.Time, before time.Duration) bool {
	if cert == nil {
		return false
	}
	if before <= 0 {
		before = DefaultRenewBefore
	}
	return !now.Add(before).Before(cert.NotAfter)
}

// Config is what a renewal needs.
type Config struct {
	// CertProvURL is the CertProv service URL (https).
	CertProvURL string
	// Trust verifies the pool's web server (hostname verification and SNI).
	Trust *certstore.Trust
	// Current is the stored client certificate and its key, presented to
	// the WebTicketServiceCert binding.
	Current tls.Certificate
	// SIPURI ("sip:user@domain") and DeviceID are the stored identity; the
	// new certificate is requested for them.
	SIPURI, DeviceID string
	// NewKey is the pre-generated key of the new certificate (RSA, §3.4).
	NewKey crypto.Signer
	// Dial is the resolver-backed dialer (a net.Dialer if nil).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Now is the clock (time.Now if nil).
	Now func() time.Time
	// Logger may be nil.
	Logger *slog.Logger
}

// Renew gets a new certificate for cfg.NewKey and cfg.SIPURI with the
// current certificate as the only credential. Errors are *failure.Error;
// failure.CredentialsNeeded means "ask for the PIN" (no usable current
// certificate, or the pool refused it), failure.TicketUnavailable and
// failure.CertServiceError mean "try again later".
func Renew(ctx context.Context, cfg Config) (*certprov.Issued, error) {
	start := time.Now()
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "renew")
	if err := checkConfig(cfg); err != nil {
		return nil, failure.New(failure.StageCert, failure.Internal, err)
	}
	old, err := currentLeaf(cfg)
	if err != nil {
		return nil, failure.New(failure.StageCert, failure.CredentialsNeeded, err)
	}
	hc, tr := httpClient(cfg)
	defer tr.CloseIdleConnections()

	wt := &webticket.Client{HTTP: hc, Logger: cfg.Logger}
	ep, err := wt.Discover(ctx, cfg.CertProvURL)
	if err != nil {
		return nil, err
	}
	tk, err := wt.ByCertificate(ctx, ep)
	if err != nil {
		return nil, err
	}
	if !strings.EqualFold(tk.SIPURI, cfg.SIPURI) {
		return nil, failure.Errorf(failure.StageTicket, failure.CredentialsNeeded,
			"renew: ticket is for %q, stored sip uri is %q", tk.SIPURI, cfg.SIPURI)
	}
	csr, err := certprov.BuildCSR(cfg.NewKey, cfg.SIPURI)
	if err != nil {
		return nil, failure.New(failure.StageCert, failure.Internal, fmt.Errorf("renew: %w", err))
	}
	cp := &certprov.Client{HTTP: hc, Logger: cfg.Logger, Now: cfg.Now}
	iss, err := cp.GetAndPublishCert(ctx, ep.CertProvPort, tk, csr, cfg.DeviceID)
	if err != nil {
		return nil, err
	}
	if err := checkIssued(iss.Cert, cfg); err != nil {
		return nil, failure.New(failure.StageCert, failure.CertRejected, err)
	}
	logger.Info("certificate renewed", "sip_uri", cfg.SIPURI, "device_id", cfg.DeviceID,
		"old_serial", old.SerialNumber.String(), "serial", iss.Cert.SerialNumber.String(),
		"not_after", iss.Cert.NotAfter, "ms", float64(time.Since(start).Microseconds())/1000)
	return iss, nil
}

// checkConfig validates cfg.
func checkConfig(cfg Config) error {
	u, err := url.Parse(cfg.CertProvURL)
	if err != nil || u.Scheme != "https" || u.Hostname() == "" {
		return fmt.Errorf("renew: certprov url %q is not https", cfg.CertProvURL)
	}
	switch {
	case cfg.Trust == nil:
		return errors.New("renew: no trust")
	case cfg.NewKey == nil:
		return errors.New("renew: no new key")
	case cfg.DeviceID == "":
		return errors.New("renew: no device id")
	case !strings.Contains(certprov.Entity(cfg.SIPURI), "@") || !strings.HasPrefix(strings.ToLower(cfg.SIPURI), "sip:"):
		return fmt.Errorf("renew: bad sip uri %q", cfg.SIPURI)
	}
	return nil
}

// currentLeaf returns the current certificate if it can still sign in:
// present with its key, valid now, and issued for the stored SIP URI.
func currentLeaf(cfg Config) (*x509.Certificate, error) {
	if len(cfg.Current.Certificate) == 0 || cfg.Current.PrivateKey == nil {
		return nil, errors.New("renew: no current certificate")
	}
	leaf := cfg.Current.Leaf
	if leaf == nil {
		var err error
		if leaf, err = x509.ParseCertificate(cfg.Current.Certificate[0]); err != nil {
			return nil, fmt.Errorf("renew: current certificate: %w", err)
		}
	}
	if now := cfg.Now(); now.After(leaf.NotAfter) || now.Before(leaf.NotBefore) {
		return nil, fmt.Errorf("renew: current certificate valid %s..%s, now %s", leaf.NotBefore, leaf.NotAfter, now)
	}
	if !strings.EqualFold(leaf.Subject.CommonName, certprov.Entity(cfg.SIPURI)) {
		return nil, fmt.Errorf("renew: current certificate is for %q, stored sip uri is %q", leaf.Subject.CommonName, cfg.SIPURI)
	}
	return leaf, nil
}

// checkIssued checks that the new certificate is for the new key and the
// stored SIP URI (certprov has checked it against the CSR and the chain).
func checkIssued(cert *x509.Certificate, cfg Config) error {
	type pub interface{ Equal(crypto.PublicKey) bool }
	if k, ok := cert.PublicKey.(pub); !ok || !k.Equal(cfg.NewKey.Public()) {
		return errors.New("renew: new certificate is not for the new key")
	}
	if !strings.EqualFold(cert.Subject.CommonName, certprov.Entity(cfg.SIPURI)) {
		return fmt.Errorf("renew: new certificate is for %q, not %q", cert.Subject.CommonName, cfg.SIPURI)
	}
	return nil
}

// httpClient returns a client whose TLS verifies every server through
// cfg.Trust as the host it dials (hostname verification and SNI) and
// presents cfg.Current when asked for a client certificate.
func httpClient(cfg Config) (*http.Client, *http.Transport) {
	dial := cfg.Dial
	if dial == nil {
		dial = (&net.Dialer{Timeout: dialTimeout}).DialContext
	}
	cur := cfg.Current
	tr := &http.Transport{
		DialContext: dial,
		DialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			raw, err := dial(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			tcfg := cfg.Trust.TLSConfig(host, cfg.Now)
			tcfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cur, nil }
			c := tls.Client(raw, tcfg)
			if err := c.HandshakeContext(ctx); err != nil {
				raw.Close()
				return nil, fmt.Errorf("renew: tls %s: %w", addr, err)
			}
			return c, nil
		},
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     30 * time.Second,
	}
	return &http.Client{Transport: tr, Timeout: requestTimeout}, tr
}
