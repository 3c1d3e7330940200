//go:build linux

package dhcp

import (
	"bytes"
	"context"
	"encoding/hex"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/deskphone/deskphone/bootstrap/dhcp/msuc"
	"github.com/deskphone/deskphone/tools/labpool/dhcpconfig"
	"github.com/deskphone/deskphone/tools/rig/netns"
)

// Real DHCP servers configured from dhcpconfig answer the agent's broadcast
// INFORM over a veth pair (platform-notes.md §5.2). Needs root.

const refFQDN = "server.fqdn.company.com"

var (
	refOpts     = dhcpconfig.Options{WebFQDN: refFQDN, Registrar: refFQDN}
	refCertProv = "https://server.fqdn.company.com:443/CertProv/CertProvisioningService.svc"
)

func dhcputilOpt43(t *testing.T) []byte {
	b, _ := hex.DecodeString("010C4D532D55432D436C69656E740205687474707303177365727665722E6671646E2E636F6D70616E792E636F6D" +
		"040334343305252F4365727450726F762F4365727450726F766973696F6E696E67536572766963652E737663")
	return b
}

// informIn sends the agent's INFORM from the client namespace.
func informIn(t *testing.T, p *netns.Pair) *Result {
	t.Helper()
	var res *Result
	var took time.Duration
	err := netns.Do(p.Client, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		start := time.Now()
		var err error
		res, err = Inform(ctx, Config{Mode: ModeBroadcast, Iface: p.ClientIf, Timeout: 2 * time.Second, Retries: 3}, testLogger(t))
		took = time.Since(start)
		return err
	})
	if err != nil {
		t.Fatalf("inform over veth: %v", err)
	}
	t.Logf("inform->result over veth: %v", took)
	return res
}

func checkSame(t *testing.T, res *Result) {
	t.Helper()
	if res.Opt43Err != nil || res.MSUC == nil || res.MSUC.URL() != refCertProv {
		t.Errorf("option 43 = %+v, %v", res.MSUC, res.Opt43Err)
	}
	if res.SIPServers == nil || len(res.SIPServers.Names) != 1 || res.SIPServers.Names[0] != refFQDN {
		t.Errorf("option 120 = %+v, %v", res.SIPServers, res.Opt120Err)
	}
	if res.Ack.YourIPAddr != nil && !res.Ack.YourIPAddr.IsUnspecified() {
		t.Errorf("yiaddr = %v, want 0.0.0.0", res.Ack.YourIPAddr)
	}
}

func TestRealDnsmasqInform(t *testing.T) {
	bins := netns.Require(t, "dnsmasq")
	p := netns.New(t)
	dir := t.TempDir()
	o := refOpts
	o.Iface, o.Subnet = p.ServerIf, netns.Subnet
	conf, err := dhcpconfig.Render("dnsmasq", o)
	if err != nil {
		t.Fatal(err)
	}
	cf := filepath.Join(dir, "dnsmasq.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bins[0], "--test", "--conf-file="+cf).CombinedOutput(); err != nil {
		t.Fatalf("dnsmasq --test: %v: %s", err, out)
	}
	d := netns.Start(t, p.Server, bins[0], "-k", "--conf-file="+cf, "--log-facility=-", "--log-dhcp", "--user=root",
		"--pid-file="+filepath.Join(dir, "pid"), "--dhcp-leasefile="+filepath.Join(dir, "leases"))
	if err := d.WaitFor("DHCP, IP range", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	res := informIn(t, p)
	checkSame(t, res)
	want, _ := msuc.EncodeOpt43Reversed(msuc.Info{UCIdentifier: msuc.VendorClass, Scheme: "https", WebFQDN: refFQDN, Port: 443, RelPath: msuc.DefaultRelPath})
	if got := res.Ack.Options.Get(dhcpv4.OptionVendorSpecificInformation); !bytes.Equal(got, want) {
		t.Errorf("dnsmasq option 43 = %X\nwant (5..1 + FF)  %X", got, want)
	}
}

func TestRealKeaInform(t *testing.T) {
	bins := netns.Require(t, "kea-dhcp4")
	p := netns.New(t)
	dir := t.TempDir()
	o := refOpts
	o.Iface, o.Subnet = p.ServerIf, netns.Subnet
	conf, err := dhcpconfig.Render("kea", o)
	if err != nil {
		t.Fatal(err)
	}
	cf := filepath.Join(dir, "kea.json")
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KEA_LOCKFILE_DIR", dir)
	t.Setenv("KEA_PIDFILE_DIR", dir)
	if out, err := netns.Command(context.Background(), p.Server, bins[0], "-t", cf).CombinedOutput(); err != nil {
		t.Fatalf("kea-dhcp4 -t: %v: %s", err, out)
	}
	k := netns.Start(t, p.Server, bins[0], "-c", cf)
	if err := k.WaitFor("DHCP4_STARTED", 15*time.Second); err != nil {
		t.Fatal(err)
	}

	// Capture the exchange on the client side while we are at it.
	var cap *netns.Proc
	pcap := filepath.Join(dir, "inform.pcap")
	if tshark, err := exec.LookPath("tshark"); err == nil {
		// -P -l prints each captured frame, so probes to the discard port
		// tell us when the capture is really running.
		cap = netns.Start(t, p.Client, tshark, "-i", p.ClientIf, "-w", pcap, "-P", "-l", "-f", "udp port 67 or udp port 68 or udp port 9")
		probeUntilCaptured(t, p, cap)
	}

	res := informIn(t, p)
	checkSame(t, res)
	if got := res.Ack.Options.Get(dhcpv4.OptionVendorSpecificInformation); !bytes.Equal(got, dhcputilOpt43(t)) {
		t.Errorf("kea option 43 = %X\nwant DHCPUtil's %X", got, dhcputilOpt43(t))
	}

	if cap == nil {
		t.Log("tshark/dumpcap not installed: capture check skipped")
		return
	}
	// tshark reads frames from dumpcap through a pipe: stop only after it
	// has printed the ACK, or the last frames are lost.
	if err := cap.WaitFor("DHCP ACK", 20*time.Second); err != nil {
		t.Error(err)
	}
	cap.Stop()
	checkCapture(t, pcap)
}

// probeUntilCaptured sends UDP datagrams to the server's discard port from
// the client namespace until tshark prints one.
func probeUntilCaptured(t *testing.T, p *netns.Pair, cap *netns.Proc) {
	t.Helper()
	var conn net.Conn
	if err := netns.Do(p.Client, func() (err error) {
		conn, err = net.Dial("udp4", net.JoinHostPort(netns.ServerIP.String(), "9"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		_, _ = conn.Write([]byte("probe"))
		if cap.WaitFor("→", 200*time.Millisecond) == nil {
			return
		}
	}
	t.Fatalf("tshark never saw a probe: %s", cap.Output())
}

// checkCapture decodes the INFORM with tshark: option 60 reads MS-UC-Client,
// the PRL lists 43 and 120, and nothing is malformed or flagged.
func checkCapture(t *testing.T, pcap string) {
	t.Helper()
	out, err := exec.Command("tshark", "-r", pcap, "-V", "-Y", "dhcp.option.dhcp == 8").CombinedOutput()
	if err != nil {
		t.Fatalf("tshark -r: %v: %s", err, out)
	}
	v := string(out)
	for _, want := range []string{
		"DHCP: Inform (8)",
		"Vendor class identifier: MS-UC-Client",
		"Parameter Request List Item: (43) Vendor-Specific Information",
		"Parameter Request List Item: (120) SIP Servers",
	} {
		if !strings.Contains(v, want) {
			t.Errorf("tshark decode lacks %q", want)
		}
	}
	if strings.Contains(v, "Malformed") || regexp.MustCompile(`(?i)expert info \((warning|error)`).MatchString(v) {
		t.Errorf("tshark flags the inform:\n%s", v)
	}
	if t.Failed() {
		t.Logf("tshark -V:\n%s", v)
	}
	exp, _ := exec.Command("tshark", "-r", pcap, "-q", "-z", "expert,warn,dhcp").CombinedOutput()
	if regexp.MustCompile(`(?m)^(Errors|Warns) \(`).Match(exp) {
		t.Errorf("tshark expert info:\n%s", exp)
	}
}
