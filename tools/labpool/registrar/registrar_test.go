package registrar

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"log/slog"
	"math/big"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	gosip "github.com/emiago/sipgo/sip"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	gosip.SetDefaultLogger(slog.New(slog.DiscardHandler))
	goleak.VerifyTestMain(m)
}

type allow struct{}

func (allow) CheckClientCert(string, *x509.Certificate) error { return nil }

func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pool.example.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"pool.example.test"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	roots := x509.NewCertPool()
	roots.AddCert(c)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: c}, roots
}

func TestNewValidates(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  Config
	}{
		{"no domain", Config{FQDN: "p"}},
		{"no dsk cert", Config{Domain: "d", FQDN: "p", Certs: allow{}}},
		{"no checker", Config{Domain: "d", FQDN: "p", DSKCertificate: tls.Certificate{Certificate: [][]byte{{1}}}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.cfg); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

// A client choosing NTLM is told clearly that only TLS-DSK is implemented;
// an unauthenticated REGISTER gets the three challenges.
func TestChallengesAndNTLMRefused(t *testing.T) {
	cert, roots := selfSigned(t)
	srv, err := New(Config{Domain: "example.test", FQDN: "pool.example.test", DSKCertificate: cert, Certs: allow{},
		TLS: &tls.Config{Certificates: []tls.Certificate{cert}}, STSURI: "https://pool.example.test/CertProv/CertProvisioningService.svc"})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.ServeTLS(ctx, ln) }()
	defer func() { cancel(); <-done }()

	ua, err := sipgo.NewUA(sipgo.WithUserAgenTLSConfig(&tls.Config{RootCAs: roots, ServerName: "pool.example.test"}))
	if err != nil {
		t.Fatal(err)
	}
	defer ua.Close()
	client, _ := sipgo.NewClient(ua)
	send := func(authz string) *gosip.Response {
		req := gosip.NewRequest(gosip.REGISTER, gosip.Uri{Scheme: "sip", Host: "example.test"})
		from := &gosip.FromHeader{Address: gosip.Uri{Scheme: "sip", User: "alice", Host: "example.test"}, Params: gosip.NewParams()}
		from.Params.Add("tag", "abc")
		from.Params.Add("epid", "451e9252b6")
		req.AppendHeader(from)
		req.AppendHeader(&gosip.ToHeader{Address: gosip.Uri{Scheme: "sip", User: "alice", Host: "example.test"}})
		if authz != "" {
			req.AppendHeader(gosip.NewHeader("Authorization", authz))
		}
		req.SetTransport("TLS")
		req.SetDestination("127.0.0.1:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
		rctx, rcancel := context.WithTimeout(ctx, 3*time.Second)
		defer rcancel()
		res, err := client.Do(rctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	res := send("")
	var schemes []string
	for _, h := range res.GetHeaders("WWW-Authenticate") {
		schemes = append(schemes, strings.Fields(h.Value())[0])
	}
	if res.StatusCode != 401 || strings.Join(schemes, ",") != "NTLM,Kerberos,TLS-DSK" || !strings.Contains(res.GetHeaders("WWW-Authenticate")[2].Value(), "sts-uri=") {
		t.Fatalf("challenge %d %v", res.StatusCode, schemes)
	}
	res = send(`NTLM qop="auth", realm="SIP Communications Service", targetname="pool.example.test", gssapi-data="", version=4`)
	if d := res.GetHeader("ms-diagnostics"); res.StatusCode != 403 || d == nil || !strings.Contains(d.Value(), "not implemented") {
		t.Fatalf("NTLM answered %d %v", res.StatusCode, d)
	}
}
