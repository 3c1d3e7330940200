package dnsd

import (
	"net"
	"testing"

	"github.com/miekg/dns"

	"github.com/deskphone/deskphone/tools/labpool/faults"
)

func TestAnswer(t *testing.T) {
	cross, _ := faults.Parse([]string{faults.SRVCrossDomain})
	for _, tt := range []struct {
		name    string
		faults  *faults.Set
		qname   string
		qtype   uint16
		rcode   int
		answers int
		target  string
	}{
		{"pool A", nil, "pool.example.test.", dns.TypeA, dns.RcodeSuccess, 1, ""},
		{"pool AAAA nodata", nil, "pool.example.test.", dns.TypeAAAA, dns.RcodeSuccess, 0, ""},
		{"sip A", nil, "SIP.example.test.", dns.TypeA, dns.RcodeSuccess, 1, ""},
		{"sipinternal A", nil, "sipinternal.example.test.", dns.TypeA, dns.RcodeSuccess, 1, ""},
		{"lyncdiscoverinternal A", nil, "lyncdiscoverinternal.example.test.", dns.TypeA, dns.RcodeSuccess, 1, ""},
		{"sipinternaltls srv", nil, "_sipinternaltls._tcp.example.test.", dns.TypeSRV, dns.RcodeSuccess, 1, "pool.example.test."},
		{"sip tls srv", nil, "_sip._tls.example.test.", dns.TypeSRV, dns.RcodeSuccess, 1, "pool.example.test."},
		{"ntp srv", nil, "_ntp._udp.example.test.", dns.TypeSRV, dns.RcodeSuccess, 1, "pool.example.test."},
		{"sipexternal nxdomain", nil, "sipexternal.example.test.", dns.TypeA, dns.RcodeNameError, 0, ""},
		{"outside refused", nil, "example.com.", dns.TypeA, dns.RcodeRefused, 0, ""},
		{"other.test refused", nil, "pool.other.test.", dns.TypeA, dns.RcodeRefused, 0, ""},
		{"cross srv", cross, "_sipinternaltls._tcp.example.test.", dns.TypeSRV, dns.RcodeSuccess, 1, "pool.other.test."},
		{"cross ntp srv unchanged", cross, "_ntp._udp.example.test.", dns.TypeSRV, dns.RcodeSuccess, 1, "pool.example.test."},
		{"cross target A", cross, "pool.other.test.", dns.TypeA, dns.RcodeSuccess, 1, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := New(Config{Faults: tt.faults, PoolIP: net.IPv4(127, 0, 0, 2)}, nil)
			q := new(dns.Msg)
			q.SetQuestion(tt.qname, tt.qtype)
			m := s.Answer(q)
			if m.Rcode != tt.rcode || len(m.Answer) != tt.answers {
				t.Fatalf("rcode %s answers %v", dns.RcodeToString[m.Rcode], m.Answer)
			}
			if srv, ok := firstSRV(m); ok && srv.Target != tt.target {
				t.Errorf("target %s, want %s", srv.Target, tt.target)
			}
			for _, rr := range m.Answer {
				if a, isA := rr.(*dns.A); isA && !a.A.Equal(net.IPv4(127, 0, 0, 2)) {
					t.Errorf("A = %v", a.A)
				}
			}
		})
	}
}

func firstSRV(m *dns.Msg) (*dns.SRV, bool) {
	for _, rr := range m.Answer {
		if s, ok := rr.(*dns.SRV); ok {
			return s, true
		}
	}
	return nil, false
}
