package certstore

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deskphone/deskphone/board/sim"
)

func TestBundled(t *testing.T) {
	b := Bundled()
	if len(b) < 100 {
		t.Fatalf("Bundled() = %d roots, want Mozilla's set (>100)", len(b))
	}
	for _, c := range b {
		if !c.IsCA && c.Version == 3 {
			t.Errorf("bundled root %s is not a CA", c.Subject)
		}
	}
	b[0] = nil // the slice is a copy
	if Bundled()[0] == nil {
		t.Fatal("Bundled returns a shared slice")
	}
}

func TestTrustVerify(t *testing.T) {
	const host = "pool.example.test"
	p := newPKI(t, host)
	other := newPKI(t, host)
	expired := issue(t, certSpec{cn: host, dns: []string{host}, notAfter: t0.Add(-time.Hour)}, &p.leafKey.PublicKey, p.inter, p.interKey)
	clientOnly := issue(t, certSpec{cn: host, dns: []string{host}, eku: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}},
		&p.leafKey.PublicKey, p.inter, p.interKey)

	site := NewTrust([]*x509.Certificate{p.root}, false)
	for _, tt := range []struct {
		name  string
		trust *Trust
		chain []*x509.Certificate
		host  string
		now   time.Time
		ok    bool
	}{
		{"full chain from peer", site, []*x509.Certificate{p.leaf, p.inter}, host, t0, true},
		{"leaf only, intermediate unknown", site, []*x509.Certificate{p.leaf}, host, t0, false},
		{"leaf only, intermediate known", site.WithIntermediates([]*x509.Certificate{p.inter}), []*x509.Certificate{p.leaf}, host, t0, true},
		{"unrelated CA", site, []*x509.Certificate{other.leaf, other.inter}, host, t0, false},
		{"unrelated root as intermediate", site.WithIntermediates([]*x509.Certificate{other.root, other.inter}), []*x509.Certificate{other.leaf}, host, t0, false},
		{"bundled only", NewTrust(nil, true), []*x509.Certificate{p.leaf, p.inter}, host, t0, false},
		{"bundled plus site", NewTrust([]*x509.Certificate{p.root}, true), []*x509.Certificate{p.leaf, p.inter}, host, t0, true},
		{"wrong hostname", site, []*x509.Certificate{p.leaf, p.inter}, "evil.example.test", t0, false},
		{"no hostname check", site, []*x509.Certificate{p.leaf, p.inter}, "", t0, true},
		{"expired at now", site, []*x509.Certificate{expired, p.inter}, host, t0, false},
		{"valid cert, clock far ahead", site, []*x509.Certificate{p.leaf, p.inter}, host, t0.Add(10 * 365 * 24 * time.Hour), false},
		{"wrong usage", site, []*x509.Certificate{clientOnly, p.inter}, host, t0, false},
		{"anchor via WithAnchors", NewTrust(nil, false).WithAnchors([]*x509.Certificate{other.root}), []*x509.Certificate{other.leaf, other.inter}, host, t0, true},
		{"empty chain", site, nil, host, t0, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.trust.Verify(tt.chain, tt.host, tt.now, x509.ExtKeyUsageServerAuth)
			if (err == nil) != tt.ok {
				t.Fatalf("Verify = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrUntrusted) {
				t.Fatalf("Verify error %v does not wrap ErrUntrusted", err)
			}
		})
	}
}

func TestTrustCopies(t *testing.T) {
	p := newPKI(t, "pool.example.test")
	base := NewTrust([]*x509.Certificate{p.root}, false)
	withI := base.WithIntermediates([]*x509.Certificate{p.inter, p.inter})
	withA := withI.WithAnchors([]*x509.Certificate{p.inter})
	if len(base.inter) != 0 || len(base.anchors) != 1 {
		t.Fatal("WithIntermediates changed the original")
	}
	if len(withI.inter) != 1 {
		t.Fatalf("duplicates not removed: %d intermediates", len(withI.inter))
	}
	if len(withI.anchors) != 1 || len(withA.anchors) != 2 {
		t.Fatal("WithAnchors changed the original")
	}
}

// tlsServer starts an httptest TLS server presenting chain with key, and
// records the SNI names it saw.
func tlsServer(t *testing.T, p *pki, chain ...*x509.Certificate) (*httptest.Server, *[]string) {
	t.Helper()
	var mu sync.Mutex
	var sni []string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	cert := tls.Certificate{PrivateKey: p.leafKey}
	for _, c := range chain {
		cert.Certificate = append(cert.Certificate, c.Raw)
	}
	srv.TLS = &tls.Config{GetCertificate: func(hi *tls.ClientHelloInfo) (*tls.Certificate, error) {
		mu.Lock()
		sni = append(sni, hi.ServerName)
		mu.Unlock()
		return &cert, nil
	}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, &sni
}

func TestTrustTLSConfig(t *testing.T) {
	const host = "pool.example.test"
	p := newPKI(t, host)
	now := func() time.Time { return t0 }
	site := NewTrust([]*x509.Certificate{p.root}, false)
	full, _ := tlsServer(t, p, p.leaf, p.inter)
	leafOnly, sni := tlsServer(t, p, p.leaf)

	for _, tt := range []struct {
		name  string
		srv   *httptest.Server
		trust *Trust
		host  string
		now   func() time.Time
		ok    bool
	}{
		{"server sends chain", full, site, host, now, true},
		{"server omits intermediate, trust knows it", leafOnly, site.WithIntermediates([]*x509.Certificate{p.inter}), host, now, true},
		{"server omits intermediate, unknown", leafOnly, site, host, now, false},
		{"wrong hostname", full, site, "other.example.test", now, false},
		{"wrong hostname, known intermediate", leafOnly, site.WithIntermediates([]*x509.Certificate{p.inter}), "other.example.test", now, false},
		{"clock past expiry", full, site, host, func() time.Time { return t0.Add(365 * 24 * time.Hour) }, false},
		{"bundled roots only", full, NewTrust(nil, true), host, now, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.trust.TLSConfig(tt.host, tt.now)
			if cfg.InsecureSkipVerify {
				t.Fatal("InsecureSkipVerify set")
			}
			conn, err := (&net.Dialer{}).DialContext(context.Background(), "tcp", tt.srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			tc := tls.Client(conn, cfg)
			err = tc.HandshakeContext(context.Background())
			if (err == nil) != tt.ok {
				t.Fatalf("handshake = %v, want ok=%v", err, tt.ok)
			}
		})
	}
	found := false
	for _, n := range *sni {
		found = found || n == host
	}
	if !found {
		t.Errorf("server never saw SNI %q (saw %q)", host, *sni)
	}
}

func TestRootStore(t *testing.T) {
	p := newPKI(t, "pool.example.test")
	other := newPKI(t, "pool.example.test")
	f := sim.NewFlash(testFlashSize, testEraseSize)
	_, rootsR, _ := Layout(f)
	s, err := OpenSlots(f, rootsR)
	if err != nil {
		t.Fatal(err)
	}
	rs := NewRootStore(s, testLogger(t))
	if got, err := rs.List(); err != nil || len(got) != 0 {
		t.Fatalf("List on empty = %v, %v", got, err)
	}
	if err := rs.Add(p.leaf); !errors.Is(err, ErrNotCA) {
		t.Fatalf("Add(leaf) = %v, want ErrNotCA", err)
	}
	for _, c := range []*x509.Certificate{p.root, other.root} {
		if err := rs.Add(c); err != nil {
			t.Fatal(err)
		}
	}
	before := f.BytesWritten()
	if err := rs.Add(p.root); err != nil {
		t.Fatal(err)
	}
	if f.BytesWritten() != before {
		t.Error("adding a root twice rewrote flash")
	}
	s2, _ := OpenSlots(f, rootsR)
	got, err := NewRootStore(s2, nil).List()
	if err != nil || len(got) != 2 || !got[0].Equal(p.root) || !got[1].Equal(other.root) {
		t.Fatalf("List after reopen = %d roots, %v", len(got), err)
	}
	if err := rs.Remove(strings.ToUpper(Fingerprint(p.root))); err != nil {
		t.Fatal(err)
	}
	if err := rs.Remove(Fingerprint(p.root)); !errors.Is(err, ErrNotExist) {
		t.Fatalf("second Remove = %v, want ErrNotExist", err)
	}
	got, err = rs.List()
	if err != nil || len(got) != 1 || !got[0].Equal(other.root) {
		t.Fatalf("List after Remove = %d roots, %v", len(got), err)
	}
	trust := NewTrust(got, true)
	if err := trust.Verify([]*x509.Certificate{other.leaf, other.inter}, "pool.example.test", t0, x509.ExtKeyUsageServerAuth); err != nil {
		t.Fatalf("site root from RootStore does not anchor: %v", err)
	}
}

func BenchmarkBundledParse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		parseBundled()
	}
}

func BenchmarkTrustRoots(b *testing.B) {
	t := NewTrust(nil, true)
	t.Roots()
	b.ReportAllocs()
	for b.Loop() {
		t.Roots()
	}
}

// TestBundledMemory reports the heap the parsed bundle keeps.
func TestBundledMemory(t *testing.T) {
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	roots := parseBundled()
	runtime.GC()
	runtime.ReadMemStats(&m1)
	t.Logf("bundled roots: %d parsed, heap kept ≈ %d KiB", len(roots), (int64(m1.HeapAlloc)-int64(m0.HeapAlloc))/1024)
	runtime.KeepAlive(roots)
}
