package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/deskphone/deskphone/tools/labpool"
)

// Test imports are not part of the firmware: cmd/phoned itself never
// imports labpool (tools/depcheck checks that).

func startPool(t *testing.T) *labpool.Pool {
	t.Helper()
	p, err := labpool.Start(context.Background(), labpool.Options{Demo: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func diagArgs(p *labpool.Pool, state string, extra ...string) []string {
	_, httpPort, _ := strings.Cut(p.Ready.HTTP, ":")
	return append([]string{"--json", "--state", state, "--dns", p.Ready.DNS, "--dhcp-server", p.Ready.DHCP,
		"--web-http-port", httpPort, "--site-root", p.Ready.CAPEM}, extra...)
}

func TestDiagDiscoverAndTime(t *testing.T) {
	p := startPool(t)
	state := t.TempDir()
	var out bytes.Buffer
	if err := run(context.Background(), append([]string{"diag", "discover"}, diagArgs(p, state)...), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	var r struct {
		Stage  string  `json:"stage"`
		OK     bool    `json:"ok"`
		MS     float64 `json:"ms"`
		Detail struct {
			Source    string `json:"source"`
			Registrar struct {
				Host string `json:"host"`
				Port int    `json:"port"`
			} `json:"registrar"`
			CertProvURL string   `json:"certprov_url"`
			WebFQDN     string   `json:"web_fqdn"`
			NTPServers  []string `json:"ntp_servers"`
			SIPDomain   string   `json:"sip_domain"`
			DHCPServer  string   `json:"dhcp_server"`
		} `json:"detail"`
		Error any `json:"error"`
	}
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	if r.Stage != "discover" || !r.OK || r.Error != nil || r.Detail.Source != "dhcp" || r.Detail.Registrar.Host != "pool.example.test" ||
		!strings.HasPrefix(r.Detail.CertProvURL, "https://pool.example.test:") || r.Detail.SIPDomain != "example.test" || r.Detail.DHCPServer == "" {
		t.Fatalf("discover report: %s", out.String())
	}
	t.Logf("diag discover: %.1f ms", r.MS)

	out.Reset()
	if err := run(context.Background(), append([]string{"diag", "time"}, diagArgs(p, state)...), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	var tr struct {
		OK     bool `json:"ok"`
		Detail struct {
			Server   string   `json:"server"`
			OffsetMS *float64 `json:"offset_ms"`
			RTTMS    *float64 `json:"rtt_ms"`
			Stratum  int      `json:"stratum"`
			ClockSet bool     `json:"clock_set"`
		} `json:"detail"`
	}
	if err := json.Unmarshal(out.Bytes(), &tr); err != nil || !tr.OK || tr.Detail.Server == "" || tr.Detail.OffsetMS == nil ||
		tr.Detail.RTTMS == nil || tr.Detail.Stratum < 1 || !tr.Detail.ClockSet {
		t.Fatalf("time report %v: %s", err, out.String())
	}
}

func TestDiagAll(t *testing.T) {
	p := startPool(t)
	var out bytes.Buffer
	if err := run(context.Background(), append([]string{"diag", "all", "--ext", "1001", "--pin", "24680"}, diagArgs(p, t.TempDir())...), &out, io.Discard); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	var rs []struct {
		Stage string          `json:"stage"`
		OK    bool            `json:"ok"`
		Error json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(out.Bytes(), &rs); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	var stages []string
	for _, r := range rs {
		stages = append(stages, r.Stage)
		if !r.OK {
			t.Errorf("stage %s failed: %s", r.Stage, r.Error)
		}
	}
	if strings.Join(stages, ",") != "discover,time,chain,ticket,cert,register" {
		t.Fatalf("stages %v", stages)
	}
	if strings.Contains(out.String(), "24680") {
		t.Fatal("the PIN appears in the diag output")
	}
}

func TestDiagFailureIsClear(t *testing.T) {
	var out bytes.Buffer
	// Nothing answers DHCP or DNS on these ports.
	err := run(context.Background(), []string{"diag", "discover", "--json", "--state", t.TempDir(), "--dns", "127.0.0.1:9", "--dhcp-server", "127.0.0.1:9"}, &out, io.Discard)
	if err == nil {
		t.Fatal("diag succeeded with no pool")
	}
	var r struct {
		OK    bool `json:"ok"`
		Error struct {
			Code, Cause, Fix string
		} `json:"error"`
	}
	if jerr := json.Unmarshal(out.Bytes(), &r); jerr != nil || r.OK || r.Error.Code == "" || r.Error.Cause == "" || r.Error.Fix == "" {
		t.Fatalf("%v: %s", jerr, out.String())
	}
	t.Logf("no pool → %s: %s / %s", r.Error.Code, r.Error.Cause, r.Error.Fix)
}

func TestPirigOnNonPi(t *testing.T) {
	err := run(context.Background(), []string{"run", "--board", "pirig", "--state", t.TempDir()}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "not a Raspberry Pi") {
		t.Fatalf("run --board pirig on a non-Pi: %v", err)
	}
}
