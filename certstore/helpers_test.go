package certstore

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"log/slog"
	"math/big"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// t0 is the fixed "now" of the tests.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// rsaKeys are generated once per test binary: RSA 2048 generation is slow,
// more so under -race.
var rsaKeys = sync.OnceValue(func() []*rsa.PrivateKey {
	var ks []*rsa.PrivateKey
	for range 3 {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		ks = append(ks, k)
	}
	return ks
})

func rsaKey(t testing.TB, i int) *rsa.PrivateKey {
	t.Helper()
	return rsaKeys()[i]
}

func ecKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var serial int64

// certSpec describes a test certificate.
type certSpec struct {
	cn        string
	ca        bool
	dns       []string
	notBefore time.Time
	notAfter  time.Time
	eku       []x509.ExtKeyUsage
}

// issue makes a certificate for pub signed by parent/parentKey (self-signed
// when parent is nil).
func issue(t testing.TB, s certSpec, pub crypto.PublicKey, parent *x509.Certificate, parentKey crypto.Signer) *x509.Certificate {
	t.Helper()
	serial++
	if s.notBefore.IsZero() {
		s.notBefore = t0.Add(-24 * time.Hour)
	}
	if s.notAfter.IsZero() {
		s.notAfter = t0.Add(180 * 24 * time.Hour)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{CommonName: s.cn, Organization: []string{"deskphone test"}},
		NotBefore:             s.notBefore,
		NotAfter:              s.notAfter,
		DNSNames:              s.dns,
		BasicConstraintsValid: true,
		IsCA:                  s.ca,
		ExtKeyUsage:           s.eku,
	}
	if s.ca {
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	} else {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
	}
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// pki is a test CA hierarchy: root → intermediate → server leaf.
type pki struct {
	root, inter, leaf          *x509.Certificate
	rootKey, interKey, leafKey *ecdsa.PrivateKey
}

func newPKI(t testing.TB, host string) *pki {
	t.Helper()
	p := &pki{rootKey: ecKey(t), interKey: ecKey(t), leafKey: ecKey(t)}
	p.root = issue(t, certSpec{cn: "Test Root CA", ca: true}, &p.rootKey.PublicKey, nil, p.rootKey)
	p.inter = issue(t, certSpec{cn: "Test Issuing CA", ca: true}, &p.interKey.PublicKey, p.root, p.rootKey)
	p.leaf = issue(t, certSpec{cn: host, dns: []string{host}, eku: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}},
		&p.leafKey.PublicKey, p.inter, p.interKey)
	return p
}

// testRecord returns a record with RSA key i and a certificate for it.
func testRecord(t testing.TB, i int, p *pki) *Record {
	t.Helper()
	k := rsaKey(t, i)
	cert := issue(t, certSpec{cn: "alice@example.test", eku: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}},
		&k.PublicKey, p.inter, p.interKey)
	return &Record{
		Key:      k,
		Cert:     cert,
		Chain:    []*x509.Certificate{p.inter},
		SIPURI:   "sip:alice@example.test",
		DeviceID: "0004f2aabbcc",
		Epid:     "01010101ab",
		Pool:     "pool.example.test",
		NotAfter: cert.NotAfter,
	}
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), nil))
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
