package device

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"log/slog"
	"math/big"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/deskphone/deskphone/board"
	"github.com/deskphone/deskphone/board/sim"
	"github.com/deskphone/deskphone/bootstrap/discover"
	"github.com/deskphone/deskphone/bootstrap/failure"
	"github.com/deskphone/deskphone/bootstrap/ntp"
	"github.com/deskphone/deskphone/bootstrap/sip"
	"github.com/deskphone/deskphone/certstore"
	"github.com/deskphone/deskphone/device/config"
	"github.com/deskphone/deskphone/device/health"
	"github.com/deskphone/deskphone/ui"
)

// fakeStages scripts every stage; each may fail a number of times first.
type fakeStages struct {
	mu       sync.Mutex
	failDisc int
	failTime int
	pinWrong int
	regNeed  int // times Register answers ErrNeedCertificate
	calls    []string
	sessDone chan struct{}
	lastUser string
	ca       *x509.Certificate
	caKey    crypto.Signer
}

func (f *fakeStages) call(s string) {
	f.mu.Lock()
	f.calls = append(f.calls, s)
	f.mu.Unlock()
}

func (f *fakeStages) Discover(ctx context.Context, cached *discover.Endpoint) (discover.Result, error) {
	f.call("discover")
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failDisc > 0 {
		f.failDisc--
		return discover.Result{}, failure.Errorf(failure.StageDiscover, failure.DNSFailed, "no answer")
	}
	ep := discover.Endpoint{Host: "pool.example.test", Port: 5061}
	return discover.Result{Source: "dhcp", Registrar: ep, Candidates: []discover.Endpoint{ep},
		CertProvURL: "https://pool.example.test:443/CertProv/CertProvisioningService.svc", SIPDomain: "example.test"}, nil
}

func (f *fakeStages) Sync(ctx context.Context, d discover.Result) (ntp.Result, error) {
	f.call("time")
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failTime > 0 {
		f.failTime--
		return ntp.Result{}, failure.Errorf(failure.StageTime, failure.TimeNotSet, "no ntp")
	}
	return ntp.Result{Server: "127.0.0.1", Stratum: 2, ClockSet: true}, nil
}

func (f *fakeStages) Establish(ctx context.Context, d discover.Result, t *certstore.Trust) (*certstore.Trust, error) {
	f.call("chain")
	return t, nil
}

func (f *fakeStages) Enroll(ctx context.Context, req EnrollRequest) (*Enrollment, error) {
	f.call("enroll")
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastUser = req.User
	if req.PIN.Reveal() != "24680" || f.pinWrong > 0 {
		if f.pinWrong > 0 {
			f.pinWrong--
		}
		return nil, failure.Errorf(failure.StageTicket, failure.PINInvalid, "wrong pin")
	}
	days := 180
	if req.User == "renewal" {
		days = 200
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "alice@example.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Duration(days) * 24 * time.Hour)}
	key, err := req.Key(ctx)
	if err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, f.ca, key.Public(), f.caKey)
	if err != nil {
		return nil, err
	}
	c, _ := x509.ParseCertificate(der)
	return &Enrollment{Cert: c, SIPURI: "sip:alice@example.test", Phases: []Phase{{Name: "webticket", MS: 1}, {Name: "certprov", MS: 2}}}, nil
}

type fakeSession struct{ done chan struct{} }

func (s fakeSession) Info() SessionInfo {
	return SessionInfo{SIPURI: "sip:alice@example.test", Registrar: "pool.example.test:5061", Auth: "TLS-DSK",
		Provisioning: map[string]string{"registrar": "pool.example.test", "CAHandlerInternalUri": "https://fe.example.test/CertProv/CertProvisioningService.svc"}}
}
func (s fakeSession) Run(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-s.done:
		return failure.Errorf(failure.StageRegister, failure.RegistrarUnreachable, "connection lost")
	}
}
func (s fakeSession) Close() error { return nil }

func (f *fakeStages) Register(ctx context.Context, req RegisterRequest) (Session, error) {
	f.call("register")
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.regNeed > 0 {
		f.regNeed--
		return nil, errors.Join(failure.Errorf(failure.StageRegister, failure.AuthRejected, "revoked"), ErrNeedCertificate)
	}
	return fakeSession{done: f.sessDone}, nil
}

func newFakes(t *testing.T) *fakeStages {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour * 24 * 365), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	return &fakeStages{ca: ca, caKey: key, sessDone: make(chan struct{})}
}

// recorder collects the distinct states in order.
type recorder struct {
	mu     sync.Mutex
	states []State
	ch     chan Snapshot
}

func (r *recorder) observe(s Snapshot) {
	r.mu.Lock()
	if len(r.states) == 0 || r.states[len(r.states)-1] != s.State {
		r.states = append(r.states, s.State)
	}
	r.mu.Unlock()
	select {
	case r.ch <- s:
	default:
	}
}

func (r *recorder) waitFor(t *testing.T, pred func(Snapshot) bool) Snapshot {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case s := <-r.ch:
			if pred(s) {
				return s
			}
		case <-deadline:
			r.mu.Lock()
			defer r.mu.Unlock()
			t.Fatalf("timeout; states so far %v", r.states)
		}
	}
}

var testKey = sync.OnceValue(func() crypto.Signer { k, _ := rsa.GenerateKey(rand.Reader, 2048); return k })

func startAgent(t *testing.T, f *fakeStages, flash *sim.Flash) (*Agent, *sim.Parts, *recorder, context.CancelFunc, chan error) {
	t.Helper()
	b, parts, err := sim.New(sim.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if flash != nil {
		b.Flash = flash
		parts.Flash = flash
	}
	rec := &recorder{ch: make(chan Snapshot, 1024)}
	var frames sync.Mutex
	prev := ui.ScreenBoot
	a, err := New(Options{Board: b, Stages: Stages{Discover: f, Time: f, Chain: f, Enroll: f, Register: f},
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil)), Version: "test",
		Keygen: func() (crypto.Signer, error) { return testKey(), nil }, Observe: rec.observe,
		RetryMax: 20 * time.Millisecond,
		OnFrame: func(fr ui.Frame) {
			frames.Lock()
			defer frames.Unlock()
			entered := fr.Screen == ui.ScreenSignInUser && prev != ui.ScreenSignInUser && prev != ui.ScreenSignInPIN
			prev = fr.Screen
			if entered && parts != nil {
				go func() {
					for _, k := range "1001" {
						parts.Keypad.Press(board.Key(k))
					}
					parts.Keypad.Press(board.KeyOK)
					pin := "24680"
					f.mu.Lock()
					if f.pinWrong > 0 {
						pin = "11111"
					}
					f.mu.Unlock()
					for _, k := range pin {
						parts.Keypad.Press(board.Key(k))
					}
					parts.Keypad.Press(board.KeyOK)
				}()
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return a, parts, rec, cancel, done
}

func TestColdBootScenario(t *testing.T) {
	f := newFakes(t)
	f.failDisc = 1 // one retry on the way
	flash := sim.NewFlash(256<<10, 4<<10)
	a, _, rec, cancel, done := startAgent(t, f, flash)
	s := rec.waitFor(t, func(s Snapshot) bool { return s.State == Provisioned })
	if s.SIPURI != "sip:alice@example.test" || s.Auth != "TLS-DSK" || !s.Cold {
		t.Fatalf("snapshot %+v", s)
	}
	rec.mu.Lock()
	states := slices.Clone(rec.states)
	rec.mu.Unlock()
	want := []State{Boot, Network, Discovering, Retrying, Discovering, TimeSync, ChainTrust, NeedCredentials,
		Provisioning, Registering, Registered, Provisioned}
	if !slices.Equal(states, want) {
		t.Fatalf("states\n got %v\nwant %v", states, want)
	}
	if f.lastUser != "1001" {
		t.Fatalf("user = %q", f.lastUser)
	}
	if got := a.Config().CertProvURL; got != "https://fe.example.test/CertProv/CertProvisioningService.svc" {
		t.Fatalf("in-band provisioning not applied: certprov_url %q", got)
	}
	// Lose the registration: the agent goes back to registering.
	close(f.sessDone)
	rec.waitFor(t, func(s Snapshot) bool { return s.State == Retrying })
	f.mu.Lock()
	f.sessDone = make(chan struct{})
	f.mu.Unlock()
	rec.waitFor(t, func(s Snapshot) bool { return s.State == Provisioned })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	done <- nil

	// Warm boot on the same flash: no chain, no PIN.
	f2 := newFakes(t)
	_, _, rec2, _, _ := startAgent(t, f2, flash)
	s = rec2.waitFor(t, func(s Snapshot) bool { return s.State == Provisioned })
	if s.Cold {
		t.Fatal("second boot should be warm")
	}
	f2.mu.Lock()
	calls := slices.Clone(f2.calls)
	f2.mu.Unlock()
	if slices.Contains(calls, "enroll") || slices.Contains(calls, "chain") {
		t.Fatalf("warm boot called %v", calls)
	}
}

func TestWrongPINThenRight(t *testing.T) {
	f := newFakes(t)
	f.pinWrong = 1
	_, _, rec, _, _ := startAgent(t, f, nil)
	rec.waitFor(t, func(s Snapshot) bool { return s.State == Provisioned })
	rec.mu.Lock()
	defer rec.mu.Unlock()
	// provisioning → error (PIN invalid) → need-credentials → provisioning.
	if !slices.Contains(rec.states, Error) {
		t.Fatalf("no error state in %v", rec.states)
	}
	n := 0
	for _, s := range rec.states {
		if s == NeedCredentials {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("need-credentials %d times in %v", n, rec.states)
	}
}

func TestRevokedCertificateReenrols(t *testing.T) {
	f := newFakes(t)
	flash := sim.NewFlash(256<<10, 4<<10)
	_, _, rec, cancel, done := startAgent(t, f, flash)
	rec.waitFor(t, func(s Snapshot) bool { return s.State == Provisioned })
	cancel()
	<-done
	done <- nil
	f2 := newFakes(t)
	f2.regNeed = 1
	_, _, rec2, _, _ := startAgent(t, f2, flash)
	rec2.waitFor(t, func(s Snapshot) bool { return s.State == Provisioned })
	f2.mu.Lock()
	defer f2.mu.Unlock()
	if !slices.Contains(f2.calls, "enroll") {
		t.Fatalf("revoked certificate not renewed: %v", f2.calls)
	}
}

func TestNotImplementedIsHonest(t *testing.T) {
	b, _, _ := sim.New(sim.Options{Logger: slog.New(slog.DiscardHandler)})
	rec := &recorder{ch: make(chan Snapshot, 1024)}
	a, err := New(Options{Board: b, Stages: Stages{Network: nopNetwork{}}, Logger: slog.New(slog.DiscardHandler), Observe: rec.observe, RetryMax: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- a.Run(ctx) }()
	s := rec.waitFor(t, func(s Snapshot) bool { return s.LastError != nil })
	cancel()
	<-done
	if s.LastError.Code != failure.NotImplemented || s.LastError.Stage != failure.StageDiscover {
		t.Fatalf("error = %v", s.LastError)
	}
}

type nopNetwork struct{}

func (nopNetwork) Up(context.Context) error { return nil }

type fakeRenew struct {
	f      *fakeStages
	refuse bool
	calls  chan struct{}
}

func (r *fakeRenew) Renew(ctx context.Context, req RenewRequest) (*Enrollment, error) {
	defer func() { r.calls <- struct{}{} }()
	if r.refuse {
		return nil, failure.Errorf(failure.StageCert, failure.CredentialsNeeded, "certificate auth disabled")
	}
	return r.f.Enroll(ctx, EnrollRequest{User: "renewal", PIN: "24680",
		Key: func(context.Context) (crypto.Signer, error) { return req.NewKey, nil }})
}

// TestRenewal: a certificate inside the renewal window still signs in, then
// renews with itself (no PIN); a refusal leaves the phone registered with a
// warning that asks for the PIN.
func TestRenewal(t *testing.T) {
	for _, refuse := range []bool{false, true} {
		t.Run(map[bool]string{false: "renewed", true: "refused"}[refuse], func(t *testing.T) {
			f := newFakes(t)
			r := &fakeRenew{f: f, refuse: refuse, calls: make(chan struct{}, 4)}
			b, parts, _ := sim.New(sim.Options{Logger: slog.New(slog.DiscardHandler)})
			rec := &recorder{ch: make(chan Snapshot, 4096)}
			flash := config.Layer{}
			if err := flash.Set("renew_before", "5000h"); err != nil { // > 180 days: due at once
				t.Fatal(err)
			}
			a, err := New(Options{Board: b, Stages: Stages{Discover: f, Time: f, Chain: f, Enroll: f, Register: f, Renew: r},
				Logger: slog.New(slog.NewTextHandler(t.Output(), nil)), FileConfig: flash,
				Keygen: func() (crypto.Signer, error) { return testKey(), nil }, Observe: rec.observe, RetryMax: 20 * time.Millisecond,
				OnFrame: func(fr ui.Frame) {
					if fr.Screen == ui.ScreenSignInUser {
						go func() {
							for _, k := range "1001O24680O" {
								parts.Keypad.Press(board.Key(k))
							}
						}()
					}
				}})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error)
			go func() { done <- a.Run(ctx) }()
			defer func() { cancel(); <-done }()
			rec.waitFor(t, func(s Snapshot) bool { return s.State == Provisioned })
			// The enrolled certificate lasts 180 days, the renewed one 200.
			renewed := func(s Snapshot) bool { return s.NotAfter.After(time.Now().Add(190 * 24 * time.Hour)) }
			select {
			case <-r.calls:
			case <-time.After(10 * time.Second):
				t.Fatal("no renewal")
			}
			s := rec.waitFor(t, func(s Snapshot) bool {
				warned := slices.ContainsFunc(s.Health, func(w health.Warning) bool { return w.Code == "renewal-needs-pin" })
				return (refuse && warned) || (!refuse && renewed(s))
			})
			if s.State != Provisioned {
				t.Fatalf("renewal disturbed the registration: %v", s.State)
			}
			f.mu.Lock()
			enrolls := 0
			for _, c := range f.calls {
				if c == "enroll" {
					enrolls++
				}
			}
			f.mu.Unlock()
			if want := map[bool]int{false: 2, true: 1}[refuse]; enrolls != want { // the fake renew enrols once more
				t.Fatalf("enroll calls %d, want %d", enrolls, want)
			}
		})
	}
}

// registerAttempts enrols a phone, reboots it on the same flash against a
// registrar that always answers err, runs it for d and returns how many
// REGISTER attempts it made.
func registerAttempts(t *testing.T, err error, retryMax, d time.Duration) int {
	t.Helper()
	f := newFakes(t)
	flash := sim.NewFlash(256<<10, 4<<10)
	_, _, rec, cancel, done := startAgent(t, f, flash)
	rec.waitFor(t, func(s Snapshot) bool { return s.State == Provisioned })
	cancel()
	<-done
	done <- nil

	reg := &failingRegistrar{fakeStages: newFakes(t), err: err}
	b, _, _ := sim.New(sim.Options{Logger: slog.New(slog.DiscardHandler)})
	b.Flash = flash
	a, nerr := New(Options{Board: b, Stages: Stages{Discover: reg, Time: reg, Chain: reg, Enroll: reg, Register: reg},
		Logger: slog.New(slog.DiscardHandler), Keygen: func() (crypto.Signer, error) { return testKey(), nil }, RetryMax: retryMax})
	if nerr != nil {
		t.Fatal(nerr)
	}
	ctx, stop := context.WithTimeout(context.Background(), d)
	defer stop()
	_ = a.Run(ctx)
	reg.mu.Lock()
	defer reg.mu.Unlock()
	return reg.regs
}

// failingRegistrar answers every REGISTER with err.
type failingRegistrar struct {
	*fakeStages
	err  error
	regs int
}

func (r *failingRegistrar) Register(ctx context.Context, req RegisterRequest) (Session, error) {
	r.mu.Lock()
	r.regs++
	r.mu.Unlock()
	return nil, r.err
}

// TestBackoffGrowsAcrossRediscovery: a registrar that stays unreachable
// sends the phone back to discovery each time, and the retries still slow
// down (no reset on the way), as thousands of phones after a power cut must.
func TestBackoffGrowsAcrossRediscovery(t *testing.T) {
	regs := registerAttempts(t, failure.Errorf(failure.StageRegister, failure.RegistrarUnreachable, "connection refused"),
		time.Hour, 3*time.Second)
	// n²×10 ms with jitter ≥ 0.5: 6 attempts already need ≥ 0.45 s of waits,
	// so 3 s allows about a dozen, never hundreds.
	if regs < 3 || regs > 20 {
		t.Fatalf("%d register attempts in 3 s", regs)
	}
}

// TestLanguageFromFirstFrame: the configured language shows from the first
// frame, and a later change (tether config set) switches the LCD.
func TestLanguageFromFirstFrame(t *testing.T) {
	b, _, _ := sim.New(sim.Options{Logger: slog.New(slog.DiscardHandler)})
	layer := config.Layer{}
	if err := layer.Set("language", "fr"); err != nil {
		t.Fatal(err)
	}
	frames := make(chan ui.Frame, 4096)
	a, err := New(Options{Board: b, Stages: Stages{Network: nopNetwork{}}, Logger: slog.New(slog.DiscardHandler),
		FileConfig: layer, RetryMax: time.Hour, OnFrame: func(f ui.Frame) {
			select {
			case frames <- f:
			default:
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done }()
	// titles gives the titles of the screens this phone cycles through (it
	// has no discovery stage: boot, network, locating, the error) in lang.
	// The boot screen's title is the product name in every language, so it
	// says nothing about the language and is left out.
	titles := func(lang ui.Lang) map[ui.Screen]string {
		out := map[ui.Screen]string{}
		for _, ev := range []ui.Event{ui.Show{Screen: ui.ScreenNetwork, Progress: -1},
			ui.Show{Screen: ui.ScreenLocating, Progress: -1}, ui.Failure{Stage: "discover", Code: failure.NotImplemented}} {
			m, _ := ui.New(lang, "").Update(ev)
			out[m.Screen()] = m.View().Title
		}
		return out
	}
	french, english := titles(ui.FR), titles(ui.EN)
	for f := range frames {
		if f.Screen == ui.ScreenBoot {
			continue
		}
		if f.Title != french[f.Screen] || f.Title == english[f.Screen] {
			t.Fatalf("first frame after boot: %s %q, want the French %q", f.Screen, f.Title, french[f.Screen])
		}
		break
	}
	if err := a.ConfigSet("language", "de"); err != nil {
		t.Fatal(err)
	}
	german := titles(ui.DE)
	deadline := time.After(20 * time.Second)
	for {
		select {
		case f := <-frames:
			if want, ok := german[f.Screen]; ok && f.Title == want {
				return
			}
		case <-deadline:
			t.Fatal("the LCD did not switch to German")
		}
	}
}

// TestRetryAfterHonoured: a 503 with Retry-After delays the next attempt by
// at least that long (within the backoff cap), not by the short backoff.
func TestRetryAfterHonoured(t *testing.T) {
	regs := registerAttempts(t, failure.New(failure.StageRegister, failure.RegistrarBusy,
		&sip.RetryAfterError{After: time.Hour, Err: errors.New("503")}), 400*time.Millisecond, time.Second)
	// Retry-After 1 h capped at 400 ms: at most 3–4 attempts in 1 s (the
	// plain backoff would allow about 8).
	if regs < 2 || regs > 4 {
		t.Fatalf("%d register attempts in 1 s", regs)
	}
}
