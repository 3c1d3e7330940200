package dhcpconfig

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

var ref = Options{WebFQDN: "server.fqdn.company.com", Registrar: "server.fqdn.company.com"}

// DHCPUtil output for server.fqdn.company.com (platform-notes.md §1.4).
const (
	dhcputil43 = "010C4D532D55432D436C69656E740205687474707303177365727665722E6671646E2E636F6D70616E792E636F6D" +
		"040334343305252F4365727450726F762F4365727450726F766973696F6E696E67536572766963652E737663"
	dhcputil120 = "0006736572766572046671646E07636F6D70616E7903636F6D00"
)

func TestHexEqualsDHCPUtil(t *testing.T) {
	out, err := Render("hex", ref)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "Option 120: "+dhcputil120+"\n") || !strings.Contains(out, "90 bytes: "+dhcputil43+"\n") {
		t.Errorf("hex output differs from DHCPUtil:\n%s", out)
	}
}

func TestGolden(t *testing.T) {
	site := ref
	site.Iface, site.Subnet = "vsrv", "192.0.2.0/24"
	for _, tt := range []struct {
		name, format string
		o            Options
	}{
		{"hex", "hex", ref},
		{"dnsmasq", "dnsmasq", ref},
		{"dnsmasq-site", "dnsmasq", site},
		{"kea", "kea", ref},
		{"kea-site", "kea", site},
		{"windows", "windows", ref},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Render(tt.format, tt.o)
			if err != nil {
				t.Fatal(err)
			}
			if tt.format == "kea" && !json.Valid([]byte(got)) {
				t.Errorf("kea output is not json")
			}
			path := filepath.Join("testdata", tt.name+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("%s differs from %s:\n%s", tt.name, path, got)
			}
		})
	}
}

func TestRenderErrors(t *testing.T) {
	for _, tt := range []struct {
		format string
		o      Options
	}{
		{"xml", ref},
		{"hex", Options{WebFQDN: "a.test"}},
		{"hex", Options{WebFQDN: "a.test", Registrar: "bad name.test"}},
		{"kea", Options{WebFQDN: "a.test", Registrar: "a.test", Iface: "x", Subnet: "192.0.2.0/28"}},
		{"dnsmasq", Options{WebFQDN: "a.test", Registrar: "a.test", Iface: "x", Subnet: "2001:db8::/64"}},
	} {
		if _, err := Render(tt.format, tt.o); err == nil {
			t.Errorf("Render(%q, %+v) succeeded", tt.format, tt.o)
		}
	}
}
