package certprov

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/x509"
	"encoding/base64"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/deskphone/deskphone/bootstrap/webticket"
)

var update = flag.Bool("update", false, "rewrite golden files")

const testAssertion = `<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:1.0:assertion" MajorVersion="1" MinorVersion="1" AssertionID="SamlSecurityToken-00000000-0000-0000-0000-000000000001"><saml:AuthenticationStatement><saml:Subject><saml:NameIdentifier Format="http://schemas.xmlsoap.org/ws/2005/05/identity/claims/uri">sip:alice@example.test</saml:NameIdentifier></saml:Subject></saml:AuthenticationStatement></saml:Assertion>`

func testTicket() *webticket.Ticket {
	client, server := make([]byte, 32), make([]byte, 32)
	for i := range client {
		client[i], server[i] = byte(i), byte(0x20+i)
	}
	created := time.Date(2026, 5, 22, 10, 0, 0, 0, time.UTC)
	return &webticket.Ticket{Assertion: testAssertion, AssertionID: "SamlSecurityToken-00000000-0000-0000-0000-000000000001",
		SIPURI: "sip:alice@example.test", Created: created, Expires: created.Add(8 * time.Hour),
		ProofKey: webticket.PSHA1(client, server, 32)}
}

func testCSR(t testing.TB) []byte {
	b, err := os.ReadFile(filepath.Join("testdata", "csr.der"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testRequest(t testing.TB) Request {
	return Request{PortURL: "https://pool.example.test/CertProv/CertProvisioningService.svc/WebTicket_Proof_SHA1",
		MessageID: "11111111-1111-1111-1111-111111111111", RequestID: "22222222-2222-2222-2222-222222222222",
		DeviceID: "33333333-3333-3333-3333-333333333333", CSR: testCSR(t), Ticket: testTicket()}
}

func TestEnvelopeGolden(t *testing.T) {
	got, err := BuildEnvelope(testRequest(t))
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "envelope.golden")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("envelope differs from %s (run with -update)\n got: %s", golden, got)
	}
	s := string(got)
	for _, w := range []string{
		`xmlns:wst="http://docs.oasis-open.org/ws-sx/ws-trust/200512/"`, // trailing slash in the body
		`xmlns:wst="http://docs.oasis-open.org/ws-sx/ws-trust/200512"`,  // none on the envelope
		`DeviceId="{33333333-3333-3333-3333-333333333333}" Entity="alice@example.test"`,
		`<wsa:MessageID>uuid:11111111-1111-1111-1111-111111111111</wsa:MessageID>`,
		`<wstep:RequestID>22222222-2222-2222-2222-222222222222</wstep:RequestID>`,
		`<wsa:To>https://pool.example.test/CertProv/CertProvisioningService.svc/WebTicket_Proof_SHA1</wsa:To>`,
		`<wsa:Action>` + SOAPAction + `</wsa:Action>`,
		`<wsu:Created>2026-05-22T10:00:00.000Z</wsu:Created><wsu:Expires>2026-05-22T18:00:00.000Z</wsu:Expires>`,
		testAssertion,
	} {
		if !strings.Contains(s, w) {
			t.Errorf("envelope lacks %q", w)
		}
	}
}

func TestWrapBase64(t *testing.T) {
	der := bytes.Repeat([]byte{0xAB}, 200)
	w := WrapBase64(der)
	if !strings.HasPrefix(w, "\r\n") {
		t.Fatal("no leading CRLF")
	}
	lines := strings.Split(w[2:], "\r\n")
	for i, l := range lines {
		if (i < len(lines)-1 && len(l) != 76) || len(l) > 76 || len(l) == 0 {
			t.Fatalf("line %d has %d chars", i, len(l))
		}
	}
	back, err := decodeB64(w)
	if err != nil || !bytes.Equal(back, der) {
		t.Fatal("round trip")
	}
}

// TestSignatureIndependent recomputes the digest and the HMAC from the
// envelope as a receiver would: from the literal bytes (which must already
// be canonical) and through a detached exc-c14n of the parsed elements.
func TestSignatureIndependent(t *testing.T) {
	env, err := BuildEnvelope(testRequest(t))
	if err != nil {
		t.Fatal(err)
	}
	key := testTicket().ProofKey
	lit := func(re string) string {
		m := regexp.MustCompile(re).FindString(string(env))
		if m == "" {
			t.Fatalf("no match for %s", re)
		}
		return m
	}
	tsLit := lit(`<wsu:Timestamp .*?</wsu:Timestamp>`)
	siLit := lit(`<SignedInfo .*?</SignedInfo>`)
	digest := regexp.MustCompile(`<DigestValue>(.*?)</DigestValue>`).FindStringSubmatch(siLit)[1]
	sigVal := regexp.MustCompile(`<SignatureValue>(.*?)</SignatureValue>`).FindStringSubmatch(string(env))[1]

	d := sha1.Sum([]byte(tsLit))
	if base64.StdEncoding.EncodeToString(d[:]) != digest {
		t.Fatal("literal timestamp digest mismatch")
	}
	m := hmac.New(sha1.New, key)
	m.Write([]byte(siLit))
	if base64.StdEncoding.EncodeToString(m.Sum(nil)) != sigVal {
		t.Fatal("literal signedinfo hmac mismatch")
	}

	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(env); err != nil {
		t.Fatal(err)
	}
	ts := doc.FindElement("//Security/Timestamp")
	si := doc.FindElement("//Security/Signature/SignedInfo")
	if ts == nil || si == nil {
		t.Fatal("timestamp or signedinfo not found")
	}
	cts, err := ExcC14N(ts)
	if err != nil {
		t.Fatal(err)
	}
	csi, err := ExcC14N(si)
	if err != nil {
		t.Fatal(err)
	}
	if string(cts) != tsLit || string(csi) != siLit {
		t.Fatalf("canonical forms differ from the literal ones:\n%s\n%s", cts, csi)
	}
	if got := doc.FindElement("//Signature/KeyInfo/SecurityTokenReference/KeyIdentifier").Text(); got != testTicket().AssertionID {
		t.Fatalf("key identifier %q", got)
	}
}

func TestBuildCSR(t *testing.T) {
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if k.N.BitLen() != 2048 || k.E != 65537 {
		t.Fatalf("key %d bits e=%d", k.N.BitLen(), k.E)
	}
	der, err := BuildCSR(k, "sip:alice@example.test")
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		t.Fatal(err)
	}
	if err := csr.CheckSignature(); err != nil {
		t.Fatal(err)
	}
	//lint:ignore SA1019 the deprecated field is exactly what must be empty: no CSR attributes (§3.4).
	if csr.Version != 0 || csr.Subject.String() != "CN=alice@example.test" || len(csr.Attributes) != 0 ||
		len(csr.Extensions) != 0 || len(csr.DNSNames) != 0 {
		t.Fatalf("csr %+v", csr)
	}
	if _, err := BuildCSR(k, "sip:"); err == nil {
		t.Fatal("empty uri accepted")
	}
}

func TestParseResponse(t *testing.T) {
	for _, tt := range []struct {
		name, body string
		ok, hasErr bool
		code       string
	}{
		{"cert+chain", respOK, true, false, ""},
		{"errorinfo", respErr, true, true, "DataStoreUnavailable"},
		{"no response", `<s:Envelope xmlns:s="x"><s:Body/></s:Envelope>`, false, false, ""},
		{"bad b64", strings.Replace(respOK, "MIIB", "!!!!", 1), false, false, ""},
		{"not xml", `nope`, false, false, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseResponse([]byte(tt.body))
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v", err)
			}
			if err != nil {
				return
			}
			if r.HasError != tt.hasErr || r.ErrorCode != tt.code {
				t.Fatalf("got %+v", r)
			}
			if !r.HasError && (len(r.Cert) == 0 || len(r.Chain) == 0) {
				t.Fatalf("cert %d chain %d", len(r.Cert), len(r.Chain))
			}
		})
	}
}

var (
	respOK = fmt.Sprintf(`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><GetAndPublishCertResponse xmlns="http://schemas.microsoft.com/OCS/AuthWebServices/"><RequestSecurityTokenResponse xmlns="http://docs.oasis-open.org/ws-sx/ws-trust/200512"><TokenType>%s</TokenType><RequestedSecurityToken><BinarySecurityToken xmlns="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd" ValueType="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3">MIIBxx==</BinarySecurityToken></RequestedSecurityToken><BinarySecurityToken xmlns="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd" ValueType="%s">%s</BinarySecurityToken></RequestSecurityTokenResponse></GetAndPublishCertResponse></s:Body></s:Envelope>`,
		TokenTypeX509v3, ValueTypePKCS7, WrapBase64([]byte("chain")))
	respErr = `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><GetAndPublishCertResponse xmlns="http://schemas.microsoft.com/OCS/AuthWebServices/"><ErrorInfo><ErrorCode>DataStoreUnavailable</ErrorCode><Message>The user store is unavailable.</Message></ErrorInfo></GetAndPublishCertResponse></s:Body></s:Envelope>`
)

func FuzzParseResponse(f *testing.F) {
	f.Add([]byte(respOK))
	f.Add([]byte(respErr))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseResponse(b)
		if err != nil {
			return
		}
		if !r.HasError && len(r.Cert) == 0 {
			t.Fatal("success without certificate")
		}
	})
}

func BenchmarkGenerateKey(b *testing.B) {
	for b.Loop() {
		if _, err := GenerateKey(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBuildCSR(b *testing.B) {
	k, err := GenerateKey()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := BuildCSR(k, "sip:alice@example.test"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBuildEnvelope(b *testing.B) {
	r := testRequest(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := BuildEnvelope(r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseResponse(b *testing.B) {
	body := []byte(respOK)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseResponse(body); err != nil {
			b.Fatal(err)
		}
	}
}
