package dhcp

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"go.uber.org/goleak"

	"github.com/deskphone/deskphone/bootstrap/dhcp/msuc"
	"github.com/deskphone/deskphone/bootstrap/failure"
	"github.com/deskphone/deskphone/tools/labpool/dhcpd"
	"github.com/deskphone/deskphone/tools/labpool/faults"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func listen(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// startPool runs labpool's responder on a loopback port.
func startPool(t *testing.T, cfg dhcpd.Config) string {
	t.Helper()
	conn := listen(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- dhcpd.New(cfg, testLogger(t)).Serve(ctx, conn) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return conn.LocalAddr().String()
}

var poolCfg = dhcpd.Config{Domain: "example.test", WebFQDN: "pool.example.test", Registrar: "pool.example.test"}

func TestInformLoopback(t *testing.T) {
	for _, tt := range []struct {
		name      string
		cfg       dhcpd.Config
		wantURL   string
		want43Err error
		wantNTP   int
	}{
		{name: "plain", cfg: poolCfg, wantURL: "https://pool.example.test:443/CertProv/CertProvisioningService.svc"},
		{name: "ntp and port", cfg: func() dhcpd.Config {
			c := poolCfg
			c.WebPort = 4443
			c.NTP = []net.IP{net.IPv4(127, 0, 0, 1)}
			return c
		}(), wantURL: "https://pool.example.test:4443/CertProv/CertProvisioningService.svc", wantNTP: 1},
		{name: "opt43-truncated", cfg: func() dhcpd.Config {
			c := poolCfg
			c.Faults, _ = faults.Parse([]string{faults.Opt43Truncated})
			return c
		}(), want43Err: msuc.ErrTruncated},
	} {
		t.Run(tt.name, func(t *testing.T) {
			addr := startPool(t, tt.cfg)
			start := time.Now()
			res, err := Inform(context.Background(), Config{Mode: ModeUnicast, Server: addr, Timeout: time.Second}, testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("inform->result %v", time.Since(start))
			if res.MSUC == nil || res.SIPServers == nil {
				t.Fatalf("missing 43/120: %+v", res)
			}
			if !errors.Is(res.Opt43Err, tt.want43Err) {
				t.Fatalf("Opt43Err = %v, want %v", res.Opt43Err, tt.want43Err)
			}
			if tt.want43Err != nil {
				if failure.CodeOf(res.Opt43Err) != failure.Opt43Truncated {
					t.Errorf("code %s", failure.CodeOf(res.Opt43Err))
				}
				if res.MSUC.WebFQDN != "pool.example.test" || res.MSUC.RelPath != "" {
					t.Errorf("partial = %+v", res.MSUC)
				}
				return
			}
			if got := res.MSUC.URL(); got != tt.wantURL {
				t.Errorf("URL = %q, want %q", got, tt.wantURL)
			}
			if got := res.SIPServers.Names; len(got) != 1 || got[0] != "pool.example.test" {
				t.Errorf("120 = %v", got)
			}
			if res.DomainName != "example.test" || res.Server != "127.0.0.1" || len(res.NTPServers) != tt.wantNTP {
				t.Errorf("res = %+v", res)
			}
			if res.Ack.YourIPAddr != nil && !res.Ack.YourIPAddr.IsUnspecified() {
				t.Errorf("yiaddr = %v", res.Ack.YourIPAddr)
			}
		})
	}
}

func TestInformInjectedConn(t *testing.T) {
	addr := startPool(t, poolCfg)
	conn := listen(t)
	for range 2 { // the conn stays usable after the first exchange
		res, err := Inform(context.Background(), Config{Mode: ModeUnicast, Conn: conn, Server: addr, Timeout: time.Second}, testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		if res.MSUC.WebFQDN != "pool.example.test" {
			t.Errorf("res = %+v", res.MSUC)
		}
	}
}

func TestInformNoAnswer(t *testing.T) {
	silent := listen(t) // bound, never answers
	start := time.Now()
	_, err := Inform(context.Background(), Config{Mode: ModeUnicast, Server: silent.LocalAddr().String(),
		Timeout: 30 * time.Millisecond, Retries: 2, Rand: rand.New(rand.NewPCG(1, 2))}, testLogger(t))
	if failure.CodeOf(err) != failure.DHCPNoAnswer || !errors.Is(err, ErrNoAnswer) {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestInformCanceled(t *testing.T) {
	silent := listen(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Inform(ctx, Config{Mode: ModeUnicast, Server: silent.LocalAddr().String(), Timeout: time.Second}, testLogger(t))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}

func TestInformBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{Mode: ModeUnicast},
		{Mode: ModeBroadcast},
		{Mode: ModeBroadcast, Iface: "does-not-exist0"},
		{Mode: "bogus", Server: "127.0.0.1:1"},
	} {
		if _, err := Inform(context.Background(), cfg, testLogger(t)); failure.CodeOf(err) != failure.NetworkDown {
			t.Errorf("%+v: err = %v", cfg, err)
		}
	}
}

// craftedServer answers every INFORM with the header of a real ACK followed
// by raw option bytes (so options can be oversized, duplicated or cut).
func craftedServer(t *testing.T, rawOpts []byte) string {
	t.Helper()
	conn := listen(t)
	go func() {
		buf := make([]byte, 1500)
		for {
			n, peer, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			req, err := dhcpv4.FromBytes(buf[:n])
			if err != nil {
				continue
			}
			ack, _ := dhcpv4.NewReplyFromRequest(req)
			pkt := append(ack.ToBytes()[:240:240], 53, 1, byte(dhcpv4.MessageTypeAck), 54, 4, 127, 0, 0, 1)
			pkt = append(pkt, rawOpts...)
			pkt = append(pkt, 0xFF)
			_, _ = conn.WriteTo(pkt, peer)
		}
	}()
	return conn.LocalAddr().String()
}

func opt(code byte, v []byte) []byte { return append([]byte{code, byte(len(v))}, v...) }

func TestInformCraftedOptions(t *testing.T) {
	info := msuc.Info{UCIdentifier: msuc.VendorClass, Scheme: "https", WebFQDN: "pool.example.test", Port: 443, RelPath: msuc.DefaultRelPath}
	full43, _ := msuc.EncodeOpt43(info)
	long := info
	long.RelPath = "/CertProv/" + repeat("x", 200) + "/CertProvisioningService.svc"
	long43, _ := msuc.EncodeOpt43(long) // > 255 bytes: needs RFC 3396 split
	name120, _ := msuc.EncodeOpt120Names("pool.example.test")
	ip120 := []byte{1, 192, 0, 2, 1}

	for _, tt := range []struct {
		name     string
		raw      []byte
		check    func(t *testing.T, r *Result)
		noAnswer bool
	}{
		{name: "rfc3396 split 43", raw: append(opt(43, long43[:200]), opt(43, long43[200:])...), check: func(t *testing.T, r *Result) {
			if r.Opt43Err != nil || r.MSUC.RelPath != long.RelPath {
				t.Errorf("43 = %+v, %v", r.MSUC, r.Opt43Err)
			}
		}},
		{name: "duplicated 120 concatenates and fails", raw: append(opt(120, name120), opt(120, name120)...), check: func(t *testing.T, r *Result) {
			if failure.CodeOf(r.Opt120Err) != failure.Opt120Invalid || r.SIPServers != nil {
				t.Errorf("120 = %+v, %v", r.SIPServers, r.Opt120Err)
			}
		}},
		{name: "120 as ipv4", raw: opt(120, ip120), check: func(t *testing.T, r *Result) {
			if r.SIPServers == nil || len(r.SIPServers.IPs) != 1 {
				t.Errorf("120 = %+v, %v", r.SIPServers, r.Opt120Err)
			}
		}},
		{name: "no 43", raw: opt(120, name120), check: func(t *testing.T, r *Result) {
			if r.MSUC != nil || r.SIPServers == nil {
				t.Errorf("res = %+v", r)
			}
		}},
		{name: "43 cut inside", raw: opt(43, full43[:len(full43)-10]), check: func(t *testing.T, r *Result) {
			if !errors.Is(r.Opt43Err, msuc.ErrTruncated) {
				t.Errorf("43 err = %v", r.Opt43Err)
			}
		}},
		{name: "option 2 and 119", raw: append(opt(2, []byte{0xFF, 0xFF, 0xF1, 0xF0}), opt(119, []byte{7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 4, 't', 'e', 's', 't', 0})...), check: func(t *testing.T, r *Result) {
			if r.TimeOffset == nil || *r.TimeOffset != -3600 || len(r.DomainSearch) != 1 || r.DomainSearch[0] != "example.test" {
				t.Errorf("res = %+v", r)
			}
		}},
		{name: "option past packet end", raw: []byte{43, 200, 1, 2, 3}, noAnswer: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			addr := craftedServer(t, tt.raw)
			res, err := Inform(context.Background(), Config{Mode: ModeUnicast, Server: addr, Timeout: 200 * time.Millisecond, Retries: -1}, testLogger(t))
			if tt.noAnswer {
				if failure.CodeOf(err) != failure.DHCPNoAnswer {
					t.Fatalf("err = %v, want no answer", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, res)
		})
	}
}

func repeat(s string, n int) string {
	b := make([]byte, 0, len(s)*n)
	for range n {
		b = append(b, s...)
	}
	return string(b)
}

func TestBackoff(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for n := 1; n < 10; n++ {
		d := backoff(n, r)
		base := min(time.Duration(n*n)*100*time.Millisecond, defaultBackoffCap)
		if d < base/2 || d >= base*3/2 {
			t.Errorf("backoff(%d) = %v, base %v", n, d, base)
		}
	}
}

func BenchmarkInformLoopback(b *testing.B) {
	conn, _ := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = dhcpd.New(poolCfg, nil).Serve(ctx, conn); close(done) }()
	defer func() { cancel(); <-done; conn.Close() }()
	client, _ := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	defer client.Close()
	cfg := Config{Mode: ModeUnicast, Conn: client, Server: conn.LocalAddr().String(), Timeout: time.Second}
	for b.Loop() {
		if _, err := Inform(ctx, cfg, nil); err != nil {
			b.Fatal(err)
		}
	}
}
