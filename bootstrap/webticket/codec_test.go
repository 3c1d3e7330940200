package webticket

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var (
	faultBody = readTestdata("fault.xml")
	rstrBody  = readTestdata("rstr.xml")
	mexBody   = readTestdata("mex.xml")
)

func readTestdata(name string) string {
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		panic(err)
	}
	return string(b)
}

func TestPSHA1Vector(t *testing.T) {
	// signin-protocols.md §6.7.
	client, server := make([]byte, 32), make([]byte, 32)
	for i := range client {
		client[i], server[i] = byte(i), byte(0x20+i)
	}
	got := strings.ToUpper(hex.EncodeToString(PSHA1(client, server, 32)))
	if want := "DF59132C2AF6D230E4337732076A14561694BE12838CC00203D63C816653D75B"; got != want {
		t.Fatalf("PSHA1 = %s, want %s", got, want)
	}
	if n := len(PSHA1(client, server, 50)); n != 50 {
		t.Fatalf("len = %d", n)
	}
}

func TestSecretNeverPrints(t *testing.T) {
	s := Secret("24680")
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "pin", s)
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %s %#v", s, s, s), buf.String()} {
		if strings.Contains(out, "24680") {
			t.Fatalf("secret leaked: %q", out)
		}
	}
	if s.Reveal() != "24680" {
		t.Fatal("Reveal")
	}
}

func TestParseDiagnostics(t *testing.T) {
	for _, tt := range []struct {
		in     string
		ok     bool
		id     int
		reason string
	}{
		{`28020;source="pool.example.test";reason="No valid security token."`, true, 28020, "No valid security token."},
		{`28023; reason="a;b"; source=x`, true, 28023, "a;b"},
		{`1000;reason="unterminated`, true, 1000, "unterminated"},
		{``, false, 0, ""},
		{`abc;reason="x"`, false, 0, ""},
	} {
		t.Run(tt.in, func(t *testing.T) {
			d, ok := ParseDiagnostics(tt.in)
			if ok != tt.ok || d.ErrorID != tt.id || d.Params["reason"] != tt.reason {
				t.Fatalf("got %+v %v", d, ok)
			}
		})
	}
}

func TestParseFault(t *testing.T) {
	f, ok := ParseFault([]byte(faultBody))
	if !ok || f.Code != "a:FailedAuthentication" || f.String != "No valid security token." || f.ErrorID != 28020 ||
		f.Reason != "No valid security token." {
		t.Fatalf("got %+v %v", f, ok)
	}
	if _, ok := ParseFault([]byte(`<s:Envelope xmlns:s="x"><s:Body><a/></s:Body></s:Envelope>`)); ok {
		t.Fatal("fault found in a non-fault body")
	}
}

func TestParseRSTR(t *testing.T) {
	r, err := ParseRSTR([]byte(rstrBody))
	if err != nil {
		t.Fatal(err)
	}
	if r.AssertionID != "SamlSecurityToken-1" || r.NameID != "sip:alice@example.test" || r.KeySizeBits != 256 ||
		!r.Created.Equal(time.Date(2026, 5, 22, 10, 0, 0, 0, time.UTC)) || r.Expires.Sub(r.Created) != 8*time.Hour {
		t.Fatalf("got %+v", r)
	}
	if !strings.HasPrefix(r.Assertion, `<saml:Assertion xmlns:saml=`) || !strings.HasSuffix(r.Assertion, `</saml:Assertion>`) ||
		!strings.Contains(rstrBody, r.Assertion) {
		t.Fatalf("assertion not verbatim: %q", r.Assertion)
	}
	client := make([]byte, 32)
	for i := range client {
		client[i] = byte(i)
	}
	key, err := r.ProofKey(client)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.ToUpper(hex.EncodeToString(key)); !strings.HasPrefix(got, "DF59132C") {
		t.Fatalf("proof key %s", got)
	}
	for _, bad := range []string{faultBody, `<x/>`, strings.Replace(rstrBody, "2026-05-22T18", "2026-05-22T08", 1),
		strings.Replace(rstrBody, `AssertionID="SamlSecurityToken-1"`, "", 1)} {
		if _, err := ParseRSTR([]byte(bad)); err == nil {
			t.Errorf("no error for %.60q", bad)
		}
	}
}

func TestBuildRST(t *testing.T) {
	b := string(BuildRST(RSTRequest{Context: "ctx", AppliesTo: "https://p/x?a&b", ClientEntropy: []byte{1, 2, 3},
		Username: "1001", Password: "<24680>"}))
	for _, want := range []string{
		`<wsse:Username>1001</wsse:Username>`, `#PasswordText">&lt;24680&gt;</wsse:Password>`,
		`<wst:RequestSecurityToken Context="ctx">`, `<wsa:Address>https://p/x?a&amp;b</wsa:Address>`,
		`<wst:BinarySecret>AQID</wst:BinarySecret>`, RequestTypeIssue, KeyTypeSymmetric,
	} {
		if !strings.Contains(b, want) {
			t.Errorf("missing %q in %s", want, b)
		}
	}
	if strings.Contains(b, "Claims") {
		t.Error("pin rst carries claims")
	}
	b = string(BuildRST(RSTRequest{Context: "ctx", ClaimURI: "sip:a@b"}))
	if strings.Contains(b, "soap:Header") || !strings.Contains(b, `<auth:Value>sip:a@b</auth:Value>`) {
		t.Errorf("password rst: %s", b)
	}
}

func TestPINCredentials(t *testing.T) {
	u, p := pinCredentials("1001", "24680", false)
	if u != "1001" || p != "24680" {
		t.Fatal(u, p)
	}
	u, p = pinCredentials("1001", "24680", true)
	if u != "MTAwMQ==" || p != "MjQ2ODA=" {
		t.Fatal(u, p)
	}
}

func TestParseWSDL(t *testing.T) {
	w, err := ParseWSDL([]byte(mexBody))
	if err != nil {
		t.Fatal(err)
	}
	if w.Ports[PortCertProvProof] != "https://pool/CertProv/CertProvisioningService.svc/WebTicket_Proof_SHA1" {
		t.Errorf("ports %v", w.Ports)
	}
	if p := w.Policies[PolicyCertProvProof]; p.Issuer != "https://pool/WebTicket/WebTicketService.svc" || !p.Proof {
		t.Errorf("policy %+v", p)
	}
	if p := w.Policies["B_policy"]; p.Issuer != "https://b" || p.Proof {
		t.Errorf("bearer policy %+v", p)
	}
	if _, err := ParseWSDL([]byte(`<x/>`)); err == nil {
		t.Error("non-wsdl accepted")
	}
}

func TestParseWebTicketMex(t *testing.T) {
	// As labpool serves it: every binding name of §4.1 it offers.
	w, err := ParseWSDL([]byte(readTestdata("webticket-mex.xml")))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		PortWebTicketWinNego: "https://pool.example.test/WebTicket/WebTicketService.svc",
		PortWebTicketPin:     "https://pool.example.test/WebTicket/WebTicketService.svc/pin",
		PortWebTicketCert:    "https://pool.example.test/WebTicket/WebTicketService.svc/cert",
	} {
		if got := w.Ports[name]; got != want {
			t.Errorf("port %s = %q, want %q", name, got, want)
		}
	}
}
