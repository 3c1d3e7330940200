package dnsdisco

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"reflect"
	"slices"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/deskphone/deskphone/bootstrap/failure"
	"github.com/deskphone/deskphone/tools/labpool/dnsd"
	"github.com/deskphone/deskphone/tools/labpool/faults"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// startDNS runs labpool's DNS server on loopback UDP+TCP (same port).
func startDNS(t *testing.T, cfg dnsd.Config) string {
	t.Helper()
	var udp net.PacketConn
	var tcp net.Listener
	for range 20 {
		u, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		l, err := net.Listen("tcp4", u.LocalAddr().String())
		if err != nil {
			u.Close()
			continue
		}
		udp, tcp = u, l
		break
	}
	if udp == nil {
		t.Fatal("no free udp+tcp port")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- dnsd.New(cfg, testLogger(t)).Serve(ctx, udp, tcp) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("dnsd: %v", err)
		}
	})
	return udp.LocalAddr().String()
}

func TestDiscoverLabpool(t *testing.T) {
	cross, _ := faults.Parse([]string{faults.SRVCrossDomain})
	for _, tt := range []struct {
		name      string
		cfg       dnsd.Config
		domain    string
		trusted   []string
		want      []Target
		wantCode  failure.Code
		wantIs    error
		wantAuto  int
		wantRefus int
	}{
		{name: "srv then a", cfg: dnsd.Config{SIPPort: 5999}, domain: "example.test", wantAuto: 1, want: []Target{
			{"pool.example.test", 5999, "_sipinternaltls._tcp"},
			{"sipinternal.example.test", 5061, "sipinternal"}, {"sipinternal.example.test", 443, "sipinternal"},
			{"sip.example.test", 5061, "sip"}, {"sip.example.test", 443, "sip"},
		}},
		{name: "cross-domain refused", cfg: dnsd.Config{Faults: cross}, domain: "example.test",
			wantCode: failure.UntrustedDomain, wantIs: ErrUntrusted, wantRefus: 2},
		{name: "lookalike domain refused", cfg: dnsd.Config{Faults: cross}, domain: "example.test", trusted: []string{"her.test", "ther.test"},
			wantCode: failure.UntrustedDomain, wantIs: ErrUntrusted, wantRefus: 2},
		{name: "cross-domain trusted", cfg: dnsd.Config{Faults: cross}, domain: "EXAMPLE.test.", trusted: []string{"other.test"}, wantAuto: 1, want: []Target{
			{"pool.other.test", 5061, "_sipinternaltls._tcp"},
			{"sipinternal.example.test", 5061, "sipinternal"}, {"sipinternal.example.test", 443, "sipinternal"},
			{"sip.example.test", 5061, "sip"}, {"sip.example.test", 443, "sip"},
		}},
		{name: "nxdomain", domain: "nothere.example.test", wantCode: failure.RegistrarNotFound, wantIs: ErrNotFound},
		{name: "refused outside zone", domain: "elsewhere.test", wantCode: failure.DNSFailed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			addr := startDNS(t, tt.cfg)
			start := time.Now()
			res, err := Discover(context.Background(), Config{Domain: tt.domain, TrustedDomains: tt.trusted,
				Resolver: Resolver(addr), Rand: rand.New(rand.NewPCG(1, 1))}, testLogger(t))
			t.Logf("discover took %v", time.Since(start))
			if failure.CodeOf(err) != tt.wantCode {
				t.Fatalf("err = %v, want code %q", err, tt.wantCode)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("err = %v, want %v", err, tt.wantIs)
			}
			if len(res.Refused) != tt.wantRefus {
				t.Errorf("refused = %v", res.Refused)
			}
			if err != nil {
				return
			}
			if !reflect.DeepEqual(res.Targets, tt.want) {
				t.Errorf("targets = %v\nwant %v", res.Targets, tt.want)
			}
			if len(res.Autodiscover) != tt.wantAuto {
				t.Errorf("autodiscover = %v", res.Autodiscover)
			}
		})
	}
}

func TestDiscoverUnreachable(t *testing.T) {
	pc, _ := net.ListenPacket("udp4", "127.0.0.1:0")
	addr := pc.LocalAddr().String()
	pc.Close() // nothing listens: ICMP port unreachable
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := Discover(ctx, Config{Domain: "example.test", Resolver: Resolver(addr)}, testLogger(t))
	if failure.CodeOf(err) != failure.DNSFailed {
		t.Fatalf("err = %v", err)
	}
}

func TestDiscoverNoDomain(t *testing.T) {
	if _, err := Discover(context.Background(), Config{}, nil); failure.CodeOf(err) != failure.RegistrarNotFound {
		t.Fatalf("err = %v", err)
	}
}

func TestLookupSRV(t *testing.T) {
	addr := startDNS(t, dnsd.Config{NTPPort: 1234})
	got, err := LookupSRV(context.Background(), Resolver(addr), "_ntp._udp.example.test", nil)
	if err != nil || len(got) != 1 || got[0].Host != "pool.example.test" || got[0].Port != 1234 {
		t.Fatalf("got %v, %v", got, err)
	}
	if _, err := LookupSRV(context.Background(), Resolver(addr), "_ntp._udp.nothere.example.test", nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v", err)
	}
}

func TestInDomain(t *testing.T) {
	for _, tt := range []struct {
		host, domain string
		want         bool
	}{
		{"pool.example.test", "example.test", true},
		{"example.test", "example.test", true},
		{"POOL.Example.Test.", "example.test.", true},
		{"a.b.example.test", "example.test", true},
		{"evilexample.test", "example.test", false},
		{"example.test.evil", "example.test", false},
		{"pool.other.test", "example.test", false},
		{"test", "example.test", false},
		{"", "example.test", false},
		{"pool.example.test", "", false},
		{".example.test", "example.test", true},
	} {
		if got := InDomain(tt.host, tt.domain); got != tt.want {
			t.Errorf("InDomain(%q, %q) = %v", tt.host, tt.domain, got)
		}
	}
	if !Trusted("pool.other.test", "example.test", []string{"x.test", "other.test"}) || Trusted("pool.other.test", "example.test", nil) {
		t.Error("Trusted")
	}
}

func TestResolverSystem(t *testing.T) {
	if Resolver("") != net.DefaultResolver {
		t.Error("Resolver(\"\") is not the system resolver")
	}
}

func srvs(spec ...[3]int) []*net.SRV {
	var out []*net.SRV
	for i, s := range spec {
		out = append(out, &net.SRV{Target: string(rune('a' + i)), Priority: uint16(s[0]), Weight: uint16(s[1]), Port: uint16(s[2])})
	}
	return out
}

// checkOrder asserts the RFC 2782 invariants: a permutation with
// non-decreasing priority.
func checkOrder(t testing.TB, in, out []*net.SRV) {
	if len(in) != len(out) {
		t.Fatalf("len %d != %d", len(out), len(in))
	}
	for _, r := range in {
		if !slices.Contains(out, r) {
			t.Fatalf("%v missing from output", r)
		}
	}
	for i := 1; i < len(out); i++ {
		if out[i].Priority < out[i-1].Priority {
			t.Fatalf("priority order broken at %d: %d < %d", i, out[i].Priority, out[i-1].Priority)
		}
	}
}

func TestOrderSRV(t *testing.T) {
	in := srvs([3]int{10, 1, 1}, [3]int{0, 3, 2}, [3]int{0, 1, 3}, [3]int{5, 0, 4}, [3]int{0, 0, 5})
	orig := slices.Clone(in)
	r := rand.New(rand.NewPCG(7, 7))
	first := map[string]int{}
	const n = 4000
	for range n {
		out := OrderSRV(in, r)
		checkOrder(t, in, out)
		first[out[0].Target]++
		if out[3].Target != "d" || out[4].Target != "a" {
			t.Fatalf("priorities 5, 10 not last: %v", out)
		}
	}
	if !reflect.DeepEqual(in, orig) {
		t.Error("input modified")
	}
	// Priority 0 group: weights b=3, c=1, e=0 → first ≈ 3/5, 1/5 (+ ties), e ≈ 1/5
	// (it wins only on a draw of 0 out of 0..4).
	for target, want := range map[string]float64{"b": 0.6, "c": 0.2, "e": 0.2} {
		got := float64(first[target]) / n
		if got < want-0.05 || got > want+0.05 {
			t.Errorf("P(first=%s) = %.3f, want ≈ %.2f", target, got, want)
		}
	}
	// Deterministic for a seeded source.
	a := OrderSRV(in, rand.New(rand.NewPCG(1, 2)))
	b := OrderSRV(in, rand.New(rand.NewPCG(1, 2)))
	if !reflect.DeepEqual(a, b) {
		t.Error("not deterministic for the same seed")
	}
	if got := OrderSRV(nil, r); len(got) != 0 {
		t.Errorf("OrderSRV(nil) = %v", got)
	}
}

// FuzzOrderSRV checks the RFC 2782 invariants for arbitrary record sets.
func FuzzOrderSRV(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 0, 3, 2, 5, 0}, uint64(1))
	f.Add([]byte{1, 0, 0, 0, 0, 0}, uint64(99))
	f.Fuzz(func(t *testing.T, spec []byte, seed uint64) {
		var in []*net.SRV
		for i := 0; i+2 < len(spec) && len(in) < 64; i += 3 {
			in = append(in, &net.SRV{Target: string(rune(i)), Priority: uint16(spec[i] % 4), Weight: uint16(spec[i+1]) * uint16(spec[i+2])})
		}
		checkOrder(t, in, OrderSRV(in, rand.New(rand.NewPCG(seed, seed))))
	})
}
