package certprov

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/smallstep/pkcs7"

	"github.com/deskphone/deskphone/bootstrap/failure"
	"github.com/deskphone/deskphone/bootstrap/webticket"
)

// Issued is the certificate CertProv issued, with its issuing chain
// (leaf's issuer first; empty if the pool sent none).
type Issued struct {
	Cert  *x509.Certificate
	Chain []*x509.Certificate
}

// Client calls CertProv GetAndPublishCert.
type Client struct {
	HTTP   *http.Client
	Logger *slog.Logger
	// Now is the clock (time.Now if nil).
	Now func() time.Time
	// MaxBytes bounds the response body (webticket.DefaultMaxBytes if 0).
	MaxBytes int64

	newUUID func() string // test hook
}

func (c *Client) now() time.Time {
	if c.Now == nil {
		return time.Now()
	}
	return c.Now()
}

func (c *Client) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger.With("component", "certprov")
}

func (c *Client) uuid() string {
	if c.newUUID != nil {
		return c.newUUID()
	}
	return uuid.NewString()
}

// GetAndPublishCert sends csrDER to the CertProv port with the web ticket t
// and returns the issued certificate. deviceID is the device UUID (braces
// optional). The certificate's public key must be the CSR's.
func (c *Client) GetAndPublishCert(ctx context.Context, portURL string, t *webticket.Ticket, csrDER []byte, deviceID string) (*Issued, error) {
	start := time.Now()
	if !t.Usable(c.now()) {
		return nil, failure.Errorf(failure.StageCert, failure.CredentialsNeeded, "certprov: web ticket expired or not yet valid")
	}
	csr, err := x509.ParseCertificateRequest(csrDER)
	if err != nil {
		return nil, failure.New(failure.StageCert, failure.Internal, fmt.Errorf("certprov: csr: %w", err))
	}
	env, err := BuildEnvelope(Request{PortURL: portURL, MessageID: c.uuid(), RequestID: c.uuid(), DeviceID: deviceID,
		CSR: csrDER, Ticket: t})
	if err != nil {
		return nil, failure.New(failure.StageCert, failure.Internal, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, portURL, bytes.NewReader(env))
	if err != nil {
		return nil, failure.New(failure.StageCert, failure.CertServiceError, fmt.Errorf("certprov: post: %w", err))
	}
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	req.Header.Set("SOAPAction", `"`+SOAPAction+`"`)
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, failure.New(failure.StageCert, failure.CertServiceError, fmt.Errorf("certprov: post %s: %w", portURL, err))
	}
	defer resp.Body.Close()
	max := c.MaxBytes
	if max <= 0 {
		max = webticket.DefaultMaxBytes
	}
	body, err := webticket.ReadLimited(resp.Body, max)
	if err != nil {
		return nil, failure.New(failure.StageCert, failure.CertServiceError, fmt.Errorf("certprov: read: %w", err))
	}
	if err := classify(resp.StatusCode, resp.Header, body); err != nil {
		return nil, err
	}
	r, err := ParseResponse(body)
	if err != nil {
		return nil, failure.New(failure.StageCert, failure.CertServiceError, err)
	}
	if r.HasError {
		return nil, failure.Errorf(failure.StageCert, errorInfoCode(r.ErrorCode), "certprov: error info %s: %s",
			r.ErrorCode, r.ErrorMessage)
	}
	iss, err := c.check(r, csr)
	if err != nil {
		return nil, err
	}
	c.logger().Info("certificate issued", "sip_uri", t.SIPURI, "device_id", deviceID,
		"serial", iss.Cert.SerialNumber.String(), "not_after", iss.Cert.NotAfter,
		"ms", float64(time.Since(start).Microseconds())/1000)
	return iss, nil
}

// check parses the certificate and chain and checks them against the CSR.
func (c *Client) check(r *Response, csr *x509.CertificateRequest) (*Issued, error) {
	cert, err := x509.ParseCertificate(r.Cert)
	if err != nil {
		return nil, failure.New(failure.StageCert, failure.CertServiceError, fmt.Errorf("certprov: certificate: %w", err))
	}
	iss := &Issued{Cert: cert}
	if len(r.Chain) > 0 {
		p7, err := pkcs7.Parse(r.Chain)
		if err != nil {
			return nil, failure.New(failure.StageCert, failure.CertServiceError, fmt.Errorf("certprov: chain: %w", err))
		}
		iss.Chain = orderChain(cert, p7.Certificates)
	}
	type pub interface{ Equal(crypto.PublicKey) bool }
	if k, ok := cert.PublicKey.(pub); !ok || !k.Equal(csr.PublicKey) {
		return nil, failure.Errorf(failure.StageCert, failure.CertRejected, "certprov: certificate key does not match the csr key")
	}
	now := c.now()
	if now.After(cert.NotAfter) || now.Add(5*time.Minute).Before(cert.NotBefore) {
		return nil, failure.Errorf(failure.StageCert, failure.CertRejected, "certprov: certificate valid %s..%s, now %s",
			cert.NotBefore, cert.NotAfter, now)
	}
	if len(iss.Chain) > 0 {
		if err := cert.CheckSignatureFrom(iss.Chain[0]); err != nil {
			return nil, failure.New(failure.StageCert, failure.CertRejected, fmt.Errorf("certprov: certificate not signed by the chain: %w", err))
		}
	}
	if !strings.EqualFold(cert.Subject.CommonName, csr.Subject.CommonName) {
		c.logger().Warn("certificate subject differs from the request", "cn", cert.Subject.CommonName)
	}
	return iss, nil
}

// orderChain returns certs ordered from the leaf's issuer upwards (any
// certificate not on that path follows in its original order).
func orderChain(leaf *x509.Certificate, certs []*x509.Certificate) []*x509.Certificate {
	var out []*x509.Certificate
	used := make([]bool, len(certs))
	cur := leaf
	for range certs {
		found := false
		for i, c := range certs {
			if !used[i] && bytes.Equal(cur.RawIssuer, c.RawSubject) && !c.Equal(cur) {
				used[i], found, cur = true, true, c
				out = append(out, c)
				break
			}
		}
		if !found {
			break
		}
	}
	for i, c := range certs {
		if !used[i] && !c.Equal(leaf) {
			out = append(out, c)
		}
	}
	return out
}

// classify maps a failed HTTP answer (status, X-Ms-diagnostics, SOAP fault)
// to a *failure.Error; nil for a 200 without a fault.
func classify(status int, hdr http.Header, body []byte) error {
	diag, hasDiag := webticket.ParseDiagnostics(hdr.Get("X-Ms-Diagnostics"))
	fault, hasFault := webticket.ParseFault(body)
	if status == http.StatusOK && !hasFault {
		return nil
	}
	cause := fmt.Errorf("certprov: http %d", status)
	id := 0
	if hasDiag {
		id = diag.ErrorID
		cause = fmt.Errorf("certprov: http %d: ms-diagnostics %d %s", status, diag.ErrorID, diag.Params["reason"])
	}
	if hasFault {
		if fault.ErrorID != 0 {
			id = fault.ErrorID
		}
		cause = fmt.Errorf("certprov: http %d: fault %s: %s (error %d %s)", status, fault.Code, fault.String, fault.ErrorID, fault.Reason)
	}
	if id == webticket.DiagNoValidToken || status == http.StatusUnauthorized || status == http.StatusForbidden {
		return failure.New(failure.StageCert, failure.CredentialsNeeded, cause)
	}
	return failure.New(failure.StageCert, failure.CertServiceError, cause)
}
