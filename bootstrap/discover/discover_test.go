package discover

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"go.uber.org/goleak"

	"github.com/deskphone/deskphone/bootstrap/dhcp/msuc"
	"github.com/deskphone/deskphone/bootstrap/failure"
	"github.com/deskphone/deskphone/tools/labpool/dhcpd"
	"github.com/deskphone/deskphone/tools/labpool/dnsd"
	"github.com/deskphone/deskphone/tools/labpool/faults"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func udp(t *testing.T) net.PacketConn {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func serve(t *testing.T, f func(ctx context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
}

func startDHCP(t *testing.T, cfg dhcpd.Config) string {
	c := udp(t)
	serve(t, func(ctx context.Context) error { return dhcpd.New(cfg, testLogger(t)).Serve(ctx, c) })
	return c.LocalAddr().String()
}

func startDNS(t *testing.T, cfg dnsd.Config) string {
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serve(t, func(ctx context.Context) error { return dnsd.New(cfg, nil).Serve(ctx, c, nil) })
	return c.LocalAddr().String()
}

// startFakeDHCP answers every INFORM with an ACK carrying only mods.
func startFakeDHCP(t *testing.T, mods ...dhcpv4.Modifier) string {
	c := udp(t)
	go func() {
		buf := make([]byte, 1500)
		for {
			n, peer, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			req, err := dhcpv4.FromBytes(buf[:n])
			if err != nil {
				continue
			}
			ack, _ := dhcpv4.NewReplyFromRequest(req, append([]dhcpv4.Modifier{dhcpv4.WithMessageType(dhcpv4.MessageTypeAck),
				dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IPv4(127, 0, 0, 1)))}, mods...)...)
			_, _ = c.WriteTo(ack.ToBytes(), peer)
		}
	}()
	return c.LocalAddr().String()
}

const certprov = "https://pool.example.test:443/CertProv/CertProvisioningService.svc"

func TestDiscover(t *testing.T) {
	trunc, _ := faults.Parse([]string{faults.Opt43Truncated})
	cross, _ := faults.Parse([]string{faults.SRVCrossDomain})
	pool := dhcpd.Config{Domain: "example.test", WebFQDN: "web.example.test", WebPort: 4443, Registrar: "pool.example.test",
		NTP: []net.IP{net.IPv4(127, 0, 0, 1)}}
	opt120, _ := msuc.EncodeOpt120Names("pool.example.test")
	ip120, _ := msuc.EncodeOpt120IPv4(netipv4(192, 0, 2, 1))
	cached := &Endpoint{Host: "fe01.example.test", Port: 5061}

	type env struct{ dhcp, dns string }
	for _, tt := range []struct {
		name     string
		setup    func(t *testing.T) env
		cfg      func(e env) Config
		want     Result // compared on the fields set below
		wantCode failure.Code
		wantWarn string
	}{
		{
			// Option 120 names the registrar first; the SRV record for the same
			// host gives its port, and the DNS A fallbacks follow as backups.
			name:  "dhcp wins",
			setup: func(t *testing.T) env { return env{startDHCP(t, pool), startDNS(t, dnsd.Config{SIPPort: 5071})} },
			cfg:   func(e env) Config { return Config{SIPDomain: "example.test", DNS: e.dns, DHCP: unicast(e.dhcp)} },
			want: Result{Source: "dhcp", Registrar: Endpoint{"pool.example.test", 5071}, Candidates: []Endpoint{{"pool.example.test", 5071},
				{"sipinternal.example.test", 5061}, {"sipinternal.example.test", 443}, {"sip.example.test", 5061}, {"sip.example.test", 443}},
				CertProvURL: "https://web.example.test:4443/CertProv/CertProvisioningService.svc", WebFQDN: "web.example.test",
				NTPServers: []string{"127.0.0.1"}, SIPDomain: "example.test", DHCPServer: "127.0.0.1",
				Autodiscover: []string{"lyncdiscoverinternal.example.test"}},
		},
		{
			name:  "sip domain from option 15",
			setup: func(t *testing.T) env { return env{startDHCP(t, pool), ""} },
			cfg:   func(e env) Config { return Config{DHCP: unicast(e.dhcp)} },
			want: Result{Source: "dhcp", Registrar: Endpoint{"pool.example.test", 5061}, Candidates: []Endpoint{{"pool.example.test", 5061}},
				CertProvURL: "https://web.example.test:4443/CertProv/CertProvisioningService.svc", WebFQDN: "web.example.test",
				NTPServers: []string{"127.0.0.1"}, SIPDomain: "example.test", DHCPServer: "127.0.0.1"},
		},
		{
			name: "ack without 43 keeps 120, derives certprov",
			setup: func(t *testing.T) env {
				return env{startFakeDHCP(t, dhcpv4.WithGeneric(dhcpv4.OptionSIPServers, opt120)), ""}
			},
			cfg: func(e env) Config { return Config{DHCP: unicast(e.dhcp)} },
			want: Result{Source: "dhcp", Registrar: Endpoint{"pool.example.test", 5061}, Candidates: []Endpoint{{"pool.example.test", 5061}},
				CertProvURL: certprov, WebFQDN: "pool.example.test", NTPServers: []string{}, SIPDomain: "example.test", DHCPServer: "127.0.0.1"},
			wantWarn: "option 43 absent",
		},
		{
			name: "ack without 43 and 120: dns fallback via option 15",
			setup: func(t *testing.T) env {
				return env{startFakeDHCP(t, dhcpv4.WithOption(dhcpv4.OptDomainName("example.test"))), startDNS(t, dnsd.Config{})}
			},
			cfg: func(e env) Config { return Config{DNS: e.dns, DHCP: unicast(e.dhcp)} },
			want: Result{Source: "dns", Registrar: Endpoint{"pool.example.test", 5061}, Candidates: dnsCands,
				CertProvURL: certprov, WebFQDN: "pool.example.test", NTPServers: []string{}, SIPDomain: "example.test", DHCPServer: "127.0.0.1",
				Autodiscover: []string{"lyncdiscoverinternal.example.test"}},
		},
		{
			name: "option 120 as ipv4: dns fallback",
			setup: func(t *testing.T) env {
				return env{startFakeDHCP(t, dhcpv4.WithGeneric(dhcpv4.OptionSIPServers, ip120)), startDNS(t, dnsd.Config{})}
			},
			cfg: func(e env) Config { return Config{SIPDomain: "example.test", DNS: e.dns, DHCP: unicast(e.dhcp)} },
			want: Result{Source: "dns", Registrar: Endpoint{"pool.example.test", 5061}, Candidates: dnsCands,
				CertProvURL: certprov, WebFQDN: "pool.example.test", NTPServers: []string{}, SIPDomain: "example.test", DHCPServer: "127.0.0.1",
				Autodiscover: []string{"lyncdiscoverinternal.example.test"}},
			wantWarn: "ipv4 addresses",
		},
		{
			name: "option 120 ipv4 only, no dns",
			setup: func(t *testing.T) env {
				return env{startFakeDHCP(t, dhcpv4.WithGeneric(dhcpv4.OptionSIPServers, ip120)), ""}
			},
			cfg:      func(e env) Config { return Config{DHCP: unicast(e.dhcp)} },
			wantCode: failure.Opt120Invalid,
		},
		{
			name:  "dhcp silent: dns",
			setup: func(t *testing.T) env { return env{udp(t).LocalAddr().String(), startDNS(t, dnsd.Config{})} },
			cfg: func(e env) Config {
				c := Config{SIPDomain: "example.test", DNS: e.dns, DHCP: unicast(e.dhcp)}
				c.DHCP.Timeout, c.DHCP.Retries = 50*time.Millisecond, -1
				return c
			},
			want: Result{Source: "dns", Registrar: Endpoint{"pool.example.test", 5061}, Candidates: dnsCands,
				CertProvURL: certprov, WebFQDN: "pool.example.test", NTPServers: []string{}, SIPDomain: "example.test",
				Autodiscover: []string{"lyncdiscoverinternal.example.test"}},
			wantWarn: "E102",
		},
		{
			name:  "dhcp silent, no domain",
			setup: func(t *testing.T) env { return env{udp(t).LocalAddr().String(), ""} },
			cfg: func(e env) Config {
				c := Config{DHCP: unicast(e.dhcp)}
				c.DHCP.Timeout, c.DHCP.Retries = 50*time.Millisecond, -1
				return c
			},
			wantCode: failure.DHCPNoAnswer,
		},
		{
			name: "opt43-truncated",
			setup: func(t *testing.T) env {
				return env{startDHCP(t, dhcpd.Config{Domain: "example.test", WebFQDN: "pool.example.test", Faults: trunc}), ""}
			},
			cfg:      func(e env) Config { return Config{DHCP: unicast(e.dhcp)} },
			wantCode: failure.Opt43Truncated,
		},
		{
			name: "opt43-truncated with certprov override",
			setup: func(t *testing.T) env {
				return env{startDHCP(t, dhcpd.Config{Domain: "example.test", WebFQDN: "pool.example.test", Faults: trunc}), ""}
			},
			cfg: func(e env) Config { return Config{DHCP: unicast(e.dhcp), CertProvURL: "https://x.example.test/c"} },
			want: Result{Source: "dhcp", Registrar: Endpoint{"pool.example.test", 5061}, Candidates: []Endpoint{{"pool.example.test", 5061}},
				CertProvURL: "https://x.example.test/c", WebFQDN: "pool.example.test", NTPServers: []string{}, SIPDomain: "example.test", DHCPServer: "127.0.0.1"},
			wantWarn: "truncated",
		},
		{
			name:     "srv-cross-domain, dhcp off",
			setup:    func(t *testing.T) env { return env{"", startDNS(t, dnsd.Config{Faults: cross})} },
			cfg:      func(e env) Config { return Config{SIPDomain: "example.test", DNS: e.dns} },
			wantCode: failure.UntrustedDomain,
		},
		{
			name:  "srv-cross-domain trusted",
			setup: func(t *testing.T) env { return env{"", startDNS(t, dnsd.Config{Faults: cross})} },
			cfg: func(e env) Config {
				return Config{SIPDomain: "example.test", DNS: e.dns, TrustedDomains: []string{"other.test"}}
			},
			want: Result{Source: "dns", Registrar: Endpoint{"pool.other.test", 5061},
				Candidates:  append([]Endpoint{{"pool.other.test", 5061}}, dnsCands[1:]...),
				CertProvURL: "https://pool.other.test:443/CertProv/CertProvisioningService.svc", WebFQDN: "pool.other.test",
				NTPServers: []string{}, SIPDomain: "example.test", Autodiscover: []string{"lyncdiscoverinternal.example.test"}},
		},
		{
			name:     "nxdomain",
			setup:    func(t *testing.T) env { return env{"", startDNS(t, dnsd.Config{})} },
			cfg:      func(e env) Config { return Config{SIPDomain: "nothere.example.test", DNS: e.dns} },
			wantCode: failure.RegistrarNotFound,
		},
		{
			name:  "cached first",
			setup: func(t *testing.T) env { return env{startDHCP(t, pool), startDNS(t, dnsd.Config{})} },
			cfg: func(e env) Config {
				return Config{SIPDomain: "example.test", DNS: e.dns, DHCP: unicast(e.dhcp), Cached: cached}
			},
			want: Result{Source: "cache", Registrar: *cached, Candidates: []Endpoint{*cached, {"pool.example.test", 5061},
				{"sipinternal.example.test", 5061}, {"sipinternal.example.test", 443}, {"sip.example.test", 5061}, {"sip.example.test", 443}},
				CertProvURL: "https://web.example.test:4443/CertProv/CertProvisioningService.svc", WebFQDN: "web.example.test",
				NTPServers: []string{"127.0.0.1"}, SIPDomain: "example.test", DHCPServer: "127.0.0.1",
				Autodiscover: []string{"lyncdiscoverinternal.example.test"}},
		},
		{
			name:  "static registrar",
			setup: func(t *testing.T) env { return env{"", ""} },
			cfg: func(e env) Config {
				return Config{Registrar: &Endpoint{"sip.corp.example.test", 443}, DNS: "127.0.0.1:1"}
			},
			want: Result{Source: "config", Registrar: Endpoint{"sip.corp.example.test", 443}, Candidates: []Endpoint{{"sip.corp.example.test", 443}},
				CertProvURL: "https://sip.corp.example.test:443/CertProv/CertProvisioningService.svc", WebFQDN: "sip.corp.example.test",
				NTPServers: []string{}, SIPDomain: "corp.example.test"},
		},
		{
			name:     "nothing configured",
			setup:    func(t *testing.T) env { return env{} },
			cfg:      func(e env) Config { return Config{} },
			wantCode: failure.RegistrarNotFound,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg(tt.setup(t))
			cfg.Rand = rand.New(rand.NewPCG(1, 1))
			start := time.Now()
			res, err := New(cfg, testLogger(t)).Discover(context.Background())
			t.Logf("discover took %v", time.Since(start))
			if failure.CodeOf(err) != tt.wantCode {
				t.Fatalf("err = %v, want %q", err, tt.wantCode)
			}
			if err != nil {
				return
			}
			warns := res.Warnings
			res.Warnings = nil
			res.Refused = nil
			if !reflect.DeepEqual(res, tt.want) {
				t.Errorf("got  %+v\nwant %+v", res, tt.want)
			}
			if tt.wantWarn != "" && !strings.Contains(strings.Join(warns, "|"), tt.wantWarn) {
				t.Errorf("warnings %q lack %q", warns, tt.wantWarn)
			}
			if res.Registrar != res.Candidates[0] {
				t.Error("Registrar != Candidates[0]")
			}
		})
	}
}

var dnsCands = []Endpoint{{"pool.example.test", 5061}, {"sipinternal.example.test", 5061}, {"sipinternal.example.test", 443},
	{"sip.example.test", 5061}, {"sip.example.test", 443}}

func unicast(addr string) DHCPConfig {
	return DHCPConfig{Mode: "unicast", Server: addr, Timeout: time.Second}
}

func netipv4(a, b, c, d byte) netip.Addr { return netip.AddrFrom4([4]byte{a, b, c, d}) }

func TestDiscoverCanceled(t *testing.T) {
	silent := udp(t).LocalAddr().String()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := New(Config{DHCP: unicast(silent)}, nil).Discover(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
}

// TestResultJSON pins the keys of `phoned diag discover --json`.
func TestResultJSON(t *testing.T) {
	b, err := json.Marshal(Result{Source: "dhcp", Registrar: Endpoint{"pool.example.test", 5061}, NTPServers: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	for _, k := range []string{"source", "registrar", "certprov_url", "web_fqdn", "ntp_servers", "sip_domain"} {
		if _, ok := m[k]; !ok {
			t.Errorf("key %q missing in %s", k, b)
		}
	}
	if reg := m["registrar"].(map[string]any); reg["host"] != "pool.example.test" || reg["port"] != float64(5061) {
		t.Errorf("registrar = %v", reg)
	}
}
