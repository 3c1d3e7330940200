package msuc

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/deskphone/deskphone/bootstrap/failure"
)

// Reference bytes: DHCPUtil output for server.fqdn.company.com
// (platform-notes.md §1.4).
const (
	dhcputil43 = "010C4D532D55432D436C69656E74020568747470730317" +
		"7365727665722E6671646E2E636F6D70616E792E636F6D" +
		"040334343305252F4365727450726F762F4365727450726F766973696F6E696E67536572766963652E737663"
	dhcputil120 = "0006736572766572046671646E07636F6D70616E7903636F6D00"
	// Cussen DHCP tool example (signin-protocols.md §6.10).
	cussen120 = "00066C796E637365056B6C6F7564036E657400"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var refInfo = Info{
	UCIdentifier: "MS-UC-Client",
	Scheme:       "https",
	WebFQDN:      "server.fqdn.company.com",
	Port:         443,
	RelPath:      "/CertProv/CertProvisioningService.svc",
}

// dnsmasqOrder is what dnsmasq 2.90 sends: 5,4,3,2,1 then 0xFF.
func dnsmasqOrder(t testing.TB) []byte {
	b, err := EncodeOpt43Reversed(refInfo)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeOpt43(t *testing.T) {
	long := refInfo
	long.WebFQDN = "lyncpool01.internal.corp.company.com"
	longBytes, err := EncodeOpt43(long)
	if err != nil {
		t.Fatal(err)
	}
	cisco := longBytes[:90] // 180 hex digits, Cisco IOS `option 43 hex` limit

	for _, tt := range []struct {
		name    string
		in      []byte
		want    Info
		wantErr error
		wantSub byte
	}{
		{name: "dhcputil 90 bytes", in: mustHex(t, dhcputil43), want: refInfo},
		{name: "dnsmasq reversed with end", in: dnsmasqOrder(t), want: refInfo},
		{name: "pad bytes skipped", in: append([]byte{0, 0}, append(mustHex(t, dhcputil43), 0, 0)...), want: refInfo},
		{name: "stops at end byte", in: append(append(mustHex(t, "03016100"), 0xFF), 0x03, 0x50), want: Info{WebFQDN: "a"}},
		{name: "unknown codes ignored", in: mustHex(t, "0A020FA1 0301 61 C8 00"), want: Info{WebFQDN: "a"}},
		{name: "port absent", in: mustHex(t, "030161"), want: Info{WebFQDN: "a"}},
		{name: "duplicate keeps first", in: mustHex(t, "030161 030162"), want: Info{WebFQDN: "a"}},
		{name: "empty", in: nil, want: Info{}},
		{name: "cisco 180 hex digits", in: cisco, want: Info{UCIdentifier: "MS-UC-Client", Scheme: "https", WebFQDN: long.WebFQDN, Port: 443}, wantErr: ErrTruncated, wantSub: 5},
		{name: "no length byte", in: mustHex(t, "030161 05"), want: Info{WebFQDN: "a"}, wantErr: ErrTruncated, wantSub: 5},
		{name: "bad port", in: mustHex(t, "030161 0403 343A33"), want: Info{WebFQDN: "a"}, wantErr: ErrMalformed, wantSub: 4},
		{name: "port zero", in: mustHex(t, "040130"), wantErr: ErrMalformed, wantSub: 4},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeOpt43(tt.in)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("info = %+v, want %+v", got, tt.want)
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err == nil {
				return
			}
			var de *DecodeError
			if !errors.As(err, &de) || de.Sub != tt.wantSub {
				t.Errorf("err = %v, want sub-option %d", err, tt.wantSub)
			}
			if errors.Is(err, ErrTruncated) && failure.CodeOf(err) != failure.Opt43Truncated {
				t.Errorf("code = %s, want %s", failure.CodeOf(err), failure.Opt43Truncated)
			}
		})
	}
}

func TestInfoURL(t *testing.T) {
	for _, tt := range []struct {
		in   Info
		want string
	}{
		{refInfo, "https://server.fqdn.company.com:443/CertProv/CertProvisioningService.svc"},
		{Info{WebFQDN: "pool.example.test"}, "https://pool.example.test:443/CertProv/CertProvisioningService.svc"},
		{Info{WebFQDN: "w", Scheme: "http", Port: 80, RelPath: "x"}, "http://w:80/x"},
		{Info{Scheme: "https"}, ""},
	} {
		if got := tt.in.URL(); got != tt.want {
			t.Errorf("%+v.URL() = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestEncodeOpt43(t *testing.T) {
	got, err := EncodeOpt43(refInfo)
	if err != nil {
		t.Fatal(err)
	}
	if want := mustHex(t, dhcputil43); !bytes.Equal(got, want) || len(got) != 90 {
		t.Errorf("EncodeOpt43 = %X (%d bytes), want DHCPUtil's %X", got, len(got), want)
	}
	rev := dnsmasqOrder(t)
	if rev[0] != SubRelPath || rev[len(rev)-1] != 0xFF || len(rev) != 91 {
		t.Errorf("reversed = %X", rev)
	}
	if _, err := EncodeOpt43(Info{WebFQDN: strings.Repeat("a", 256)}); err == nil {
		t.Error("256-byte sub-option encoded")
	}
	if _, err := EncodeOpt43(Info{Port: 70000}); err == nil {
		t.Error("port 70000 encoded")
	}
}

func TestDecodeOpt120(t *testing.T) {
	label63 := strings.Repeat("a", 63)
	for _, tt := range []struct {
		name    string
		in      []byte
		want    SIPServers
		wantErr error
	}{
		{name: "dhcputil", in: mustHex(t, dhcputil120), want: SIPServers{Names: []string{"server.fqdn.company.com"}}},
		{name: "cussen", in: mustHex(t, cussen120), want: SIPServers{Names: []string{"lyncse.kloud.net"}}},
		{name: "two names", in: mustHex(t, "00 0161 0162 00 0163 00"), want: SIPServers{Names: []string{"a.b", "c"}}},
		{name: "ipv4 list", in: mustHex(t, "01 C0000201 C0000202"), want: SIPServers{Encoding: 1, IPs: []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")}}},
		{name: "63-byte label", in: append(append([]byte{0, 63}, label63...), 0), want: SIPServers{Names: []string{label63}}},
		{name: "empty", in: nil, wantErr: ErrTruncated},
		{name: "encoding only", in: []byte{0}, wantErr: ErrTruncated},
		{name: "no root label", in: mustHex(t, "00 0161"), wantErr: ErrTruncated},
		{name: "label past end", in: mustHex(t, "00 0561 00"), wantErr: ErrTruncated},
		{name: "compression pointer", in: mustHex(t, "00 0161 00 C001"), wantErr: ErrMalformed},
		{name: "64-byte label type bits", in: append([]byte{0, 64}, label63...), wantErr: ErrMalformed},
		{name: "root name", in: mustHex(t, "00 00"), wantErr: ErrMalformed},
		{name: "dot in label", in: mustHex(t, "00 03612E62 00"), wantErr: ErrMalformed},
		{name: "ipv4 ragged", in: mustHex(t, "01 C00002"), wantErr: ErrTruncated},
		{name: "ipv4 none", in: mustHex(t, "01"), wantErr: ErrTruncated},
		{name: "unknown encoding", in: mustHex(t, "02 0161 00"), wantErr: ErrMalformed},
		{name: "name over 255", in: longName(5), wantErr: ErrMalformed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeOpt120(tt.in)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				if failure.CodeOf(err) != failure.Opt120Invalid {
					t.Errorf("code = %s", failure.CodeOf(err))
				}
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// longName is encoding 0 with one name of n 63-byte labels.
func longName(n int) []byte {
	b := []byte{0}
	for range n {
		b = append(b, 63)
		b = append(b, strings.Repeat("x", 63)...)
	}
	return append(b, 0)
}

func TestEncodeOpt120(t *testing.T) {
	got, err := EncodeOpt120Names("server.fqdn.company.com.")
	if err != nil {
		t.Fatal(err)
	}
	if want := mustHex(t, dhcputil120); !bytes.Equal(got, want) {
		t.Errorf("got %X, want %X", got, want)
	}
	for _, bad := range [][]string{nil, {""}, {"a..b"}, {strings.Repeat("a", 64)}, {"a b"}, {strings.Repeat(strings.Repeat("x", 63)+".", 4) + "x"}} {
		if b, err := EncodeOpt120Names(bad...); err == nil {
			t.Errorf("EncodeOpt120Names(%q) = %X, want error", bad, b)
		}
	}
	ips, err := EncodeOpt120IPv4(netip.MustParseAddr("192.0.2.1"))
	if err != nil || !bytes.Equal(ips, mustHex(t, "01C0000201")) {
		t.Errorf("EncodeOpt120IPv4 = %X, %v", ips, err)
	}
	if _, err := EncodeOpt120IPv4(netip.MustParseAddr("::1")); err == nil {
		t.Error("IPv6 encoded")
	}
}

func BenchmarkDecodeOpt43(b *testing.B) {
	in := mustHex(b, dhcputil43)
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, err := DecodeOpt43(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeOpt120(b *testing.B) {
	in := mustHex(b, dhcputil120)
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, err := DecodeOpt120(in); err != nil {
			b.Fatal(err)
		}
	}
}
