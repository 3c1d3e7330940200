package ntp

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/beevik/ntp"
	"go.uber.org/goleak"

	"github.com/deskphone/deskphone/board"
	"github.com/deskphone/deskphone/bootstrap/dnsdisco"
	"github.com/deskphone/deskphone/bootstrap/failure"
	"github.com/deskphone/deskphone/tools/labpool/dnsd"
	"github.com/deskphone/deskphone/tools/labpool/faults"
	"github.com/deskphone/deskphone/tools/labpool/ntpd"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// fakeClock is the system clock shifted by Off; Set moves Off.
type fakeClock struct {
	mu   sync.Mutex
	Off  time.Duration
	Sets int
	Err  error
}

var _ board.Clock = (*fakeClock)(nil)

// Now implements board.Clock.
func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.Off)
}

// Set implements board.Clock.
func (c *fakeClock) Set(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.Err != nil {
		return c.Err
	}
	c.Off = time.Until(t)
	c.Sets++
	return nil
}

func startNTP(t *testing.T, cfg ntpd.Config) string {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ntpd.New(cfg, testLogger(t)).Serve(ctx, conn) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ntpd: %v", err)
		}
		conn.Close()
	})
	return conn.LocalAddr().String()
}

func startDNS(t *testing.T, cfg dnsd.Config) string {
	t.Helper()
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- dnsd.New(cfg, nil).Serve(ctx, udp, nil) }()
	t.Cleanup(func() { cancel(); <-done })
	return udp.LocalAddr().String()
}

func silentPort(t *testing.T) string {
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.LocalAddr().String()
}

func port(t *testing.T, addr string) int {
	_, p, _ := net.SplitHostPort(addr)
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSyncLoopback(t *testing.T) {
	down, _ := faults.Parse([]string{faults.NTPDown})
	good := startNTP(t, ntpd.Config{Stratum: 3})
	for _, tt := range []struct {
		name       string
		cfg        func(t *testing.T) Config
		wantServer string
		wantCode   failure.Code
	}{
		{name: "option 42", cfg: func(t *testing.T) Config { return Config{Servers: []string{good}} }, wantServer: good},
		{name: "srv after dead 42", cfg: func(t *testing.T) Config {
			dns := startDNS(t, dnsd.Config{NTPPort: port(t, good)})
			return Config{Servers: []string{silentPort(t)}, SIPDomain: "example.test", Resolver: dnsdisco.Resolver(dns)}
		}, wantServer: net.JoinHostPort("pool.example.test", strconv.Itoa(port(t, good)))},
		{name: "fallback", cfg: func(t *testing.T) Config { return Config{Fallback: good} }, wantServer: good},
		{name: "ntp-down", cfg: func(t *testing.T) Config {
			return Config{Servers: []string{startNTP(t, ntpd.Config{Faults: down})}}
		}, wantCode: failure.TimeNotSet},
		{name: "kiss of death", cfg: func(t *testing.T) Config {
			return Config{Servers: []string{startNTP(t, ntpd.Config{KissCode: "DENY"})}}
		}, wantCode: failure.NTPBadAnswer},
		{name: "stratum 16", cfg: func(t *testing.T) Config {
			return Config{Servers: []string{startNTP(t, ntpd.Config{Stratum: 16})}}
		}, wantCode: failure.NTPBadAnswer},
		{name: "garbage answer", cfg: func(t *testing.T) Config { return Config{Servers: []string{garbageServer(t)}} }, wantCode: failure.TimeNotSet},
		{name: "srv nxdomain", cfg: func(t *testing.T) Config {
			return Config{SIPDomain: "nothere.example.test", Resolver: dnsdisco.Resolver(startDNS(t, dnsd.Config{}))}
		}, wantCode: failure.TimeNotSet},
		{name: "nothing configured", cfg: func(t *testing.T) Config { return Config{} }, wantCode: failure.TimeNotSet},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg(t)
			if cfg.Fallback == "" {
				cfg.Fallback = NoFallback // never leave loopback
			}
			cfg.QueryTimeout = 150 * time.Millisecond
			clk := &fakeClock{Off: -time.Hour}
			start := time.Now()
			res, err := NewSyncer(cfg, clk, nil, testLogger(t)).Sync(context.Background())
			t.Logf("sync took %v", time.Since(start))
			if failure.CodeOf(err) != tt.wantCode {
				t.Fatalf("err = %v, want code %q", err, tt.wantCode)
			}
			if err != nil {
				if clk.Sets != 0 {
					t.Error("clock set on failure")
				}
				return
			}
			if res.Server != tt.wantServer || !res.ClockSet || clk.Sets != 1 {
				t.Errorf("res = %+v, sets %d", res, clk.Sets)
			}
			if math.Abs(res.OffsetMS-3600e3) > 500 {
				t.Errorf("offset %v ms, want ≈ +3600000", res.OffsetMS)
			}
			if d := clk.Off; d < -time.Second || d > time.Second {
				t.Errorf("clock still off by %v", d)
			}
		})
	}
}

// garbageServer answers every packet with 48 random-looking bytes that are
// not a server-mode NTP packet.
func garbageServer(t *testing.T) string {
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			_, peer, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			g := make([]byte, 48)
			for i := range g {
				g[i] = byte(i*37 + 1)
			}
			g[0] = 0x1B // mode 3 (client), not a server reply
			_, _ = c.WriteTo(g, peer)
		}
	}()
	return c.LocalAddr().String()
}

func TestNTPDIgnoresGarbage(t *testing.T) {
	addr := startNTP(t, ntpd.Config{})
	c, err := net.Dial("udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, g := range [][]byte{{1, 2, 3}, make([]byte, 48), append([]byte{0x24}, make([]byte, 47)...)} {
		_, _ = c.Write(g) // short, mode 0, mode 4: all dropped
	}
	resp, err := NewQuerier(nil, nil)(context.Background(), addr)
	if err != nil || resp.Validate() != nil {
		t.Fatalf("after garbage: %v", err)
	}
}

// scripted returns canned responses in order and counts calls.
type scripted struct {
	calls atomic.Int32
	resps []*ntp.Response
}

func (s *scripted) query(ctx context.Context, server string) (*ntp.Response, error) {
	i := int(s.calls.Add(1)) - 1
	if i >= len(s.resps) || s.resps[i] == nil {
		return nil, errors.New("timeout")
	}
	return s.resps[i], nil
}

func okResp(offset, rtt time.Duration) *ntp.Response {
	now := time.Now()
	return &ntp.Response{ClockOffset: offset, RTT: rtt, Stratum: 2, Time: now, ReferenceTime: now.Add(-time.Minute),
		RootDistance: rtt / 2, Timestamps: ntp.ProtocolTimestamps{ServerXmit: now}}
}

func TestSyncSelection(t *testing.T) {
	far := okResp(time.Second, time.Millisecond)
	far.RootDistance = 10 * time.Second
	kod := &ntp.Response{Stratum: 0, KissCode: "RATE"}
	for _, tt := range []struct {
		name       string
		resps      []*ntp.Response
		wantOffset time.Duration
		wantCalls  int32
		wantCode   failure.Code
	}{
		{name: "best rtt wins", resps: []*ntp.Response{okResp(30*time.Millisecond, 9*time.Millisecond), okResp(10*time.Millisecond, 2*time.Millisecond), okResp(20*time.Millisecond, 5*time.Millisecond)}, wantOffset: 10 * time.Millisecond, wantCalls: 3},
		{name: "lost samples", resps: []*ntp.Response{nil, okResp(7*time.Millisecond, time.Millisecond), nil}, wantOffset: 7 * time.Millisecond, wantCalls: 3},
		{name: "absurd root distance", resps: []*ntp.Response{far, far, far}, wantCode: failure.NTPBadAnswer, wantCalls: 3},
		{name: "kiss of death stops", resps: []*ntp.Response{kod, okResp(0, 0), okResp(0, 0)}, wantCode: failure.NTPBadAnswer, wantCalls: 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := &scripted{resps: tt.resps}
			clk := &fakeClock{}
			res, err := NewSyncer(Config{Servers: []string{"192.0.2.1"}, Fallback: NoFallback}, clk, s.query, testLogger(t)).Sync(context.Background())
			if failure.CodeOf(err) != tt.wantCode {
				t.Fatalf("err = %v", err)
			}
			if s.calls.Load() != tt.wantCalls {
				t.Errorf("calls = %d, want %d", s.calls.Load(), tt.wantCalls)
			}
			if err == nil && (res.OffsetMS != float64(tt.wantOffset)/1e6 || res.Server != "192.0.2.1:123") {
				t.Errorf("res = %+v", res)
			}
		})
	}
}

func TestSyncClockRefuses(t *testing.T) {
	s := &scripted{resps: []*ntp.Response{okResp(0, time.Millisecond)}}
	clk := &fakeClock{Err: errors.New("eperm")}
	res, err := NewSyncer(Config{Servers: []string{"h"}, Samples: 1, Fallback: NoFallback}, clk, s.query, nil).Sync(context.Background())
	if failure.CodeOf(err) != failure.TimeNotSet || res.ClockSet {
		t.Fatalf("res %+v err %v", res, err)
	}
}

func TestGate(t *testing.T) {
	build := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name   string
		now    time.Time
		synced bool
		ok     bool
	}{
		{"synced", time.Unix(0, 0), true, true},
		{"after build", build.Add(time.Hour), false, true},
		{"at build", build, false, true},
		{"epoch unsynced", time.Unix(0, 0), false, false},
		{"just before build", build.Add(-time.Second), false, false},
	} {
		err := Gate(tt.now, build, tt.synced)
		if (err == nil) != tt.ok {
			t.Errorf("%s: err = %v", tt.name, err)
		}
		if err != nil && (failure.CodeOf(err) != failure.TimeNotSet || !errors.Is(err, ErrClockNotTrusted)) {
			t.Errorf("%s: err = %v", tt.name, err)
		}
	}
}

func TestWithPort(t *testing.T) {
	for in, want := range map[string]string{"h": "h:123", "h:9": "h:9", "192.0.2.1": "192.0.2.1:123", "::1": "[::1]:123", "[::1]:5": "[::1]:5"} {
		if got := withPort(in, 123); got != want {
			t.Errorf("withPort(%q) = %q, want %q", in, got, want)
		}
	}
}
