package directory

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

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

func open(t *testing.T, dir string, clk *fakeClock, opts ...Option) *Directory {
	t.Helper()
	d, err := Open(dir, slog.New(slog.NewTextHandler(t.Output(), nil)), append(opts, WithClock(clk.Now))...)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestNTHash(t *testing.T) {
	if got := hex.EncodeToString(NTHash("Password")); got != "a4f49c406510bdcab6824ee7c30fd852" {
		t.Fatal(got)
	}
}

func TestDemoUsersPersistNoPlaintext(t *testing.T) {
	dir := t.TempDir()
	clk := &fakeClock{t: time.Now()}
	d := open(t, dir, clk)
	if err := d.AddDemoUsers(); err != nil {
		t.Fatal(err)
	}
	if err := d.AddDemoUsers(); err != nil { // idempotent
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"24680", "13579", "Alice-2468", "Bob-1357"} {
		if strings.Contains(string(b), secret) {
			t.Fatalf("state file holds %q", secret)
		}
	}
	if st, _ := os.Stat(filepath.Join(dir, FileName)); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode())
	}
	d2 := open(t, dir, clk)
	for _, tt := range []struct {
		name string
		get  func() (User, bool)
	}{
		{"ext", func() (User, bool) { return d2.LookupByPhoneOrExt("1001") }},
		{"phone", func() (User, bool) { return d2.LookupByPhoneOrExt("+1 425 555 0101") }},
		{"sip", func() (User, bool) { return d2.LookupBySIP("Alice@example.test") }},
		{"login", func() (User, bool) { return d2.LookupByLogin(`example\ALICE`) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			u, ok := tt.get()
			if !ok || u.SIPURI != "sip:alice@example.test" {
				t.Fatalf("%+v %v", u, ok)
			}
		})
	}
	if _, err := d2.CheckPIN("1002", "13579"); err != nil {
		t.Fatal(err)
	}
	if _, err := d2.CheckPassword(`EXAMPLE\bob`, "Bob-1357"); err != nil {
		t.Fatal(err)
	}
	if _, err := d2.CheckPassword(`EXAMPLE\bob`, "bob-1357"); !errors.Is(err, ErrBadPassword) {
		t.Fatal(err)
	}
	if err := d2.Add(User{SIPURI: "sip:carol@example.test", Extension: "1001"}, "11111", ""); !errors.Is(err, ErrExists) {
		t.Fatal(err)
	}
	if err := d2.Add(User{SIPURI: "sip:carol@example.test"}, "12ab", ""); err == nil {
		t.Fatal("non-digit pin accepted")
	}
}

func TestPINLockout(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 5, 22, 10, 0, 0, 0, time.UTC)}
	d := open(t, "", clk, WithPINPolicy(PINPolicy{MaxLocal: 3, MaxGlobal: 7}))
	if err := d.AddDemoUsers(); err != nil {
		t.Fatal(err)
	}
	step := func(pin string, want error) {
		t.Helper()
		_, err := d.CheckPIN("1001", pin)
		if !errors.Is(err, want) && !(want == nil && err == nil) {
			t.Fatalf("pin %s: err = %v, want %v", pin, err, want)
		}
	}
	// Failures outside the 30-min window do not add up locally.
	step("1", ErrBadPIN)
	step("2", ErrBadPIN)
	clk.Advance(31 * time.Minute)
	step("3", ErrBadPIN) // window restarted: local = 1 (global = 3)
	step("24680", nil)   // success resets the local counter
	step("4", ErrBadPIN)
	step("5", ErrBadPIN)
	step("6", ErrPINLocked)     // local limit: locked for an hour (global = 6)
	step("24680", ErrPINLocked) // even the right PIN
	clk.Advance(59 * time.Minute)
	step("24680", ErrPINLocked)
	clk.Advance(2 * time.Minute)
	step("24680", nil)      // lock over
	step("7", ErrPINLocked) // global limit (7): admin lock
	clk.Advance(48 * time.Hour)
	step("24680", ErrPINLocked)
	if err := d.Unlock("alice@example.test"); err != nil {
		t.Fatal(err)
	}
	step("24680", nil)
	step("0", ErrBadPIN)
	if _, err := d.CheckPIN("9999", "24680"); !errors.Is(err, ErrBadPIN) {
		t.Fatal(err)
	}
}

func TestDefaultLimits(t *testing.T) {
	for _, tt := range []struct{ n, local, global int }{{4, 10, 100}, {5, 25, 1000}, {6, 25, 1000}, {8, 25, 5000}} {
		if l, g := DefaultPINPolicy.limits(tt.n); l != tt.local || g != tt.global {
			t.Errorf("%d: %d/%d", tt.n, l, g)
		}
	}
}

func testCert(t *testing.T, serial int64, notAfter time.Time) *x509.Certificate {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "alice@example.test"},
		NotBefore: notAfter.Add(-1000 * time.Hour), NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c
}

func TestPublishRevokeCheck(t *testing.T) {
	dir := t.TempDir()
	clk := &fakeClock{t: time.Date(2026, 5, 22, 10, 0, 0, 0, time.UTC)}
	d := open(t, dir, clk)
	if err := d.AddDemoUsers(); err != nil {
		t.Fatal(err)
	}
	c1, c2, c3 := testCert(t, 1, clk.t.Add(time.Hour)), testCert(t, 2, clk.t.Add(time.Hour)), testCert(t, 3, clk.t.Add(time.Hour))
	for _, p := range []struct {
		dev  string
		cert *x509.Certificate
	}{{"{dev-a}", c1}, {"{dev-b}", c2}, {"{dev-a}", c3}} {
		if err := d.Publish("sip:alice@example.test", p.dev, p.cert); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(d.Published("alice@example.test")); n != 2 {
		t.Fatalf("%d published (device a replaced?)", n)
	}
	if err := d.CheckClientCert("sip:alice@example.test", c1); !errors.Is(err, ErrNotPublished) {
		t.Fatal(err)
	}
	if err := d.CheckClientCert("sip:bob@example.test", c3); !errors.Is(err, ErrNotPublished) {
		t.Fatal(err)
	}
	if err := d.CheckClientCert("sip:alice@example.test", c3); err != nil {
		t.Fatal(err)
	}
	// A second process (the CLI) revokes: the running directory sees it.
	cli := open(t, dir, clk)
	if n, err := cli.Revoke("sip:alice@example.test", "{dev-a}"); n != 1 || err != nil {
		t.Fatal(n, err)
	}
	if err := d.CheckClientCert("sip:alice@example.test", c3); !errors.Is(err, ErrRevoked) {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Hour)
	if err := d.CheckClientCert("sip:alice@example.test", c2); !errors.Is(err, ErrExpired) {
		t.Fatal(err)
	}
	if n, _ := d.Revoke("sip:alice@example.test", ""); n != 1 {
		t.Fatal(n)
	}
}

func TestConcurrent(t *testing.T) {
	clk := &fakeClock{t: time.Now()}
	d := open(t, t.TempDir(), clk)
	if err := d.AddDemoUsers(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			c := testCert(t, int64(i+10), clk.Now().Add(time.Hour))
			if err := d.Publish("sip:bob@example.test", fmt.Sprint(i), c); err != nil {
				t.Error(err)
			}
			_, _ = d.CheckPIN("1002", "13579")
		})
	}
	wg.Wait()
	if n := len(d.Published("sip:bob@example.test")); n != 8 {
		t.Fatal(n)
	}
}
