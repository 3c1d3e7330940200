package tlsdsk

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"sync"
	"testing"
	"time"
)

// testPKI is a throwaway CA hierarchy: root → intermediate → server leaf, and a client
// (user) certificate issued by the root, plus an unrelated root.
type testPKI struct {
	root, inter, otherRoot *x509.Certificate
	rootPool, otherPool    *x509.CertPool
	interPool              *x509.CertPool
	server                 tls.Certificate // leaf + intermediate
	serverLeafOnly         tls.Certificate // leaf only
	client                 tls.Certificate
}

var (
	pkiOnce sync.Once
	pki     testPKI
)

const serverName = "pool01.lab.example"

func getPKI(t testing.TB) *testPKI {
	t.Helper()
	pkiOnce.Do(func() { pki = makePKI() })
	return &pki
}

func rsaKey(bits int) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		panic(err)
	}
	return k
}

func ecKey() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}

var serial int64

func issue(tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) *x509.Certificate {
	serial++
	tmpl.SerialNumber = big.NewInt(serial)
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		panic(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		panic(err)
	}
	return c
}

func caTmpl(cn string) *x509.Certificate {
	return &x509.Certificate{
		Subject:               pkix.Name{CommonName: cn},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
}

func makePKI() testPKI {
	var p testPKI
	rootKey, interKey, otherKey := ecKey(), ecKey(), ecKey()
	p.root = issue(caTmpl("deskphone test root"), nil, rootKey.Public(), rootKey)
	p.inter = issue(caTmpl("deskphone test intermediate"), p.root, interKey.Public(), rootKey)
	p.otherRoot = issue(caTmpl("unrelated root"), nil, otherKey.Public(), otherKey)
	p.rootPool, p.otherPool, p.interPool = x509.NewCertPool(), x509.NewCertPool(), x509.NewCertPool()
	p.rootPool.AddCert(p.root)
	p.otherPool.AddCert(p.otherRoot)
	p.interPool.AddCert(p.inter)

	serverKey := rsaKey(2048)
	leaf := issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: serverName},
		DNSNames:    []string{serverName},
		KeyUsage:    x509.KeyUsageKeyEncipherment | x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, p.inter, serverKey.Public(), interKey)
	p.server = tls.Certificate{Certificate: [][]byte{leaf.Raw, p.inter.Raw}, PrivateKey: serverKey, Leaf: leaf}
	p.serverLeafOnly = tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: serverKey, Leaf: leaf}

	clientKey := rsaKey(2048)
	cl := issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "alice@lab.example"},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, p.root, clientKey.Public(), rootKey)
	p.client = tls.Certificate{Certificate: [][]byte{cl.Raw}, PrivateKey: clientKey, Leaf: cl}
	return p
}
