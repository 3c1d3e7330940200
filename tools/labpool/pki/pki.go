// Package pki is labpool's certificate authority. On first start it creates,
// under a state directory, a pool root CA, an issuing intermediate for the
// web and SIP server certificates, a "Communications Server"
// client-certificate CA (the CA that signs GetAndPublishCert certificates,
// as a Lync pool's internal CA does), and a separate untrusted CA for the
// chain-untrusted fault. Certificates are PEM files; private keys are
// PKCS#8 PEM files with mode 0600, written atomically.
//
// CA keys are ECDSA P-256 (fast to create); the server leaf keys are
// RSA-2048 because TLS-DSK negotiates RSA key exchange suites
// (signin-protocols.md §8.1).
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/deskphone/deskphone/device/atomicfile"
)

// Client CSR key policy (MinCSRKeySize / MaxCSRKeySize range, §3.4).
const (
	MinClientKeyBits = 1024
	MaxClientKeyBits = 16384
)

// ErrKeyPolicy means a CSR key is not acceptable.
var ErrKeyPolicy = errors.New("pki: csr key not allowed")

// CA holds the pool's certificate authorities and server certificates.
// It is safe for concurrent use (it is read-only after Load).
type CA struct {
	dir, domain string

	root, inter, client, untrustedRoot *x509.Certificate
	interKey, clientKey                crypto.Signer

	server, untrusted tls.Certificate
	clientPool        *x509.CertPool
}

type pair struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// Load opens the CA in dir for domain, creating whatever is missing. Server
// certificates that are expiring within 30 days, or do not cover
// pool.<domain>, are reissued.
func Load(dir, domain string, logger *slog.Logger) (*CA, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "pki")
	if domain == "" {
		return nil, errors.New("pki: load: empty domain")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("pki: load: %w", err)
	}
	now := time.Now()
	c := &CA{dir: dir, domain: domain}
	get := func(name string, mk func() (pair, error), ok func(pair) bool) (pair, error) {
		p, err := c.read(name)
		if err == nil && (ok == nil || ok(p)) {
			return p, nil
		}
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return pair{}, err
		}
		if p, err = mk(); err != nil {
			return pair{}, fmt.Errorf("pki: create %s: %w", name, err)
		}
		if err := c.write(name, p); err != nil {
			return pair{}, err
		}
		logger.Info("certificate created", "name", name, "subject", p.cert.Subject.String(), "not_after", p.cert.NotAfter)
		return p, nil
	}
	fresh := func(p pair) bool {
		return p.cert.VerifyHostname(c.FQDN()) == nil && p.cert.NotAfter.After(now.Add(30*24*time.Hour))
	}
	root, err := get("ca", func() (pair, error) {
		return selfSigned(pkix.Name{CommonName: "Labpool Root CA " + domain, Organization: []string{"deskphone labpool"}}, 10)
	}, nil)
	if err != nil {
		return nil, err
	}
	inter, err := get("intermediate", func() (pair, error) {
		return issueCA(root, pkix.Name{CommonName: "Labpool Issuing CA " + domain, Organization: []string{"deskphone labpool"}}, 5)
	}, func(p pair) bool { return p.cert.CheckSignatureFrom(root.cert) == nil })
	if err != nil {
		return nil, err
	}
	// The client-certificate CA hangs off the pool root, as an enterprise
	// CA would: a certificate a technician's laptop relays to the phone can
	// then be verified to the phone's site root.
	client, err := get("clientca", func() (pair, error) {
		return issueCA(root, pkix.Name{CommonName: "Communications Server", Organization: []string{"deskphone labpool"}}, 5)
	}, func(p pair) bool { return p.cert.CheckSignatureFrom(root.cert) == nil })
	if err != nil {
		return nil, err
	}
	server, err := get("server", func() (pair, error) { return c.issueServer(inter) },
		func(p pair) bool { return fresh(p) && p.cert.CheckSignatureFrom(inter.cert) == nil })
	if err != nil {
		return nil, err
	}
	uroot, err := get("untrusted-ca", func() (pair, error) {
		return selfSigned(pkix.Name{CommonName: "Untrusted Lab CA " + domain, Organization: []string{"somewhere else"}}, 10)
	}, nil)
	if err != nil {
		return nil, err
	}
	userver, err := get("untrusted-server", func() (pair, error) { return c.issueServer(uroot) },
		func(p pair) bool { return fresh(p) && p.cert.CheckSignatureFrom(uroot.cert) == nil })
	if err != nil {
		return nil, err
	}
	c.root, c.inter, c.client, c.untrustedRoot = root.cert, inter.cert, client.cert, uroot.cert
	c.interKey, c.clientKey = inter.key, client.key
	c.server = tls.Certificate{Certificate: [][]byte{server.cert.Raw, inter.cert.Raw}, PrivateKey: server.key, Leaf: server.cert}
	c.untrusted = tls.Certificate{Certificate: [][]byte{userver.cert.Raw}, PrivateKey: userver.key, Leaf: userver.cert}
	c.clientPool = x509.NewCertPool()
	c.clientPool.AddCert(client.cert)
	return c, nil
}

// FQDN is the pool's name, pool.<domain>.
func (c *CA) FQDN() string { return "pool." + c.domain }

// RootPEMPath is the absolute path of the root CA certificate (ca.pem), the
// ready line's ca_pem.
func (c *CA) RootPEMPath() string {
	p, err := filepath.Abs(filepath.Join(c.dir, "ca.pem"))
	if err != nil {
		return filepath.Join(c.dir, "ca.pem")
	}
	return p
}

// Root returns the pool root CA certificate.
func (c *CA) Root() *x509.Certificate { return c.root }

// RootPool returns a pool holding only the root CA (what a client trusts).
func (c *CA) RootPool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c.root)
	return p
}

// ServerCertificate is the web/SIP server certificate (leaf + intermediate)
// for pool.<domain>, *.<domain>, 127.0.0.1 and ::1.
func (c *CA) ServerCertificate() tls.Certificate { return c.server }

// UntrustedServerCertificate has the same names, from a CA that is not the
// root (the chain-untrusted fault).
func (c *CA) UntrustedServerCertificate() tls.Certificate { return c.untrusted }

// Chain is what the chain download serves: intermediate, then root.
func (c *CA) Chain() []*x509.Certificate { return []*x509.Certificate{c.inter, c.root} }

// UntrustedChain is the chain served while chain-untrusted is on.
func (c *CA) UntrustedChain() []*x509.Certificate { return []*x509.Certificate{c.untrustedRoot} }

// ClientCA is the certificate that signs user certificates.
func (c *CA) ClientCA() *x509.Certificate { return c.client }

// ClientCAPool holds the client-certificate CA (for verifying the phone's
// certificate in SIP TLS-DSK).
func (c *CA) ClientCAPool() *x509.CertPool { return c.clientPool.Clone() }

// IssueClient issues a user certificate for csr from the client CA, valid
// from now−5 min for validity. The CSR must be self-signed correctly and
// carry an RSA key of MinClientKeyBits..MaxClientKeyBits bits and a CN.
func (c *CA) IssueClient(csr *x509.CertificateRequest, validity time.Duration, now time.Time) (*x509.Certificate, error) {
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("pki: issue client: csr signature: %w", err)
	}
	k, ok := csr.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: %T is not rsa", ErrKeyPolicy, csr.PublicKey)
	}
	if n := k.N.BitLen(); n < MinClientKeyBits || n > MaxClientKeyBits {
		return nil, fmt.Errorf("%w: %d bits", ErrKeyPolicy, n)
	}
	if csr.Subject.CommonName == "" {
		return nil, errors.New("pki: issue client: csr has no common name")
	}
	if validity <= 0 {
		return nil, errors.New("pki: issue client: bad validity")
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: csr.Subject.CommonName},
		NotBefore:    now.Add(-5 * time.Minute),
		NotAfter:     now.Add(validity),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.client, csr.PublicKey, c.clientKey)
	if err != nil {
		return nil, fmt.Errorf("pki: issue client: %w", err)
	}
	return x509.ParseCertificate(der)
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return n.Add(n, big.NewInt(1))
}

func newECKey() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) }

func selfSigned(name pkix.Name, years int) (pair, error) {
	key, err := newECKey()
	if err != nil {
		return pair{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: name,
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(years, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true, IsCA: true,
	}
	return create(tmpl, tmpl, key, key)
}

func issueCA(parent pair, name pkix.Name, years int) (pair, error) {
	key, err := newECKey()
	if err != nil {
		return pair{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: name,
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(years, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true, IsCA: true, MaxPathLen: 0, MaxPathLenZero: true,
	}
	return create(tmpl, parent.cert, key, parent.key)
}

func (c *CA) issueServer(parent pair) (pair, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return pair{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: c.FQDN()},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:    []string{c.FQDN(), "*." + c.domain},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	return create(tmpl, parent.cert, key, parent.key)
}

func create(tmpl, parent *x509.Certificate, key, parentKey crypto.Signer) (pair, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		return pair{}, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return pair{}, err
	}
	return pair{cert: cert, key: key}, nil
}

func (c *CA) read(name string) (pair, error) {
	cb, err := os.ReadFile(filepath.Join(c.dir, name+".pem"))
	if err != nil {
		return pair{}, err
	}
	kb, err := os.ReadFile(filepath.Join(c.dir, name+".key"))
	if err != nil {
		return pair{}, err
	}
	cblk, _ := pem.Decode(cb)
	kblk, _ := pem.Decode(kb)
	if cblk == nil || cblk.Type != "CERTIFICATE" || kblk == nil || kblk.Type != "PRIVATE KEY" {
		return pair{}, fmt.Errorf("pki: read %s: bad pem", name)
	}
	cert, err := x509.ParseCertificate(cblk.Bytes)
	if err != nil {
		return pair{}, fmt.Errorf("pki: read %s: %w", name, err)
	}
	k, err := x509.ParsePKCS8PrivateKey(kblk.Bytes)
	if err != nil {
		return pair{}, fmt.Errorf("pki: read %s key: %w", name, err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return pair{}, fmt.Errorf("pki: read %s key: %T is not a signer", name, k)
	}
	type pub interface{ Equal(crypto.PublicKey) bool }
	if p, ok := signer.Public().(pub); !ok || !p.Equal(cert.PublicKey) {
		return pair{}, fmt.Errorf("pki: read %s: key does not match certificate", name)
	}
	return pair{cert: cert, key: signer}, nil
}

func (c *CA) write(name string, p pair) error {
	kd, err := x509.MarshalPKCS8PrivateKey(p.key)
	if err != nil {
		return fmt.Errorf("pki: write %s: %w", name, err)
	}
	if err := atomicfile.WriteFile(filepath.Join(c.dir, name+".key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}), 0o600); err != nil {
		return fmt.Errorf("pki: write %s: %w", name, err)
	}
	if err := atomicfile.WriteFile(filepath.Join(c.dir, name+".pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.cert.Raw}), 0o644); err != nil {
		return fmt.Errorf("pki: write %s: %w", name, err)
	}
	return nil
}

// PEM returns certs PEM-encoded, concatenated.
func PEM(certs ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}
