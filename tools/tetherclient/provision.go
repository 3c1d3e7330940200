package tetherclient

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/deskphone/deskphone/bootstrap/certprov"
	"github.com/deskphone/deskphone/bootstrap/webticket"
	"github.com/deskphone/deskphone/device/tether/wire"
)

// IssueRequest is what the pool needs to issue the phone's certificate.
type IssueRequest struct {
	// CertProvURL is the phone's certprov_url configuration value.
	CertProvURL string
	// SIPURI is the identity the CSR is for ("sip:user@domain").
	SIPURI string
	// DeviceID is the phone's DeviceId GUID ("{…}").
	DeviceID string
	// CSR is the phone's PKCS#10 request (DER).
	CSR []byte
}

// Issued is a certificate with its issuing chain, DER.
type Issued struct {
	Cert  []byte
	Chain [][]byte
}

// Issuer gets a certificate for the phone's CSR from the pool with the
// technician's credentials.
type Issuer interface {
	Issue(ctx context.Context, req IssueRequest) (*Issued, error)
}

// Step names a provisioning step for progress display.
type Step string

// Provisioning steps, in order.
const (
	StepHello   Step = "hello"
	StepConfig  Step = "config"
	StepCSR     Step = "csr"
	StepIssue   Step = "webticket+certprov"
	StepInstall Step = "install-cert"
	StepStatus  Step = "status"
)

// ProvisionResult describes a provisioned phone.
type ProvisionResult struct {
	SIPURI       string      `json:"sip_uri"`
	DeviceID     string      `json:"device_id"`
	CertNotAfter string      `json:"cert_not_after"`
	ChainLen     int         `json:"chain_len"`
	Status       wire.Status `json:"status"`
}

// ProvisionError tells which step failed.
type ProvisionError struct {
	Step Step
	Err  error
}

// Error implements error.
func (e *ProvisionError) Error() string { return fmt.Sprintf("provision: %s: %v", e.Step, e.Err) }

// Unwrap returns the cause.
func (e *ProvisionError) Unwrap() error { return e.Err }

// Provision relays a certificate request: it asks the phone for a CSR for
// user (sign-in address), has iss obtain the certificate from the pool, and
// installs it on the phone (which asks for the confirmation key press).
// progress (may be nil) is called at the start of each step.
func Provision(ctx context.Context, c *Client, iss Issuer, user string, progress func(Step)) (*ProvisionResult, error) {
	step := func(s Step) {
		if progress != nil {
			progress(s)
		}
	}
	fail := func(s Step, err error) (*ProvisionResult, error) { return nil, &ProvisionError{Step: s, Err: err} }

	step(StepHello)
	h, err := c.Hello(ctx, "tether-provision")
	if err != nil {
		return fail(StepHello, err)
	}
	step(StepConfig)
	cfg, err := c.ConfigGet(ctx, "certprov_url")
	if err != nil {
		return fail(StepConfig, err)
	}
	certProvURL := cfg["certprov_url"]
	if certProvURL == "" {
		return fail(StepConfig, errors.New("the phone has no certprov_url yet (no DHCP/DNS discovery); set it with `tether config set certprov_url URL`"))
	}
	step(StepCSR)
	csr, sipURI, err := c.CSR(ctx, user)
	if err != nil {
		return fail(StepCSR, err)
	}
	step(StepIssue)
	is, err := iss.Issue(ctx, IssueRequest{CertProvURL: certProvURL, SIPURI: sipURI, DeviceID: h.DeviceID, CSR: csr})
	if err != nil {
		return fail(StepIssue, err)
	}
	leaf, err := x509.ParseCertificate(is.Cert)
	if err != nil {
		return fail(StepIssue, fmt.Errorf("pool returned a bad certificate: %w", err))
	}
	step(StepInstall)
	if err := c.InstallCert(ctx, is.Cert, is.Chain); err != nil {
		return fail(StepInstall, err)
	}
	step(StepStatus)
	st, err := c.Status(ctx)
	if err != nil {
		return fail(StepStatus, err)
	}
	return &ProvisionResult{SIPURI: sipURI, DeviceID: h.DeviceID, CertNotAfter: leaf.NotAfter.UTC().Format(time.RFC3339),
		ChainLen: len(is.Chain), Status: st}, nil
}

// PoolIssuer is the real Issuer: a web ticket over the
// WebTicketServiceWinNegotiate binding with a Windows login and password,
// then CertProv GetAndPublishCert with the phone's CSR.
type PoolIssuer struct {
	// HTTP must verify the pool's certificate (system roots plus the
	// site CA); it is never configured to skip verification.
	HTTP   *http.Client
	Logger *slog.Logger
	// Login is DOMAIN\user or user@domain.
	Login    string
	Password webticket.Secret
}

// Issue implements Issuer.
func (p *PoolIssuer) Issue(ctx context.Context, req IssueRequest) (*Issued, error) {
	wt := webticket.Client{HTTP: p.HTTP, Logger: p.Logger}
	ep, err := wt.Discover(ctx, req.CertProvURL)
	if err != nil {
		return nil, fmt.Errorf("tetherclient: discover: %w", err)
	}
	t, err := wt.ByPassword(ctx, ep, req.SIPURI, p.Login, p.Password)
	if err != nil {
		return nil, fmt.Errorf("tetherclient: web ticket: %w", err)
	}
	cp := certprov.Client{HTTP: p.HTTP, Logger: p.Logger}
	is, err := cp.GetAndPublishCert(ctx, ep.CertProvPort, t, req.CSR, req.DeviceID)
	if err != nil {
		return nil, fmt.Errorf("tetherclient: certprov: %w", err)
	}
	out := &Issued{Cert: is.Cert.Raw}
	for _, c := range is.Chain {
		out.Chain = append(out.Chain, c.Raw)
	}
	return out, nil
}
