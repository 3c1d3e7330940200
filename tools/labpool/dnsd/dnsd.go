// Package dnsd is labpool's authoritative DNS server (miekg/dns) for the pool
// domain. The zone holds what a Lync Phone Edition-class phone looks up
// (platform-notes.md §2, §3.1):
//
//	pool.<domain>                  A    PoolIP
//	sip, sipinternal,
//	lyncdiscoverinternal.<domain>  A    PoolIP
//	_sipinternaltls._tcp.<domain>  SRV  0 0 SIPPort pool.<domain>
//	_sip._tls.<domain>             SRV  0 0 SIPPort pool.<domain>
//	_ntp._udp.<domain>             SRV  0 0 NTPPort pool.<domain>
//
// Other names in the zone get NXDOMAIN, names outside it REFUSED. Fault
// srv-cross-domain points the two SIP SRV records to pool.other.test (which
// has an A record too, so only the phone's trust rule stops it).
package dnsd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"

	"github.com/miekg/dns"

	"github.com/deskphone/deskphone/tools/labpool/faults"
)

// CrossDomainHost is the SRV target used by fault srv-cross-domain.
const CrossDomainHost = "pool.other.test"

// Config describes the zone.
type Config struct {
	Domain  string // default "example.test"
	PoolIP  net.IP // default 127.0.0.1
	SIPPort int    // default 5061
	NTPPort int    // default 123
	TTL     uint32 // default 60
	Faults  *faults.Set
}

// Server answers for one zone.
type Server struct {
	cfg    Config
	zone   string // fqdn with trailing dot
	logger *slog.Logger
}

// New returns a server for cfg.
func New(cfg Config, logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Domain == "" {
		cfg.Domain = "example.test"
	}
	if cfg.PoolIP == nil {
		cfg.PoolIP = net.IPv4(127, 0, 0, 1)
	}
	if cfg.SIPPort == 0 {
		cfg.SIPPort = 5061
	}
	if cfg.NTPPort == 0 {
		cfg.NTPPort = 123
	}
	if cfg.TTL == 0 {
		cfg.TTL = 60
	}
	return &Server{cfg: cfg, zone: dns.Fqdn(strings.ToLower(cfg.Domain)), logger: logger.With("component", "dnsd")}
}

// Serve answers on udp and tcp (either may be nil) until ctx is done. The
// server takes ownership of both and closes them on return.
func (s *Server) Serve(ctx context.Context, udp net.PacketConn, tcp net.Listener) error {
	var srvs []*dns.Server
	if udp != nil {
		srvs = append(srvs, &dns.Server{PacketConn: udp, Handler: s})
	}
	if tcp != nil {
		srvs = append(srvs, &dns.Server{Listener: tcp, Handler: s})
	}
	if len(srvs) == 0 {
		return errors.New("dnsd: no listener")
	}
	errc := make(chan error, len(srvs))
	started := make([]chan struct{}, len(srvs))
	for i, srv := range srvs {
		started[i] = make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started[i]) }
		go func() { errc <- srv.ActivateAndServe() }()
	}
	var first error
	running := len(srvs)
	select {
	case <-ctx.Done():
	case err := <-errc:
		running--
		first = fmt.Errorf("dnsd: serve: %w", err)
	}
	for i, srv := range srvs {
		select {
		case <-started[i]:
			_ = srv.Shutdown()
		default: // never started: it failed, its error is (or will be) in errc
		}
	}
	for range running {
		<-errc
	}
	return first
}

// ServeDNS implements dns.Handler.
func (s *Server) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	_ = w.WriteMsg(s.Answer(req))
}

// Answer builds the response to req (exported for tests and in-memory use).
func (s *Server) Answer(req *dns.Msg) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(req)
	if len(req.Question) != 1 || req.Opcode != dns.OpcodeQuery {
		m.Rcode = dns.RcodeNotImplemented
		return m
	}
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	cross := s.cfg.Faults.Has(faults.SRVCrossDomain)
	crossName := dns.Fqdn(CrossDomainHost)
	inZone := dns.IsSubDomain(s.zone, name)
	if !inZone && !(cross && name == crossName) {
		m.Rcode = dns.RcodeRefused
		s.logger.Debug("refused", "name", name)
		return m
	}
	m.Authoritative = true
	rrs, exists := s.records(name, cross)
	for _, rr := range rrs {
		if rr.Header().Rrtype == q.Qtype || q.Qtype == dns.TypeANY {
			m.Answer = append(m.Answer, rr)
		}
	}
	if !exists {
		m.Rcode = dns.RcodeNameError
	}
	if len(m.Answer) == 0 && inZone {
		m.Ns = append(m.Ns, s.soa())
	}
	s.logger.Debug("query", "name", name, "type", dns.TypeToString[q.Qtype], "answers", len(m.Answer), "rcode", dns.RcodeToString[m.Rcode])
	return m
}

// records returns the RRs at name and whether the name exists.
func (s *Server) records(name string, cross bool) ([]dns.RR, bool) {
	hdr := func(t uint16) dns.RR_Header {
		return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: s.cfg.TTL}
	}
	pool := "pool." + s.zone
	a := func() []dns.RR { return []dns.RR{&dns.A{Hdr: hdr(dns.TypeA), A: s.cfg.PoolIP.To4()}} }
	srv := func(target string, port int) []dns.RR {
		return []dns.RR{&dns.SRV{Hdr: hdr(dns.TypeSRV), Priority: 0, Weight: 0, Port: uint16(port), Target: target}}
	}
	sipTarget := pool
	if cross {
		sipTarget = dns.Fqdn(CrossDomainHost)
	}
	switch name {
	case s.zone:
		return []dns.RR{s.soa()}, true
	case pool, "sip." + s.zone, "sipinternal." + s.zone, "lyncdiscoverinternal." + s.zone:
		return a(), true
	case dns.Fqdn(CrossDomainHost):
		return a(), cross
	case "_sipinternaltls._tcp." + s.zone, "_sip._tls." + s.zone:
		return srv(sipTarget, s.cfg.SIPPort), true
	case "_ntp._udp." + s.zone:
		return srv(pool, s.cfg.NTPPort), true
	}
	// Empty non-terminals (_tcp.<zone>, _tls.<zone>, _udp.<zone>) exist.
	for _, n := range []string{"_tcp.", "_tls.", "_udp."} {
		if name == n+s.zone {
			return nil, true
		}
	}
	return nil, false
}

func (s *Server) soa() dns.RR {
	return &dns.SOA{
		Hdr:     dns.RR_Header{Name: s.zone, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: s.cfg.TTL},
		Ns:      "pool." + s.zone,
		Mbox:    "hostmaster." + s.zone,
		Serial:  1,
		Refresh: 3600, Retry: 600, Expire: 86400, Minttl: s.cfg.TTL,
	}
}
