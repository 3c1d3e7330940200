package discover

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/deskphone/deskphone/bootstrap/dhcp"
	"github.com/deskphone/deskphone/bootstrap/dhcp/msuc"
	"github.com/deskphone/deskphone/bootstrap/dnsdisco"
	"github.com/deskphone/deskphone/bootstrap/failure"
)

// SIPPort is the registrar port used for DHCP option 120 names.
const SIPPort = 5061

// Sources (Result.Source).
const (
	SourceDHCP   = "dhcp"
	SourceDNS    = "dns"
	SourceCache  = "cache"
	SourceConfig = "config"
)

// DHCPConfig says how to send the DHCPINFORM.
type DHCPConfig struct {
	// Mode is "off", "broadcast", "unicast" or "lease+inform" ("" = off).
	Mode string
	// Iface is the interface for broadcast and lease+inform.
	Iface string
	// Server is "ADDR:PORT" for unicast.
	Server string
	// Timeout per attempt and Retries after the first (see dhcp.Config).
	Timeout time.Duration
	Retries int
	// Conn, when set, carries the exchange (simulators, tests).
	Conn net.PacketConn
	// HWAddr overrides chaddr.
	HWAddr net.HardwareAddr
}

// Config is one discovery.
type Config struct {
	// SIPDomain is the configured SIP domain ("" = learn it from DHCP
	// option 15/119, else the registrar's parent domain).
	SIPDomain string
	// TrustedDomains may hold SRV targets outside the SIP domain.
	TrustedDomains []string
	// DNS is the DNS server "ADDR:PORT" ("" = system).
	DNS  string
	DHCP DHCPConfig
	// Registrar is a static override (Source "config"): no DNS lookup.
	Registrar *Endpoint
	// CertProvURL is a static override of the CertProv URL.
	CertProvURL string
	// Cached is the last good registrar from flash; it goes first.
	Cached *Endpoint
	// Rand drives SRV weighting and DHCP jitter (optional).
	Rand *rand.Rand
}

// Discoverer runs the discover stage.
type Discoverer struct {
	cfg    Config
	logger *slog.Logger
}

// New returns a Discoverer.
func New(cfg Config, logger *slog.Logger) *Discoverer {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Discoverer{cfg: cfg, logger: logger.With("component", "discover")}
}

// Discover finds the registrar candidates and the CertProv URL.
//
// Order (platform-notes.md §3.1): the DHCPINFORM and the DNS SRV/A lookups
// run concurrently when the SIP domain is known (otherwise DNS waits for
// DHCP option 15/119). The first DHCP answer carrying an FQDN (option 120)
// wins and the DNS lookups are cancelled; DNS is used only when DHCP gives
// no FQDN. A cached registrar goes first; a static Registrar replaces
// DHCP/DNS candidates (DHCP still runs for options 42/43/15).
//
// CertProv URL rule: the static override, else option 43
// (<scheme>://<sub 3>:<sub 4 or 443><sub 5>), else — option 43 absent —
// https://<registrar FQDN>:443/CertProv/CertProvisioningService.svc with the
// registrar being Candidates[0] (on a Lync pool the internal web services
// and the registrar share the pool FQDN). A truncated option 43 is fatal
// (E202) unless the URL is overridden: the admin's DHCP is broken.
//
// Errors are *failure.Error; the Result returned with an error holds what
// was learned (for diag).
func (d *Discoverer) Discover(ctx context.Context) (Result, error) {
	cfg := d.cfg
	start := time.Now()
	res := Result{SIPDomain: normDomain(cfg.SIPDomain), NTPServers: []string{}}
	resolver := dnsdisco.Resolver(cfg.DNS)
	needDNS := cfg.Registrar == nil
	dhcpOn := cfg.DHCP.Mode != "" && cfg.DHCP.Mode != string(dhcp.ModeOff)

	var (
		dres    *dhcp.Result
		dhcpErr error
		nres    dnsdisco.Result
		dnsErr  error
		dnsRan  bool
	)
	// *rand.Rand is not safe for concurrent use: DHCP and DNS get their own.
	var dhcpRand, dnsRand *rand.Rand
	if cfg.Rand != nil {
		dhcpRand = rand.New(rand.NewPCG(cfg.Rand.Uint64(), cfg.Rand.Uint64()))
		dnsRand = rand.New(rand.NewPCG(cfg.Rand.Uint64(), cfg.Rand.Uint64()))
	}
	runDNS := func(ctx context.Context, domain string) (dnsdisco.Result, error) {
		return dnsdisco.Discover(ctx, dnsdisco.Config{Domain: domain, TrustedDomains: cfg.TrustedDomains,
			Resolver: resolver, Rand: dnsRand}, d.logger)
	}

	switch {
	case dhcpOn && needDNS && res.SIPDomain != "":
		dnsCtx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Go(func() { nres, dnsErr = runDNS(dnsCtx, res.SIPDomain) })
		dres, dhcpErr = d.inform(ctx, dhcpRand)
		if hasFQDN(dres) {
			// The first DHCP answer with an FQDN wins the first place; DNS,
			// if it answers soon, still gives that host's SRV port and the
			// backup registrars.
			t := time.AfterFunc(dnsGrace, cancel)
			wg.Wait()
			t.Stop()
		} else {
			wg.Wait()
		}
		cancel()
		dnsRan = true
	case dhcpOn:
		dres, dhcpErr = d.inform(ctx, dhcpRand)
		if dom := domainHint(res.SIPDomain, dres); needDNS && dom != "" {
			dctx := ctx
			if hasFQDN(dres) {
				var cancel context.CancelFunc
				dctx, cancel = context.WithTimeout(ctx, dnsGrace)
				defer cancel()
			}
			nres, dnsErr = runDNS(dctx, dom)
			dnsRan = true
		}
	case needDNS && res.SIPDomain != "":
		nres, dnsErr = runDNS(ctx, res.SIPDomain)
		dnsRan = true
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}

	// Candidates.
	var cands []Endpoint
	add := func(e Endpoint, src string) {
		e.Host = strings.TrimSuffix(strings.ToLower(e.Host), ".")
		if e.Host == "" || e.Port <= 0 {
			return
		}
		for _, c := range cands {
			if c == e {
				return
			}
		}
		if len(cands) == 0 {
			res.Source = src
		}
		cands = append(cands, e)
	}
	if cfg.Cached != nil {
		add(*cfg.Cached, SourceCache)
	}
	var opt43Err error
	if dres != nil {
		res.DHCPServer = dres.Server
		res.TimeOffsetSeconds = dres.TimeOffset
		for _, ip := range dres.NTPServers {
			res.NTPServers = append(res.NTPServers, ip.String())
		}
		if dres.MSUC != nil {
			res.WebFQDN = strings.ToLower(dres.MSUC.WebFQDN)
		}
		switch {
		case dres.Opt43Err != nil:
			opt43Err = dres.Opt43Err
			res.Warnings = append(res.Warnings, "dhcp option 43: "+dres.Opt43Err.Error())
		case dres.MSUC == nil:
			res.Warnings = append(res.Warnings, "dhcp option 43 absent: certprov url derived from the registrar")
		}
		if dres.Opt120Err != nil {
			res.Warnings = append(res.Warnings, "dhcp option 120: "+dres.Opt120Err.Error())
		}
		if s := dres.SIPServers; s != nil && s.Encoding == msuc.EncodingIPv4 {
			res.Warnings = append(res.Warnings, "dhcp option 120 carried ipv4 addresses; tls needs a name, ignored")
		}
	}
	if cfg.Registrar != nil {
		add(*cfg.Registrar, SourceConfig)
	} else {
		if dres != nil && dres.SIPServers != nil {
			for _, n := range dres.SIPServers.Names {
				add(Endpoint{Host: n, Port: srvPort(nres, n)}, SourceDHCP)
			}
		}
		// DNS targets follow as backups (or lead when DHCP had no FQDN).
		for _, t := range nres.Targets {
			add(Endpoint{Host: t.Host, Port: t.Port}, SourceDNS)
		}
	}
	for _, t := range nres.Refused {
		res.Refused = append(res.Refused, Endpoint{Host: t.Host, Port: t.Port})
	}
	res.Autodiscover = nres.Autodiscover
	res.Warnings = append(res.Warnings, nres.Warnings...)
	if dhcpErr != nil && len(cands) > 0 {
		res.Warnings = append(res.Warnings, "dhcp: "+dhcpErr.Error())
	}
	if dnsErr != nil && len(cands) > 0 {
		res.Warnings = append(res.Warnings, "dns: "+dnsErr.Error())
	}
	res.Candidates = cands
	if len(cands) > 0 {
		res.Registrar = cands[0]
	}

	// SIP domain: config, option 15, option 119, registrar's parent.
	if res.SIPDomain == "" {
		res.SIPDomain = domainHint("", dres)
	}
	if res.SIPDomain == "" && res.Registrar.Host != "" {
		if _, parent, ok := strings.Cut(res.Registrar.Host, "."); ok && strings.Contains(parent, ".") {
			res.SIPDomain = parent
		}
	}

	// CertProv URL.
	switch {
	case cfg.CertProvURL != "":
		res.CertProvURL = cfg.CertProvURL
	case opt43Err == nil && dres != nil && dres.MSUC != nil && dres.MSUC.URL() != "":
		res.CertProvURL = dres.MSUC.URL()
	case opt43Err == nil && res.Registrar.Host != "":
		res.CertProvURL = (msuc.Info{WebFQDN: res.Registrar.Host}).URL()
		if res.WebFQDN == "" {
			res.WebFQDN = res.Registrar.Host
		}
	}

	// Verdict.
	var err error
	switch {
	case opt43Err != nil && cfg.CertProvURL == "":
		err = failure.New(failure.StageDiscover, failure.Opt43Truncated, fmt.Errorf("discover: dhcp option 43 from %s: %w", res.DHCPServer, opt43Err))
	case len(cands) > 0:
	case dnsRan && dnsErr != nil:
		err = dnsErr
	case dres != nil && (dres.Opt120Err != nil || (dres.SIPServers != nil && len(dres.SIPServers.Names) == 0)):
		cause := dres.Opt120Err
		if cause == nil {
			cause = errors.New("discover: dhcp option 120 holds ipv4 addresses only")
		}
		err = failure.New(failure.StageDiscover, failure.Opt120Invalid, cause)
	case dhcpErr != nil:
		err = dhcpErr
	default:
		err = failure.New(failure.StageDiscover, failure.RegistrarNotFound,
			errors.New("discover: no registrar from dhcp, dns or config"))
	}
	if err != nil {
		d.logger.Error("discovery failed", "code", failure.CodeOf(err), "err", err, "ms", msSince(start))
		return res, err
	}
	d.logger.Info("discovered", "source", res.Source, "registrar", res.Registrar.Host, "port", res.Registrar.Port,
		"candidates", len(res.Candidates), "certprov_url", res.CertProvURL, "ms", msSince(start))
	return res, nil
}

func (d *Discoverer) inform(ctx context.Context, rnd *rand.Rand) (*dhcp.Result, error) {
	c := d.cfg.DHCP
	r, err := dhcp.Inform(ctx, dhcp.Config{Mode: dhcp.Mode(c.Mode), Iface: c.Iface, Server: c.Server, Conn: c.Conn,
		HWAddr: c.HWAddr, Timeout: c.Timeout, Retries: c.Retries, Rand: rnd}, d.logger)
	if err != nil {
		return nil, err
	}
	return r, nil
}

// dnsGrace bounds how long discovery waits for DNS once DHCP has named the
// registrar: DNS then only adds the SRV port and backups.
const dnsGrace = 2 * time.Second

// srvPort is the port of an SRV target for host (option 120 carries only a
// name; an SRV record for the same host gives its port), else SIPPort.
func srvPort(nres dnsdisco.Result, host string) int {
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	for _, t := range nres.Targets {
		if strings.TrimSuffix(strings.ToLower(t.Host), ".") == h && t.Port > 0 && strings.HasPrefix(t.Via, "_") {
			return t.Port
		}
	}
	return SIPPort
}

func hasFQDN(r *dhcp.Result) bool {
	return r != nil && r.SIPServers != nil && len(r.SIPServers.Names) > 0
}

// domainHint is domain, else DHCP option 15, else the first option 119 entry.
func domainHint(domain string, r *dhcp.Result) string {
	if domain != "" || r == nil {
		return domain
	}
	if d := normDomain(r.DomainName); d != "" {
		return d
	}
	if len(r.DomainSearch) > 0 {
		return normDomain(r.DomainSearch[0])
	}
	return ""
}

func normDomain(s string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), ".")
}

func msSince(t time.Time) float64 { return float64(time.Since(t).Microseconds()) / 1000 }
