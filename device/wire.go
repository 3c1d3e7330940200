package device

import (
	"context"
	"crypto"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/deskphone/deskphone/bootstrap/certprov"
	"github.com/deskphone/deskphone/bootstrap/discover"
	"github.com/deskphone/deskphone/bootstrap/dnsdisco"
	"github.com/deskphone/deskphone/bootstrap/failure"
	"github.com/deskphone/deskphone/bootstrap/ntp"
	"github.com/deskphone/deskphone/bootstrap/renew"
	"github.com/deskphone/deskphone/bootstrap/webticket"
	"github.com/deskphone/deskphone/certstore"
)

// DefaultKeygen generates the enrolment key: RSA-2048, e=65537.
func DefaultKeygen() (crypto.Signer, error) { return certprov.GenerateKey() }

// defaultStages wires the bootstrap packages to the agent. Each stage reads
// the effective configuration when it runs, so a tether `config set` or
// in-band provisioning applies on the next attempt without a restart.
func (a *Agent) defaultStages() Stages {
	return Stages{
		Discover: discoverStage{a},
		Time:     timeStage{a},
		Chain:    chainStage{a},
		Enroll:   enrollStage{a},
		Register: registerStage{a},
		Renew:    renewStage{a},
	}
}

// resolver returns the resolver for every name the phone looks up.
func (a *Agent) resolver() *net.Resolver {
	return dnsdisco.Resolver(a.Config().DNS)
}

func (a *Agent) dialer() *net.Dialer {
	return &net.Dialer{Resolver: a.resolver(), Timeout: 10 * time.Second}
}

// httpsClient returns an HTTP client whose TLS trusts exactly t, with
// hostname verification and SNI for every host it dials.
func (a *Agent) httpsClient(t *certstore.Trust) *http.Client {
	d := a.dialer()
	tr := &http.Transport{
		DialContext: d.DialContext,
		DialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			raw, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			c := tls.Client(raw, t.TLSConfig(host, a.b.Clock.Now))
			if err := c.HandshakeContext(ctx); err != nil {
				raw.Close()
				return nil, err
			}
			return c, nil
		},
		ForceAttemptHTTP2:   false,
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     30 * time.Second,
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

type discoverStage struct{ a *Agent }

func (s discoverStage) Discover(ctx context.Context, cached *discover.Endpoint) (discover.Result, error) {
	c := s.a.Config()
	cfg := discover.Config{
		SIPDomain: c.SIPDomain, TrustedDomains: c.TrustedDomains, DNS: c.DNS,
		DHCP:        discover.DHCPConfig{Mode: c.DHCPMode, Iface: c.DHCPIface, Server: c.DHCPServer},
		CertProvURL: c.CertProvURL, Cached: cached,
	}
	if c.Registrar != "" {
		ep, err := splitEndpoint(c.Registrar, 5061)
		if err != nil {
			return discover.Result{}, failure.New(failure.StageDiscover, failure.RegistrarNotFound, err)
		}
		cfg.Registrar = &ep
	}
	return discover.New(cfg, s.a.opts.Logger).Discover(ctx)
}

type timeStage struct{ a *Agent }

func (s timeStage) Sync(ctx context.Context, d discover.Result) (ntp.Result, error) {
	c := s.a.Config()
	servers := append(append([]string(nil), c.NTPServers...), d.NTPServers...)
	r := s.a.resolver()
	syncer := ntp.NewSyncer(ntp.Config{Servers: servers, SIPDomain: d.SIPDomain, Resolver: r, Fallback: c.NTPFallback},
		s.a.b.Clock, ntp.NewQuerier(r, s.a.b.Clock.Now), s.a.opts.Logger)
	return syncer.Sync(ctx)
}

// chainURL is the anonymous HTTP chain download of the pool that serves
// certProvURL (signin-protocols.md §8.3; CAHandlerInternalAnonUri).
func chainURL(certProvURL string, httpPort int) (string, string, error) {
	u, err := url.Parse(certProvURL)
	if err != nil || u.Hostname() == "" {
		return "", "", fmt.Errorf("bad CertProv URL %q", certProvURL)
	}
	host := u.Hostname()
	if httpPort != 80 {
		host = net.JoinHostPort(host, strconv.Itoa(httpPort))
	}
	path := strings.TrimSuffix(u.Path, "/")
	if path == "" {
		path = "/CertProv/CertProvisioningService.svc"
	}
	return "http://" + host + path + "/chain", u.String(), nil
}

func splitEndpoint(s string, defPort int) (discover.Endpoint, error) {
	if !strings.Contains(s, ":") {
		return discover.Endpoint{Host: s, Port: defPort}, nil
	}
	ep, ok := parseEndpoint(s)
	if !ok {
		return discover.Endpoint{}, fmt.Errorf("bad endpoint %q", s)
	}
	return ep, nil
}

type enrollStage struct{ a *Agent }

func (s enrollStage) Enroll(ctx context.Context, req EnrollRequest) (*Enrollment, error) {
	a := s.a
	hc := a.httpsClient(req.Trust)
	defer hc.CloseIdleConnections()
	wt := &webticket.Client{HTTP: hc, Logger: a.opts.Logger, Base64Credentials: a.Config().PINEncoding == "base64"}
	start := time.Now()
	ep, err := wt.Discover(ctx, req.Discovery.CertProvURL)
	if err != nil {
		return nil, err
	}
	ticket, err := wt.ByPIN(ctx, ep, req.User, webticket.Secret(req.PIN.Reveal()))
	if err != nil {
		return nil, err
	}
	tWT := time.Since(start)
	key, err := req.Key(ctx)
	if err != nil {
		return nil, err
	}
	start = time.Now()
	csr, err := certprov.BuildCSR(key, ticket.SIPURI)
	if err != nil {
		return nil, failure.New(failure.StageCert, failure.Internal, err)
	}
	cp := &certprov.Client{HTTP: hc, Logger: a.opts.Logger, Now: a.b.Clock.Now}
	iss, err := cp.GetAndPublishCert(ctx, ep.CertProvPort, ticket, csr, req.DeviceID)
	if err != nil {
		return nil, err
	}
	pool := req.Discovery.WebFQDN
	return &Enrollment{Cert: iss.Cert, Chain: iss.Chain, SIPURI: ticket.SIPURI, Pool: pool,
		Phases: []Phase{{Name: "webticket", MS: ms(tWT)}, {Name: "certprov", MS: ms(time.Since(start))}}}, nil
}

type renewStage struct{ a *Agent }

func (s renewStage) Renew(ctx context.Context, req RenewRequest) (*Enrollment, error) {
	a := s.a
	url := a.Config().CertProvURL
	if url == "" {
		url = req.Discovery.CertProvURL
	}
	start := time.Now()
	iss, err := renew.Renew(ctx, renew.Config{
		CertProvURL: url, Trust: req.Trust, Current: req.Record.TLSCertificate(),
		SIPURI: req.Record.SIPURI, DeviceID: req.Record.DeviceID, NewKey: req.NewKey,
		Dial: a.dialer().DialContext, Now: a.b.Clock.Now, Logger: a.opts.Logger,
	})
	if err != nil {
		return nil, err
	}
	return &Enrollment{Cert: iss.Cert, Chain: iss.Chain, SIPURI: req.Record.SIPURI, Pool: req.Record.Pool,
		Phases: []Phase{{Name: "renew", MS: ms(time.Since(start))}}}, nil
}
