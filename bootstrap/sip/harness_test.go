package sip

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"
	"github.com/miekg/dns"
	"go.uber.org/goleak"

	"github.com/deskphone/deskphone/bootstrap/discover"
	"github.com/deskphone/deskphone/tools/labpool/registrar"
)

func TestMain(m *testing.M) {
	// sipgo logs through its own package default; keep test output to ours.
	gosip.SetDefaultLogger(slog.New(slog.DiscardHandler))
	goleak.VerifyTestMain(m)
}

// testPKI is a test CA with a pool certificate (every *.example.test name
// the tests use) and client certificates for alice.
type testPKI struct {
	roots   *x509.CertPool
	pool    tls.Certificate
	alice   tls.Certificate // valid
	expired tls.Certificate // NotAfter in the past
}

var (
	pkiOnce sync.Once
	pki     *testPKI
)

func getPKI(t *testing.T) *testPKI {
	t.Helper()
	pkiOnce.Do(func() { pki = makePKI(t) })
	return pki
}

func makePKI(t *testing.T) *testPKI {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "labpool test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	p := &testPKI{roots: x509.NewCertPool()}
	p.roots.AddCert(ca)
	leaf := func(serial int64, cn string, notAfter time.Time, mod func(*x509.Certificate)) tls.Certificate {
		// RSA: TLS-DSK uses RSA key exchange. 1024 bits keeps the tests fast.
		key, err := rsa.GenerateKey(rand.Reader, 1024)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: now.Add(-2 * time.Hour), NotAfter: notAfter,
			KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		}
		mod(tmpl)
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := x509.ParseCertificate(der)
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: c}
	}
	p.pool = leaf(2, "pool.example.test", now.Add(24*time.Hour), func(c *x509.Certificate) {
		c.DNSNames = []string{"pool.example.test", "home.example.test", "backup.example.test", "dir2.example.test", "down.example.test", "busy.example.test", "mute.example.test"}
		c.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
		c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	})
	sipURI, _ := url.Parse("sip:alice@example.test")
	p.alice = leaf(3, "alice@example.test", now.Add(12*time.Hour), func(c *x509.Certificate) {
		c.URIs = []*url.URL{sipURI}
		c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	})
	p.expired = leaf(4, "alice@example.test", now.Add(-time.Hour), func(c *x509.Certificate) {
		c.URIs = []*url.URL{sipURI}
		c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	})
	return p
}

// directory is a fake labpool directory: published, not revoked.
type directory struct {
	mu      sync.Mutex
	revoked map[string]bool // serial
}

func (d *directory) CheckClientCert(sipURI string, cert *x509.Certificate) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.revoked[cert.SerialNumber.String()] {
		return errors.New("certificate revoked")
	}
	for _, u := range cert.URIs {
		if u.String() == sipURI {
			return nil
		}
	}
	return errors.New("certificate not published for " + sipURI)
}

// testDNS answers A 127.0.0.1 for every name under example.test.
func testDNS(t *testing.T) *net.Resolver {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		for _, q := range r.Question {
			if q.Qtype == dns.TypeA && strings.HasSuffix(q.Name, "example.test.") {
				m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(127, 0, 0, 1)})
			}
		}
		if !strings.HasSuffix(r.Question[0].Name, "example.test.") {
			m.Rcode = dns.RcodeNameError
		}
		_ = w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })
	addr := pc.LocalAddr().String()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", addr)
	}}
}

// logBuf is a concurrency-safe log sink for grepping.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newLogger(t *testing.T, buf *logBuf) *slog.Logger {
	var w io.Writer = t.Output()
	if buf != nil {
		w = io.MultiWriter(w, buf)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// pool is a running labpool registrar.
type pool struct {
	srv  *registrar.Server
	ep   discover.Endpoint
	logs *logBuf
	dir  *directory
}

func startPool(t *testing.T, fqdn string, mod func(*registrar.Config)) *pool {
	t.Helper()
	p := getPKI(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pl := &pool{logs: &logBuf{}, dir: &directory{revoked: map[string]bool{}}}
	cfg := registrar.Config{
		Domain: "example.test", FQDN: fqdn,
		TLS:            &tls.Config{Certificates: []tls.Certificate{p.pool}, MinVersion: tls.VersionTLS12},
		DSKCertificate: p.pool,
		Certs:          pl.dir,
		STSURI:         "https://" + fqdn + ":443/CertProv/CertProvisioningService.svc",
		Logger:         newLogger(t, pl.logs).With("pool", fqdn),
	}
	if mod != nil {
		mod(&cfg)
	}
	pl.srv, err = registrar.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- pl.srv.ServeTLS(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("registrar serve: %v", err)
		}
	})
	pl.ep = discover.Endpoint{Host: fqdn, Port: ln.Addr().(*net.TCPAddr).Port}
	return pl
}

// phoneConfig is a Config for alice against eps.
func phoneConfig(t *testing.T, res *net.Resolver, logs *logBuf, eps ...discover.Endpoint) Config {
	p := getPKI(t)
	return Config{
		SIPURI:      "sip:alice@example.test",
		Registrars:  eps,
		Certificate: p.alice,
		TLSConfig: func(name string) *tls.Config {
			return &tls.Config{RootCAs: p.roots, ServerName: name, MinVersion: tls.VersionTLS12}
		},
		Resolver:  res,
		Epid:      "451e9252b6",
		UserAgent: "deskphone/test",
		Timeout:   3 * time.Second,
		Logger:    newLogger(t, logs),
	}
}

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}
