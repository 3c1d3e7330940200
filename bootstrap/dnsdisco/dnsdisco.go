// Package dnsdisco finds the registrar in DNS the way a Lync Phone
// Edition-class phone does: SRV _sipinternaltls._tcp.<domain>, then
// _sip._tls.<domain>, then A records sipinternal, sip and sipexternal with
// the fixed ports 5061 and 443 (platform-notes.md §3.1), under the strict
// trust rule of LPE CU7 and later (§3.2): an SRV target outside the SIP
// domain is refused unless its domain is on the trusted list.
//
// SRV records are ordered per RFC 2782 (priority, then weighted random
// selection with an injectable random source).
//
// Resolver returns the *net.Resolver the rest of the agent uses for every
// later connect, so that one configured DNS server (ADDR:PORT) is used
// throughout.
package dnsdisco

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"

	"github.com/deskphone/deskphone/bootstrap/failure"
)

// Sentinel errors.
var (
	// ErrNotFound: the name does not exist (NXDOMAIN) or has no records of
	// the type asked for.
	ErrNotFound = errors.New("dnsdisco: not found")
	// ErrUntrusted: every SRV target lies outside the SIP domain.
	ErrUntrusted = errors.New("dnsdisco: target outside the sip domain")
)

// Resolver returns a resolver that sends every query to addr ("ADDR:PORT",
// UDP with TCP fallback), or the system resolver when addr is "".
func Resolver(addr string) *net.Resolver {
	if addr == "" {
		return net.DefaultResolver
	}
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
}

// Target is one registrar candidate.
type Target struct {
	Host string `json:"host"`
	Port int    `json:"port"`
	// Via names the record that produced it ("_sipinternaltls._tcp",
	// "sipinternal", ...).
	Via string `json:"via"`
}

// SRVServices are the SRV names tried, in order.
var SRVServices = []string{"_sipinternaltls._tcp", "_sip._tls"}

// AHosts are the A-record fallbacks, each tried with ports 5061 then 443.
var AHosts = []string{"sipinternal", "sip", "sipexternal"}

// AutodiscoverHosts are looked up for diagnostics only.
var AutodiscoverHosts = []string{"lyncdiscoverinternal", "lyncdiscover"}

// Config is one discovery run.
type Config struct {
	Domain         string
	TrustedDomains []string
	Resolver       *net.Resolver // nil = system
	Rand           *rand.Rand    // nil = random
}

// Result is what DNS said.
type Result struct {
	// Targets are the usable candidates in order.
	Targets []Target `json:"targets"`
	// Refused are SRV targets outside the SIP domain (no connection is
	// ever attempted to them).
	Refused []Target `json:"refused,omitempty"`
	// Autodiscover lists the lyncdiscover* names that exist.
	Autodiscover []string `json:"autodiscover,omitempty"`
	Warnings     []string `json:"warnings,omitempty"`
}

// Discover runs the SRV and A lookups concurrently and assembles the ordered
// candidates. Rule: when SRV records exist, Targets are their trusted targets
// followed by the A fallbacks; when SRV records exist but every target is
// outside the domain, discovery fails with UntrustedDomain (the A fallbacks
// are not used, so a hijacked or misconfigured SRV cannot be papered over).
// Errors are *failure.Error: UntrustedDomain, RegistrarNotFound (NXDOMAIN
// everywhere) or DNSFailed.
func Discover(ctx context.Context, cfg Config, logger *slog.Logger) (Result, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "dnsdisco")
	domain := strings.TrimSuffix(strings.ToLower(cfg.Domain), ".")
	if domain == "" {
		return Result{}, failure.New(failure.StageDiscover, failure.RegistrarNotFound, errors.New("dnsdisco: no sip domain"))
	}
	r := cfg.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	rnd := cfg.Rand
	if rnd == nil {
		rnd = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}

	type srvAns struct {
		recs []*net.SRV
		err  error
	}
	srv := make([]srvAns, len(SRVServices))
	aOK := make([]error, len(AHosts))
	auto := make([]error, len(AutodiscoverHosts))
	var wg sync.WaitGroup
	for i, s := range SRVServices {
		wg.Go(func() {
			_, recs, err := r.LookupSRV(ctx, "", "", s+"."+domain+".")
			srv[i] = srvAns{recs, classify(err)}
		})
	}
	for i, h := range AHosts {
		wg.Go(func() { aOK[i] = lookupA(ctx, r, h+"."+domain) })
	}
	for i, h := range AutodiscoverHosts {
		wg.Go(func() { auto[i] = lookupA(ctx, r, h+"."+domain) })
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}

	var res Result
	var hardErr error
	srvSeen := false
	for i, s := range SRVServices {
		a := srv[i]
		if a.err != nil {
			if !errors.Is(a.err, ErrNotFound) {
				hardErr = fmt.Errorf("dnsdisco: srv %s.%s: %w", s, domain, a.err)
			}
			continue
		}
		for _, rec := range OrderSRV(a.recs, rnd) {
			host := strings.TrimSuffix(rec.Target, ".")
			if host == "" {
				continue // "." = service decidedly not available (RFC 2782)
			}
			srvSeen = true
			t := Target{Host: host, Port: int(rec.Port), Via: s}
			if !Trusted(host, domain, cfg.TrustedDomains) {
				logger.Warn("srv target refused", "srv", s+"."+domain, "target", host, "domain", domain)
				res.Refused = append(res.Refused, t)
				continue
			}
			res.Targets = appendUnique(res.Targets, t)
		}
	}
	if srvSeen && len(res.Targets) == 0 {
		return res, failure.New(failure.StageDiscover, failure.UntrustedDomain,
			&UntrustedError{Host: res.Refused[0].Host, Domain: domain})
	}
	for i, h := range AHosts {
		if aOK[i] != nil {
			if !errors.Is(aOK[i], ErrNotFound) {
				hardErr = fmt.Errorf("dnsdisco: a %s.%s: %w", h, domain, aOK[i])
			}
			continue
		}
		for _, port := range []int{5061, 443} {
			res.Targets = appendUnique(res.Targets, Target{Host: h + "." + domain, Port: port, Via: h})
		}
	}
	for i, h := range AutodiscoverHosts {
		if auto[i] == nil {
			res.Autodiscover = append(res.Autodiscover, h+"."+domain)
		}
	}
	if len(res.Targets) == 0 {
		if hardErr != nil {
			return res, failure.New(failure.StageDiscover, failure.DNSFailed, hardErr)
		}
		return res, failure.New(failure.StageDiscover, failure.RegistrarNotFound,
			fmt.Errorf("%w: no sip srv or a records in %s", ErrNotFound, domain))
	}
	if hardErr != nil {
		res.Warnings = append(res.Warnings, hardErr.Error())
	}
	logger.Debug("dns discovery", "domain", domain, "targets", len(res.Targets), "refused", len(res.Refused))
	return res, nil
}

// UntrustedError names the refused target.
type UntrustedError struct {
	Host, Domain string
}

func (e *UntrustedError) Error() string {
	return fmt.Sprintf("dnsdisco: %s is outside sip domain %s and not on the trusted list", e.Host, e.Domain)
}

// Unwrap returns ErrUntrusted.
func (e *UntrustedError) Unwrap() error { return ErrUntrusted }

func appendUnique(ts []Target, t Target) []Target {
	for _, x := range ts {
		if strings.EqualFold(x.Host, t.Host) && x.Port == t.Port {
			return ts
		}
	}
	return append(ts, t)
}

func lookupA(ctx context.Context, r *net.Resolver, host string) error {
	ips, err := r.LookupNetIP(ctx, "ip4", host+".")
	if err != nil {
		return classify(err)
	}
	if len(ips) == 0 {
		return ErrNotFound
	}
	return nil
}

// classify maps NXDOMAIN / no data to ErrNotFound.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var de *net.DNSError
	if errors.As(err, &de) && de.IsNotFound {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return err
}

// InDomain reports whether host equals domain or is below it, matching on
// label boundaries and ignoring case and a trailing dot:
// pool.example.test is in example.test; evilexample.test is not.
func InDomain(host, domain string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	domain = strings.TrimSuffix(strings.ToLower(domain), ".")
	if host == "" || domain == "" {
		return false
	}
	return host == domain || strings.HasSuffix(host, "."+domain)
}

// Trusted reports whether host is inside domain or inside one of trusted.
func Trusted(host, domain string, trusted []string) bool {
	return InDomain(host, domain) || slices.ContainsFunc(trusted, func(d string) bool { return InDomain(host, d) })
}

// LookupSRV looks name up (absolute) and returns the targets in RFC 2782
// order. NXDOMAIN and empty answers return an error matching ErrNotFound.
func LookupSRV(ctx context.Context, r *net.Resolver, name string, rnd *rand.Rand) ([]Target, error) {
	if r == nil {
		r = net.DefaultResolver
	}
	if rnd == nil {
		rnd = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	name = strings.TrimSuffix(name, ".")
	_, recs, err := r.LookupSRV(ctx, "", "", name+".")
	if err = classify(err); err != nil {
		return nil, fmt.Errorf("dnsdisco: srv %s: %w", name, err)
	}
	var out []Target
	for _, rec := range OrderSRV(recs, rnd) {
		if h := strings.TrimSuffix(rec.Target, "."); h != "" {
			out = append(out, Target{Host: h, Port: int(rec.Port), Via: name})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("dnsdisco: srv %s: %w", name, ErrNotFound)
	}
	return out, nil
}

// OrderSRV returns recs in RFC 2782 order: ascending priority; within a
// priority, repeated weighted random selection where a record's chance is
// proportional to its weight (zero-weight records are placed first and can
// only win when the random draw is 0). The input is not modified.
func OrderSRV(recs []*net.SRV, rnd *rand.Rand) []*net.SRV {
	byPrio := slices.Clone(recs)
	slices.SortStableFunc(byPrio, func(a, b *net.SRV) int { return int(a.Priority) - int(b.Priority) })
	out := make([]*net.SRV, 0, len(recs))
	for i := 0; i < len(byPrio); {
		j := i
		for j < len(byPrio) && byPrio[j].Priority == byPrio[i].Priority {
			j++
		}
		group := slices.Clone(byPrio[i:j])
		slices.SortStableFunc(group, func(a, b *net.SRV) int { // zero weights first
			return boolInt(a.Weight != 0) - boolInt(b.Weight != 0)
		})
		for len(group) > 0 {
			total := 0
			for _, g := range group {
				total += int(g.Weight)
			}
			n := rnd.IntN(total + 1)
			sum := 0
			k := 0
			for k = range group {
				sum += int(group[k].Weight)
				if sum >= n {
					break
				}
			}
			out = append(out, group[k])
			group = slices.Delete(group, k, k+1)
		}
		i = j
	}
	return out
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
