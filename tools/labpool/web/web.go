// Package web is labpool's web services: the anonymous root-chain download
// over plain HTTP, and over HTTPS the CertProv and WebTicket metadata (mex),
// the WebTicket PIN and Windows (HTTP NTLM / Basic) bindings, and CertProv
// GetAndPublishCert, which verifies the web ticket's proof signature and
// issues and publishes the user certificate.
//
// Addresses (the [G] ones are this pool's own choice, advertised in mex):
//
//	GET  http://<fqdn>/CertProv/CertProvisioningService.svc/chain        certs-only PKCS#7 (§8.3)
//	GET  https://<fqdn>/CertProv/CertProvisioningService.svc/mex
//	POST https://<fqdn>/CertProv/CertProvisioningService.svc/WebTicket_Proof_SHA1   [G]
//	GET  https://<fqdn>/WebTicket/WebTicketService.svc/mex
//	POST https://<fqdn>/WebTicket/WebTicketService.svc                   WinNegotiate (NTLM, Basic)
//	POST https://<fqdn>/WebTicket/WebTicketService.svc/pin               WebTicketServicePin [G]
//	POST https://<fqdn>/WebTicket/WebTicketService.svc/cert              WebTicketServiceCert [G]
//
// The HTTPS listener requests, but does not require, a TLS client
// certificate; only the WebTicketServiceCert binding looks at it. There the
// certificate must chain to the pool's client CA, be current, and be
// published and unrevoked for the SIP URI its CN names (renewal without the
// PIN; the fault cert-auth-disabled refuses the binding).
//
// Absolute addresses in mex are built from the request's Host header, as
// WCF does, so that the pool works on whatever port it listens.
package web

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/deskphone/deskphone/tools/labpool/directory"
	"github.com/deskphone/deskphone/tools/labpool/faults"
	"github.com/deskphone/deskphone/tools/labpool/pki"
)

// Paths served.
const (
	CertProvPath  = "/CertProv/CertProvisioningService.svc"
	ChainPath     = CertProvPath + "/chain"
	CertProvPort  = CertProvPath + "/WebTicket_Proof_SHA1" // [G]
	WebTicketPath = "/WebTicket/WebTicketService.svc"
	PinPath       = WebTicketPath + "/pin"  // [G]
	CertPath      = WebTicketPath + "/cert" // [G]
)

// Defaults.
const (
	DefaultTicketLifetime = 8 * time.Hour
	DefaultCertValidity   = 4320 * time.Hour
	maxRequestBytes       = 256 << 10
)

// Config configures the web services.
type Config struct {
	// Domain is the SIP domain; FQDN the pool name (default pool.<Domain>).
	Domain, FQDN string
	CA           *pki.CA
	Dir          *directory.Directory
	// HTTPSPort, if set, is the port advertised in absolute addresses when a
	// request's Host header carries none (0 or 443: no port).
	HTTPSPort int
	// Faults may be nil (no faults); it may change at run time.
	Faults *faults.Set
	// Now is the clock (time.Now if nil).
	Now func() time.Time
	// TicketLifetime and CertValidity default to DefaultTicketLifetime and
	// DefaultCertValidity.
	TicketLifetime, CertValidity time.Duration
	// WinAuth lists the HTTP schemes offered on the WinNegotiate binding, in
	// order: "NTLM", "Basic" (default both). Negotiate is never offered:
	// the pool has no KDC (platform-notes.md §5.3).
	WinAuth []string
}

// Server serves the web services. Create it with New.
type Server struct {
	cfg    Config
	logger *slog.Logger

	mu      sync.Mutex
	tickets map[string]*issuedTicket // by AssertionID
	ntlm    map[string]*ntlmState    // by remote address (one TCP connection)
}

// New checks cfg and returns a Server.
func New(cfg Config, logger *slog.Logger) (*Server, error) {
	if cfg.CA == nil || cfg.Dir == nil {
		return nil, errors.New("web: new: CA and Dir are required")
	}
	if cfg.Domain == "" {
		return nil, errors.New("web: new: empty domain")
	}
	if cfg.FQDN == "" {
		cfg.FQDN = "pool." + cfg.Domain
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.TicketLifetime <= 0 {
		cfg.TicketLifetime = DefaultTicketLifetime
	}
	if cfg.CertValidity <= 0 {
		cfg.CertValidity = DefaultCertValidity
	}
	if len(cfg.WinAuth) == 0 {
		cfg.WinAuth = []string{"NTLM", "Basic"}
	}
	for _, s := range cfg.WinAuth {
		if s != "NTLM" && s != "Basic" {
			return nil, fmt.Errorf("web: new: unsupported auth scheme %q", s)
		}
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Server{cfg: cfg, logger: logger.With("component", "web"),
		tickets: map[string]*issuedTicket{}, ntlm: map[string]*ntlmState{}}, nil
}

// TLSConfig returns the HTTPS server configuration. Its certificate is
// chosen per handshake: the untrusted one while chain-untrusted is on. It
// requests a client certificate (naming the client CA) without requiring or
// verifying one, so that clients without a certificate keep working; the
// WebTicketServiceCert binding verifies it (crypto/tls has already checked
// the client's proof of its key).
func (s *Server) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"http/1.1"},
		ClientAuth: tls.RequestClientCert,
		ClientCAs:  s.cfg.CA.ClientCAPool(),
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			if s.cfg.Faults.Has(faults.ChainUntrusted) {
				c := s.cfg.CA.UntrustedServerCertificate()
				return &c, nil
			}
			c := s.cfg.CA.ServerCertificate()
			return &c, nil
		},
	}
}

// HTTPHandler serves plain HTTP: the anonymous chain download.
func (s *Server) HTTPHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+ChainPath, s.serveChain)
	return mux
}

// HTTPSHandler serves the metadata, web ticket and CertProv endpoints (and
// the chain, as on HTTP).
func (s *Server) HTTPSHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+ChainPath, s.serveChain)
	mux.HandleFunc("GET "+CertProvPath+"/mex", s.serveCertProvMex)
	mux.HandleFunc("POST "+CertProvPort, s.serveGetAndPublishCert)
	mux.HandleFunc("GET "+WebTicketPath+"/mex", s.webticket(s.serveWebTicketMex))
	mux.HandleFunc("POST "+PinPath, s.webticket(s.servePIN))
	mux.HandleFunc("POST "+CertPath, s.webticket(s.serveCert))
	mux.HandleFunc("POST "+WebTicketPath, s.webticket(s.serveWinNegotiate))
	return mux
}

// webticket applies the webticket-down and slow:webticket faults.
func (s *Server) webticket(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.delay(r.Context(), "webticket") {
			return
		}
		if s.cfg.Faults.Has(faults.WebticketDown) {
			s.logger.Debug("fault webticket-down", "path", r.URL.Path)
			http.Error(w, "Service Unavailable", http.StatusServiceUnavailable)
			return
		}
		h(w, r)
	}
}

// delay waits for the slow:STAGE fault; false if the request went away.
func (s *Server) delay(ctx context.Context, stage string) bool {
	d := s.cfg.Faults.Slow(stage)
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// baseURL is the HTTPS origin the client used (the Host header, as WCF
// builds its metadata addresses).
func (s *Server) baseURL(r *http.Request) string {
	host := r.Host
	if host == "" {
		host = s.cfg.FQDN
	}
	if _, _, err := net.SplitHostPort(host); err != nil && s.cfg.HTTPSPort != 0 && s.cfg.HTTPSPort != 443 {
		host = net.JoinHostPort(strings.Trim(host, "[]"), strconv.Itoa(s.cfg.HTTPSPort))
	}
	return "https://" + host
}
