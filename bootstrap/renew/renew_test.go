package renew

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/deskphone/deskphone/bootstrap/certprov"
	"github.com/deskphone/deskphone/bootstrap/failure"
	"github.com/deskphone/deskphone/bootstrap/webticket"
	"github.com/deskphone/deskphone/certstore"
	"github.com/deskphone/deskphone/tools/labpool/directory"
	"github.com/deskphone/deskphone/tools/labpool/faults"
	"github.com/deskphone/deskphone/tools/labpool/pki"
	"github.com/deskphone/deskphone/tools/labpool/web"
)

const (
	alice       = "sip:alice@example.test"
	aliceDevice = "{6C7E1E4A-1B0B-4D3C-9F00-0000000000A1}"
)

var (
	testCA         *pki.CA
	oldKey, newKey *rsa.PrivateKey
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "renew-pki")
	if err != nil {
		panic(err)
	}
	testCA, err = pki.Load(dir, "example.test", nil)
	if err == nil {
		oldKey, err = certprov.GenerateKey()
	}
	if err == nil {
		newKey, err = certprov.GenerateKey()
	}
	if err != nil {
		os.RemoveAll(dir)
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			os.Stderr.WriteString("goleak: " + err.Error() + "\n")
			code = 1
		}
	}
	os.Exit(code)
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// pool is labpool's web services on a loopback port, reached as
// pool.example.test through dial (as the phone's resolver would).
type pool struct {
	dir    *directory.Directory
	faults *faults.Set
	clk    *fakeClock
	addr   string // 127.0.0.1:port
	port   int
	trust  *certstore.Trust
	logger *slog.Logger
}

func newPool(t testing.TB) *pool {
	t.Helper()
	p := &pool{faults: new(faults.Set), clk: &fakeClock{t: time.Now()},
		trust: certstore.NewTrust([]*x509.Certificate{testCA.Root()}, false)}
	p.logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	if _, ok := t.(*testing.B); ok {
		p.logger = slog.New(slog.DiscardHandler)
	}
	var err error
	p.dir, err = directory.Open("", p.logger, directory.WithClock(p.clk.Now))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.dir.AddDemoUsers(); err != nil {
		t.Fatal(err)
	}
	srv, err := web.New(web.Config{Domain: "example.test", CA: testCA, Dir: p.dir, Faults: p.faults, Now: p.clk.Now}, p.logger)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr, p.port = ln.Addr().String(), ln.Addr().(*net.TCPAddr).Port
	hs := &http.Server{Handler: srv.HTTPSHandler(), ReadHeaderTimeout: 5 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	done := make(chan struct{})
	go func() { defer close(done); _ = hs.Serve(tls.NewListener(ln, srv.TLSConfig())) }()
	t.Cleanup(func() { _ = hs.Close(); <-done })
	return p
}

// dial sends every connection to the pool's listener, whatever name was
// dialled (a resolver that maps pool.example.test to loopback).
func (p *pool) dial(ctx context.Context, network, _ string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, network, p.addr)
}

func (p *pool) certProvURL(host string) string {
	return "https://" + net.JoinHostPort(host, strconv.Itoa(p.port)) + web.CertProvPath
}

// enrol signs alice in by PIN with the existing client code, over a client
// that has no client certificate, and returns her certificate.
func (p *pool) enrol(t testing.TB) tls.Certificate {
	t.Helper()
	tr := &http.Transport{DialContext: p.dial, TLSClientConfig: p.trust.TLSConfig("pool.example.test", p.clk.Now)}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	ctx := context.Background()
	wt := &webticket.Client{HTTP: hc, Logger: p.logger}
	ep, err := wt.Discover(ctx, p.certProvURL("pool.example.test"))
	if err != nil {
		t.Fatal(err)
	}
	tk, err := wt.ByPIN(ctx, ep, "1001", "24680")
	if err != nil {
		t.Fatal(err)
	}
	csr, err := certprov.BuildCSR(oldKey, tk.SIPURI)
	if err != nil {
		t.Fatal(err)
	}
	iss, err := (&certprov.Client{HTTP: hc, Logger: p.logger, Now: p.clk.Now}).GetAndPublishCert(ctx, ep.CertProvPort, tk, csr, aliceDevice)
	if err != nil {
		t.Fatal(err)
	}
	return tlsCert(iss.Cert, oldKey, iss.Chain...)
}

func tlsCert(leaf *x509.Certificate, key crypto.Signer, chain ...*x509.Certificate) tls.Certificate {
	c := tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: key, Leaf: leaf}
	for _, x := range chain {
		c.Certificate = append(c.Certificate, x.Raw)
	}
	return c
}

func (p *pool) config(cur tls.Certificate) Config {
	return Config{CertProvURL: p.certProvURL("pool.example.test"), Trust: p.trust, Current: cur, SIPURI: alice,
		DeviceID: aliceDevice, NewKey: newKey, Dial: p.dial, Now: p.clk.Now, Logger: p.logger}
}

func wantCode(t *testing.T, err error, code failure.Code) {
	t.Helper()
	var fe *failure.Error
	if !errors.As(err, &fe) {
		t.Fatalf("err %v (%T) is not a *failure.Error", err, err)
	}
	if fe.Code != code {
		t.Fatalf("code %q, want %q (err %v)", fe.Code, code, err)
	}
}

func TestRenew(t *testing.T) {
	p := newPool(t)
	cur := p.enrol(t)
	if Due(cur.Leaf, p.clk.Now(), 0) {
		t.Fatal("a fresh certificate is due")
	}
	p.clk.Advance(web.DefaultCertValidity - 20*24*time.Hour) // 20 days left
	if !Due(cur.Leaf, p.clk.Now(), 0) {
		t.Fatal("a certificate with 20 days left is not due")
	}
	t0 := time.Now()
	iss, err := Renew(context.Background(), p.config(cur))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("renewal on loopback: %v", time.Since(t0))
	if iss.Cert.Subject.CommonName != "alice@example.test" || !iss.Cert.PublicKey.(*rsa.PublicKey).Equal(newKey.Public()) {
		t.Fatalf("renewed %v", iss.Cert.Subject)
	}
	if iss.Cert.SerialNumber.Cmp(cur.Leaf.SerialNumber) == 0 || !iss.Cert.NotAfter.After(cur.Leaf.NotAfter) {
		t.Fatal("not a new certificate")
	}
	if len(iss.Chain) != 1 || !iss.Chain[0].Equal(testCA.ClientCA()) {
		t.Fatalf("chain %d", len(iss.Chain))
	}
	if err := p.dir.CheckClientCert(alice, iss.Cert); err != nil {
		t.Fatalf("new certificate not published: %v", err)
	}
	// Directory.Publish keeps one certificate per device: the renewed one
	// replaces the PIN one.
	pub := p.dir.Published(alice)
	if len(pub) != 1 || pub[0].Serial != iss.Cert.SerialNumber.String() {
		t.Fatalf("published %+v", pub)
	}
	// The renewed certificate renews in turn.
	p.clk.Advance(web.DefaultCertValidity - 10*24*time.Hour)
	cfg := p.config(tlsCert(iss.Cert, newKey, iss.Chain...))
	cfg.NewKey = oldKey
	if _, err := Renew(context.Background(), cfg); err != nil {
		t.Fatalf("second renewal: %v", err)
	}
}

func TestRenewTwoDevices(t *testing.T) {
	// A second device of the same user renews alongside the first: both
	// certificates stay published.
	p := newPool(t)
	cur := p.enrol(t)
	cfg := p.config(cur)
	cfg.DeviceID = "{6C7E1E4A-1B0B-4D3C-9F00-0000000000B2}"
	iss, err := Renew(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if pub := p.dir.Published(alice); len(pub) != 2 {
		t.Fatalf("published %d, want 2", len(pub))
	}
	for _, c := range []*x509.Certificate{cur.Leaf, iss.Cert} {
		if err := p.dir.CheckClientCert(alice, c); err != nil {
			t.Fatal(err)
		}
	}
}

func foreignCert(t *testing.T, now time.Time) tls.Certificate {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Communications Server"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	leafTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "alice@example.test"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, oldKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tlsCert(leaf, oldKey, ca)
}

func TestRenewRefused(t *testing.T) {
	for _, tt := range []struct {
		name  string
		setup func(t *testing.T, p *pool, cfg *Config)
		code  failure.Code
	}{
		{"cert-auth-disabled", func(_ *testing.T, p *pool, _ *Config) { _ = p.faults.Add(faults.CertAuthDisabled) }, failure.CredentialsNeeded},
		{"revoked", func(t *testing.T, p *pool, _ *Config) {
			if _, err := p.dir.Revoke(alice, aliceDevice); err != nil {
				t.Fatal(err)
			}
		}, failure.CredentialsNeeded},
		{"another ca", func(t *testing.T, p *pool, cfg *Config) { cfg.Current = foreignCert(t, p.clk.Now()) }, failure.CredentialsNeeded},
		{"expired here", func(_ *testing.T, p *pool, _ *Config) { p.clk.Advance(web.DefaultCertValidity + time.Minute) }, failure.CredentialsNeeded},
		{"no current certificate", func(_ *testing.T, _ *pool, cfg *Config) { cfg.Current = tls.Certificate{} }, failure.CredentialsNeeded},
		{"certificate of another user", func(_ *testing.T, _ *pool, cfg *Config) { cfg.SIPURI = "sip:bob@example.test" }, failure.CredentialsNeeded},
		{"webticket-down", func(_ *testing.T, p *pool, _ *Config) { _ = p.faults.Add(faults.WebticketDown) }, failure.TicketUnavailable},
		{"datastore-unavailable", func(_ *testing.T, p *pool, _ *Config) { _ = p.faults.Add(faults.DatastoreUnavailable) }, failure.CertPublishFailed},
		{"hostname mismatch", func(_ *testing.T, p *pool, cfg *Config) { cfg.CertProvURL = p.certProvURL("pool.other.test") }, failure.TicketUnavailable},
		{"untrusted server", func(_ *testing.T, p *pool, _ *Config) { _ = p.faults.Add(faults.ChainUntrusted) }, failure.TicketUnavailable},
		{"no new key", func(_ *testing.T, _ *pool, cfg *Config) { cfg.NewKey = nil }, failure.Internal},
		{"http url", func(_ *testing.T, _ *pool, cfg *Config) {
			cfg.CertProvURL = strings.Replace(cfg.CertProvURL, "https:", "http:", 1)
		}, failure.Internal},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := newPool(t)
			cfg := p.config(p.enrol(t))
			tt.setup(t, p, &cfg)
			iss, err := Renew(context.Background(), cfg)
			if iss != nil {
				t.Fatal("renewed")
			}
			wantCode(t, err, tt.code)
			t.Logf("refused: %v", err)
		})
	}
}

func TestRenewAfterFaultCleared(t *testing.T) {
	p := newPool(t)
	cfg := p.config(p.enrol(t))
	_ = p.faults.Add(faults.CertAuthDisabled)
	_, err := Renew(context.Background(), cfg)
	wantCode(t, err, failure.CredentialsNeeded)
	p.faults.Clear(faults.CertAuthDisabled)
	if _, err := Renew(context.Background(), cfg); err != nil {
		t.Fatalf("after clearing cert-auth-disabled: %v", err)
	}
}

func TestDue(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cert := &x509.Certificate{NotBefore: now.Add(-150 * 24 * time.Hour), NotAfter: now.Add(30 * 24 * time.Hour)}
	for _, tt := range []struct {
		name   string
		cert   *x509.Certificate
		now    time.Time
		before time.Duration
		want   bool
	}{
		{"nil", nil, now, 0, false},
		{"31 days left", cert, now.Add(-24 * time.Hour), 0, false},
		{"exactly 30 days left", cert, now, 0, true},
		{"29 days left", cert, now.Add(24 * time.Hour), 0, true},
		{"expired", cert, now.Add(60 * 24 * time.Hour), 0, true},
		{"configured 7 days, 8 left", cert, now.Add(22 * 24 * time.Hour), 7 * 24 * time.Hour, false},
		{"configured 7 days, 6 left", cert, now.Add(24 * 24 * time.Hour), 7 * 24 * time.Hour, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := Due(tt.cert, tt.now, tt.before); got != tt.want {
				t.Fatalf("Due = %v, want %v", got, tt.want)
			}
		})
	}
}

func BenchmarkRenew(b *testing.B) {
	p := newPool(b)
	cfg := p.config(p.enrol(b))
	for b.Loop() {
		iss, err := Renew(context.Background(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		// Renew from the new certificate next, as a phone would.
		cfg.Current, cfg.NewKey = tlsCert(iss.Cert, cfg.NewKey, iss.Chain...), otherKey(cfg.NewKey)
	}
}

func otherKey(k crypto.Signer) crypto.Signer {
	if k == newKey {
		return oldKey
	}
	return newKey
}
