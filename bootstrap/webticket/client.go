package webticket

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	ntlmssp "github.com/Azure/go-ntlmssp"
	"github.com/google/uuid"

	"github.com/deskphone/deskphone/bootstrap/failure"
)

// DefaultMaxBytes bounds every response body when Client.MaxBytes is 0.
const DefaultMaxBytes = 1 << 20

// Endpoints are the addresses learned from the CertProv and WebTicket
// metadata (signin-protocols.md §3.2, §4.1).
type Endpoints struct {
	// CertProvPort is the CertProvisioningServiceWebTicketProof_SHA1 address:
	// where GetAndPublishCert is POSTed, and the ticket's AppliesTo.
	CertProvPort string
	// WebTicketURL is the issuer address from the CertProv policy.
	WebTicketURL string
	// Pin, WinNegotiate and Cert are the WebTicketServicePin,
	// WebTicketServiceWinNegotiate and WebTicketServiceCert port addresses
	// ("" if not offered).
	Pin, WinNegotiate, Cert string
	// ProofRequired is true when CertProv wants a proof-of-possession
	// (signed) ticket.
	ProofRequired bool
}

// Ticket is a web ticket with its proof key.
type Ticket struct {
	// Assertion is the saml:Assertion element as received (verbatim XML).
	Assertion   string
	AssertionID string
	// SIPURI is the SAML NameIdentifier ("sip:user@domain").
	SIPURI           string
	Created, Expires time.Time
	// ProofKey signs the CertProv request (HMAC-SHA1).
	ProofKey []byte
}

// LogValue implements slog.LogValuer; it never shows the proof key.
func (t *Ticket) LogValue() slog.Value {
	return slog.GroupValue(slog.String("assertion_id", t.AssertionID), slog.String("sip_uri", t.SIPURI),
		slog.Time("expires", t.Expires))
}

// Usable reports whether the ticket may still be presented at now (it is
// cached until Expires − 60 s, §4.3).
func (t *Ticket) Usable(now time.Time) bool {
	return t != nil && now.Before(t.Expires.Add(-60*time.Second)) && !now.Before(t.Created.Add(-5*time.Minute))
}

// Client fetches web tickets. HTTP must carry the TLS configuration that
// trusts the pool (certstore); MaxBytes bounds response bodies
// (DefaultMaxBytes if 0).
type Client struct {
	HTTP   *http.Client
	Logger *slog.Logger
	// MaxBytes bounds every response body (DefaultMaxBytes if 0).
	MaxBytes int64
	// Base64Credentials selects the base64 variant of the PIN UsernameToken
	// fields (signin-protocols.md §8.2).
	Base64Credentials bool

	// rand and newUUID are test hooks (fixed entropy and ids).
	rand    io.Reader
	newUUID func() string
}

func (c *Client) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger.With("component", "webticket")
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP == nil {
		return http.DefaultClient
	}
	return c.HTTP
}

func (c *Client) maxBytes() int64 {
	if c.MaxBytes <= 0 {
		return DefaultMaxBytes
	}
	return c.MaxBytes
}

func (c *Client) uuid() string {
	if c.newUUID != nil {
		return c.newUUID()
	}
	return uuid.NewString()
}

func (c *Client) entropy() ([]byte, error) {
	r := c.rand
	if r == nil {
		r = rand.Reader
	}
	b := make([]byte, 32)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("webticket: entropy: %w", err)
	}
	return b, nil
}

// Discover reads the CertProv metadata, then the WebTicket metadata it
// points to (signin-protocols.md §3.2): GET <certProvURL>/mex and
// GET <issuer>/mex.
func (c *Client) Discover(ctx context.Context, certProvURL string) (Endpoints, error) {
	var ep Endpoints
	b, err := c.get(ctx, strings.TrimSuffix(certProvURL, "/")+"/mex")
	if err != nil {
		return ep, err
	}
	w, err := ParseWSDL(b)
	if err != nil {
		return ep, failure.New(failure.StageTicket, failure.TicketUnavailable, err)
	}
	ep.CertProvPort = w.Ports[PortCertProvProof]
	pol, ok := w.Policies[PolicyCertProvProof]
	if ep.CertProvPort == "" || !ok || pol.Issuer == "" {
		return ep, failure.Errorf(failure.StageTicket, failure.TicketUnavailable,
			"webticket: certprov metadata lacks the %s port or its issuer", PortCertProvProof)
	}
	ep.WebTicketURL, ep.ProofRequired = pol.Issuer, pol.Proof
	for _, u := range []string{ep.CertProvPort, ep.WebTicketURL} {
		if err := checkHTTPS(u); err != nil {
			return ep, failure.New(failure.StageTicket, failure.TicketUnavailable, err)
		}
	}
	b, err = c.get(ctx, strings.TrimSuffix(ep.WebTicketURL, "/")+"/mex")
	if err != nil {
		return ep, err
	}
	w, err = ParseWSDL(b)
	if err != nil {
		return ep, failure.New(failure.StageTicket, failure.TicketUnavailable, err)
	}
	ep.Pin, ep.WinNegotiate, ep.Cert = w.Ports[PortWebTicketPin], w.Ports[PortWebTicketWinNego], w.Ports[PortWebTicketCert]
	for _, u := range []string{ep.Pin, ep.WinNegotiate, ep.Cert} {
		if u == "" {
			continue
		}
		if err := checkHTTPS(u); err != nil {
			return ep, failure.New(failure.StageTicket, failure.TicketUnavailable, err)
		}
	}
	c.logger().Debug("metadata read", "certprov_port", ep.CertProvPort, "pin_port", ep.Pin,
		"cert_port", ep.Cert, "proof_required", ep.ProofRequired)
	return ep, nil
}

func checkHTTPS(u string) error {
	p, err := url.Parse(u)
	if err != nil {
		return fmt.Errorf("webticket: bad address %q: %w", u, err)
	}
	if p.Scheme != "https" || p.Host == "" {
		return fmt.Errorf("webticket: address %q is not https", u)
	}
	return nil
}

// ByPIN gets a web ticket with a phone number or extension and a PIN over
// the WebTicketServicePin binding (signin-protocols.md §4.5, §8.2 [G]).
func (c *Client) ByPIN(ctx context.Context, ep Endpoints, user string, pin Secret) (*Ticket, error) {
	if ep.Pin == "" {
		return nil, failure.Errorf(failure.StageTicket, failure.TicketUnavailable, "webticket: pool offers no pin binding")
	}
	entropy, err := c.entropy()
	if err != nil {
		return nil, failure.New(failure.StageTicket, failure.Internal, err)
	}
	username, password := pinCredentials(user, pin.Reveal(), c.Base64Credentials)
	body := BuildRST(RSTRequest{Context: c.uuid(), AppliesTo: ep.CertProvPort, ClientEntropy: entropy,
		Username: username, Password: password})
	return c.issue(ctx, c.httpClient(), ep.Pin, body, entropy, "", bindingPIN, nil)
}

// ByCertificate gets a proof-of-possession web ticket with the phone's
// current CertProv certificate over the WebTicketServiceCert binding
// ("OCS-signed certificate" client authentication, OCAUTHWS 3.2): the RST
// carries no UsernameToken and no claims, and the certificate is presented
// in the TLS handshake (guess.go, [G]), so c.HTTP must be configured
// to present it (tls.Config.GetClientCertificate). The ticket names the
// certificate's SIP URI.
//
// A pool that refuses the certificate (binding not offered, certificate
// authentication disabled, certificate revoked, unpublished or expired)
// yields failure.CredentialsNeeded: ask for the PIN. A pool that does not
// answer yields failure.TicketUnavailable.
func (c *Client) ByCertificate(ctx context.Context, ep Endpoints) (*Ticket, error) {
	if ep.Cert == "" {
		return nil, failure.Errorf(failure.StageTicket, failure.CredentialsNeeded, "webticket: pool offers no certificate binding")
	}
	entropy, err := c.entropy()
	if err != nil {
		return nil, failure.New(failure.StageTicket, failure.Internal, err)
	}
	body := BuildRST(RSTRequest{Context: c.uuid(), AppliesTo: ep.CertProvPort, ClientEntropy: entropy})
	return c.issue(ctx, c.httpClient(), ep.Cert, body, entropy, "", bindingCert, nil)
}

// Binding names for logs and error mapping.
const (
	bindingPIN          = "pin"
	bindingWinNegotiate = "winnegotiate"
	bindingCert         = "cert"
)

// ByPassword gets a web ticket for sipURI with a Windows login (DOMAIN\user)
// and password over the WebTicketServiceWinNegotiate binding: HTTP NTLM
// (NTLMv2), or Basic when the server offers only Basic (HTTPS only).
func (c *Client) ByPassword(ctx context.Context, ep Endpoints, sipURI, login string, password Secret) (*Ticket, error) {
	if ep.WinNegotiate == "" {
		return nil, failure.Errorf(failure.StageTicket, failure.TicketUnavailable, "webticket: pool offers no windows binding")
	}
	entropy, err := c.entropy()
	if err != nil {
		return nil, failure.New(failure.StageTicket, failure.Internal, err)
	}
	if !strings.HasPrefix(sipURI, "sip:") {
		sipURI = "sip:" + sipURI
	}
	body := BuildRST(RSTRequest{Context: c.uuid(), AppliesTo: ep.CertProvPort, ClientEntropy: entropy, ClaimURI: sipURI})
	base := c.httpClient()
	rt := base.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	hc := &http.Client{
		Transport: ntlmssp.Negotiator{RoundTripper: rt, AllowBasicAuth: strings.HasPrefix(ep.WinNegotiate, "https:")},
		Timeout:   base.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	auth := func(req *http.Request) { req.SetBasicAuth(login, password.Reveal()) }
	return c.issue(ctx, hc, ep.WinNegotiate, body, entropy, sipURI, bindingWinNegotiate, auth)
}

func (c *Client) issue(ctx context.Context, hc *http.Client, addr string, body, entropy []byte, wantURI string,
	binding string, auth func(*http.Request)) (*Ticket, error) {
	start := time.Now()
	status, hdr, resp, err := c.post(ctx, hc, addr, SOAPActionIssue, body, auth)
	if err != nil {
		return nil, failure.New(failure.StageTicket, failure.TicketUnavailable, err)
	}
	if err := classify(status, hdr, resp, binding == bindingPIN); err != nil {
		return nil, err
	}
	r, err := ParseRSTR(resp)
	if err != nil {
		return nil, failure.New(failure.StageTicket, failure.TicketUnavailable, err)
	}
	key, err := r.ProofKey(entropy)
	if err != nil {
		return nil, failure.New(failure.StageTicket, failure.TicketUnavailable, err)
	}
	if !strings.HasPrefix(r.NameID, "sip:") || !strings.Contains(r.NameID, "@") {
		return nil, failure.Errorf(failure.StageTicket, failure.TicketUnavailable,
			"webticket: ticket names no sip uri (%q)", r.NameID)
	}
	if wantURI != "" && !strings.EqualFold(r.NameID, wantURI) {
		return nil, failure.Errorf(failure.StageTicket, failure.TicketUnavailable,
			"webticket: ticket is for %q, asked for %q", r.NameID, wantURI)
	}
	t := &Ticket{Assertion: r.Assertion, AssertionID: r.AssertionID, SIPURI: r.NameID,
		Created: r.Created, Expires: r.Expires, ProofKey: key}
	c.logger().Info("web ticket obtained", "sip_uri", t.SIPURI, "binding", binding, "expires", t.Expires,
		"ms", float64(time.Since(start).Microseconds())/1000)
	return t, nil
}

// classify turns a non-200 answer or a SOAP fault into a *failure.Error
// (nil if the answer is a success).
func classify(status int, hdr http.Header, body []byte, pin bool) error {
	diag, hasDiag := ParseDiagnostics(hdr.Get("X-Ms-Diagnostics"))
	fault, hasFault := ParseFault(body)
	if status == http.StatusOK && !hasFault {
		return nil
	}
	id := 0
	if hasDiag {
		id = diag.ErrorID
	}
	if hasFault && fault.ErrorID != 0 {
		id = fault.ErrorID
	}
	cause := fmt.Errorf("webticket: http %d", status)
	if hasFault {
		cause = fmt.Errorf("webticket: http %d: fault %s: %s (error %d %s)", status, fault.Code, fault.String, fault.ErrorID, fault.Reason)
	} else if hasDiag {
		cause = fmt.Errorf("webticket: http %d: ms-diagnostics %d %s", status, diag.ErrorID, diag.Params["reason"])
	}
	switch {
	case id == DiagPINLocked:
		return failure.New(failure.StageTicket, failure.PINLocked, cause)
	case id == DiagCertAuthDisabled:
		return failure.New(failure.StageTicket, failure.CredentialsNeeded, cause)
	case id == DiagNoValidToken || status == http.StatusUnauthorized || status == http.StatusForbidden:
		if pin {
			return failure.New(failure.StageTicket, failure.PINInvalid, cause)
		}
		return failure.New(failure.StageTicket, failure.CredentialsNeeded, cause)
	}
	return failure.New(failure.StageTicket, failure.TicketUnavailable, cause)
}

func (c *Client) get(ctx context.Context, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, failure.New(failure.StageTicket, failure.TicketUnavailable, fmt.Errorf("webticket: get: %w", err))
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return nil, failure.New(failure.StageTicket, failure.TicketUnavailable, fmt.Errorf("webticket: get %s: %w", u, err))
	}
	defer resp.Body.Close()
	b, err := ReadLimited(resp.Body, c.maxBytes())
	if err != nil {
		return nil, failure.New(failure.StageTicket, failure.TicketUnavailable, fmt.Errorf("webticket: get %s: %w", u, err))
	}
	if resp.StatusCode != http.StatusOK {
		return nil, failure.Errorf(failure.StageTicket, failure.TicketUnavailable, "webticket: get %s: http %d", u, resp.StatusCode)
	}
	return b, nil
}

func (c *Client) post(ctx context.Context, hc *http.Client, u, action string, body []byte, auth func(*http.Request)) (int, http.Header, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, fmt.Errorf("webticket: post: %w", err)
	}
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	req.Header.Set("SOAPAction", `"`+action+`"`)
	if auth != nil {
		auth(req)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("webticket: post %s: %w", u, err)
	}
	defer resp.Body.Close()
	b, err := ReadLimited(resp.Body, c.maxBytes())
	if err != nil {
		return 0, nil, nil, fmt.Errorf("webticket: post %s: %w", u, err)
	}
	return resp.StatusCode, resp.Header, b, nil
}

// ErrTooLarge means a body exceeded the size limit.
var ErrTooLarge = errors.New("body too large")

// ReadLimited reads r to the end, failing with ErrTooLarge past max bytes.
func ReadLimited(r io.Reader, max int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%w (limit %d)", ErrTooLarge, max)
	}
	return b, nil
}
