//go:build linux

package dnsdisco

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/deskphone/deskphone/bootstrap/failure"
	"github.com/deskphone/deskphone/tools/rig/netns"
)

// dnsmasq as the DNS server (platform-notes.md §5.2, "DNS test peer"), on a
// free loopback port. Needs root (dnsmasq changes user) and dnsmasq.
const dnsmasqZone = `listen-address=127.0.0.1
bind-interfaces
no-resolv
no-hosts
local=/example.test/
srv-host=_sipinternaltls._tcp.example.test,pool01.example.test,5061,0,100
srv-host=_sip._tls.example.test,access1.example.test,443
srv-host=_ntp._udp.example.test,dc01.example.test,123
host-record=pool01.example.test,127.0.0.1
host-record=sipinternal.example.test,127.0.0.1
host-record=lyncdiscoverinternal.example.test,127.0.0.1
local=/cross.test/
srv-host=_sipinternaltls._tcp.cross.test,pool.other.test,5061
srv-host=_sip._tls.cross.test,pool.other.test,5061
host-record=pool.other.test,127.0.0.1
host-record=sip.cross.test,127.0.0.1
`

func startDnsmasq(t *testing.T) string {
	bins := netns.Require(t, "dnsmasq")
	dir := t.TempDir()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	pc.Close()
	cf := filepath.Join(dir, "dnsmasq.conf")
	if err := os.WriteFile(cf, []byte("port="+strconv.Itoa(port)+"\n"+dnsmasqZone), 0o644); err != nil {
		t.Fatal(err)
	}
	d := netns.Start(t, "", bins[0], "-k", "--conf-file="+cf, "--log-facility=-", "--user=root", "--pid-file="+filepath.Join(dir, "pid"))
	if err := d.WaitFor("started, version", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

func TestRealDnsmasq(t *testing.T) {
	addr := startDnsmasq(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	res, err := Discover(ctx, Config{Domain: "example.test", Resolver: Resolver(addr), Rand: rand.New(rand.NewPCG(1, 1))}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("dns discovery against dnsmasq: %v", time.Since(start))
	want := []Target{
		{"pool01.example.test", 5061, "_sipinternaltls._tcp"},
		{"access1.example.test", 443, "_sip._tls"},
		{"sipinternal.example.test", 5061, "sipinternal"}, {"sipinternal.example.test", 443, "sipinternal"},
	}
	if !reflect.DeepEqual(res.Targets, want) || len(res.Autodiscover) != 1 {
		t.Errorf("res = %+v", res)
	}
	ntp, err := LookupSRV(ctx, Resolver(addr), "_ntp._udp.example.test", nil)
	if err != nil || len(ntp) != 1 || ntp[0].Host != "dc01.example.test" || ntp[0].Port != 123 {
		t.Errorf("ntp srv = %v, %v", ntp, err)
	}

	// srv-host to another domain: refused, no fallback to A sip.cross.test.
	res, err = Discover(ctx, Config{Domain: "cross.test", Resolver: Resolver(addr)}, testLogger(t))
	if failure.CodeOf(err) != failure.UntrustedDomain || !errors.Is(err, ErrUntrusted) || len(res.Refused) != 2 {
		t.Errorf("cross-domain: res %+v, err %v", res, err)
	}
	// NXDOMAIN inside a local zone.
	if _, err := Discover(ctx, Config{Domain: "nothere.example.test", Resolver: Resolver(addr)}, testLogger(t)); failure.CodeOf(err) != failure.RegistrarNotFound {
		t.Errorf("nxdomain: %v", err)
	}
}
