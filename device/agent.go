// Package device is the phone agent: one process that derives its state from
// facts (state.go), drives the sign-in stages (stages.go), keeps the LCD and
// keypad in step (uiloop.go), persists what must survive a power cut in
// flash, and reports health and diagnostics.
//
// The process is crash-only: Run returns on cancellation or an unrecoverable
// error and a supervisor restarts it.
package device

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"

	"github.com/deskphone/deskphone/board"
	"github.com/deskphone/deskphone/bootstrap/discover"
	"github.com/deskphone/deskphone/bootstrap/failure"
	"github.com/deskphone/deskphone/bootstrap/ntp"
	"github.com/deskphone/deskphone/bootstrap/sip"
	"github.com/deskphone/deskphone/certstore"
	"github.com/deskphone/deskphone/device/backoff"
	"github.com/deskphone/deskphone/device/config"
	"github.com/deskphone/deskphone/device/health"
	"github.com/deskphone/deskphone/device/logring"
	"github.com/deskphone/deskphone/ui"
)

// Options configures an Agent. Board, Stages and Logger are required.
type Options struct {
	Board  *board.Board
	Stages Stages
	Logger *slog.Logger
	// Ring receives log lines for the tether (optional).
	Ring *logring.Ring
	// FileConfig is the --config layer (optional); it is saved as the flash layer.
	FileConfig config.Layer
	// Version and BuildDate stamp the firmware; BuildDate gates the clock.
	Version   string
	BuildDate time.Time
	// Keygen generates the enrolment key (RSA-2048); required for enrolment.
	Keygen func() (crypto.Signer, error)
	// SiteRoots are added to the flash root store at first boot (a QA image
	// for a lab pool carries the pool's CA).
	SiteRoots []*x509.Certificate
	// Observe is called after every state change and fact update (phonesim
	// --until, tests). It must not block.
	Observe func(Snapshot)
	// OnFrame is called with every new LCD frame (phonesim snapshots).
	OnFrame func(ui.Frame)
	// RetryMax caps backoff (overrides config; tests).
	RetryMax time.Duration
}

// Snapshot is a consistent view of the agent for observers, diag and the tether.
type Snapshot struct {
	State     State
	Facts     Facts
	Discovery discover.Result
	Time      *ntp.Result
	SIPURI    string
	Registrar string
	Auth      string
	NotAfter  time.Time
	Cold      bool
	Phases    []Phase
	// PINOKToRegistered is the time from the PIN OK key to registered (cold boots).
	PINOKToRegistered time.Duration
	LastError         *failure.Error
	Health            []health.Warning
}

// Agent is the phone.
type Agent struct {
	opts   Options
	b      *board.Board
	log    *slog.Logger
	health *health.Tracker

	certs *certstore.Store
	roots *certstore.RootStore
	state *stateStore

	ui *uiDriver

	mu        sync.Mutex
	facts     Facts
	cur       State
	snap      Snapshot
	persist   persisted
	cfgStack  *config.Stack
	cfg       config.Config
	rec       *certstore.Record
	trust     *certstore.Trust
	disc      discover.Result
	session   Session
	creds     *credentials
	credsCh   chan credentials
	retryCh   chan struct{}
	wakeCh    chan struct{}
	subMu     sync.Mutex
	subs      map[chan Snapshot]struct{}
	stop      context.CancelCauseFunc
	bg        sync.WaitGroup // background work (keygen, renewal) that Run waits for
	pendingMu sync.Mutex
	pk        *pendingKey // the enrolment key being made or ready; nil when none
	pinOKAt   time.Time
	phaseT    map[string]time.Duration
	renewing  bool
}

type credentials struct {
	User string
	PIN  Secret
	At   time.Time
}

// New opens the phone's persistent state and returns an agent ready to Run.
func New(opts Options) (*Agent, error) {
	if opts.Board == nil || opts.Board.Flash == nil || opts.Board.Clock == nil {
		return nil, errors.New("device: board with flash and clock required")
	}
	if opts.Logger == nil {
		return nil, errors.New("device: logger required")
	}
	a := &Agent{
		opts:     opts,
		b:        opts.Board,
		log:      opts.Logger.With("component", "agent"),
		health:   health.New(),
		cfgStack: config.NewStack(),
		credsCh:  make(chan credentials, 1),
		retryCh:  make(chan struct{}, 1),
		wakeCh:   make(chan struct{}, 1),
		phaseT:   map[string]time.Duration{},
		cur:      Boot,
	}
	certR, rootsR, stateR := certstore.Layout(opts.Board.Flash)
	cs, err := certstore.OpenSlots(opts.Board.Flash, certR)
	if err != nil {
		return nil, fmt.Errorf("device: cert slots: %w", err)
	}
	rs, err := certstore.OpenSlots(opts.Board.Flash, rootsR)
	if err != nil {
		return nil, fmt.Errorf("device: root slots: %w", err)
	}
	ss, err := certstore.OpenSlots(opts.Board.Flash, stateR)
	if err != nil {
		return nil, fmt.Errorf("device: state slots: %w", err)
	}
	a.certs = certstore.Open(cs, opts.Logger)
	a.roots = certstore.NewRootStore(rs, opts.Logger)
	a.state = &stateStore{slots: ss}
	// The image's config applies from the first frame on (language);
	// boot() adds the layers kept in flash.
	a.cfgStack.Layers[config.LayerFlash] = opts.FileConfig
	if err := a.recomputeConfig(); err != nil {
		a.log.Error("config file rejected, using defaults", "err", err)
	}
	a.ui = newUIDriver(a)
	if opts.Stages == (Stages{}) {
		a.opts.Stages = a.defaultStages()
	}
	return a, nil
}

// Run runs the phone until ctx is cancelled.
func (a *Agent) Run(ctx context.Context) error {
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	a.mu.Lock()
	a.stop = stop
	a.mu.Unlock()
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return a.ui.run(ctx) })
	g.Go(func() error { return a.watchdog(ctx) })
	g.Go(func() error { return a.loop(ctx) })
	err := g.Wait()
	a.shutdown()
	a.bg.Wait()
	if cause := context.Cause(ctx); errors.Is(cause, ErrReboot) {
		return ErrReboot
	}
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// shutdown persists the time and closes the session (bounded to 2 s).
func (a *Agent) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	a.mu.Lock()
	s := a.session
	a.session = nil
	a.mu.Unlock()
	if s != nil {
		done := make(chan struct{})
		go func() { _ = s.Close(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
		}
	}
	if a.facts.ClockOK {
		a.saveTime()
	}
}

func (a *Agent) watchdog(ctx context.Context) error {
	if a.b.Watchdog == nil {
		return nil
	}
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		if !a.health.Fatal() {
			if err := a.b.Watchdog.Ping(); err != nil {
				a.log.Warn("watchdog ping failed", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// loop is the state machine: derive, enter, act.
func (a *Agent) loop(ctx context.Context) error {
	bo := backoff.New("signin", a.log, 5*time.Minute)
	// failedAt is the state whose stage failed last. The backoff resets only
	// once the phone gets past it: a stage before it succeeding on the way
	// (discovery again, after an unreachable registrar) is no progress.
	failedAt := Boot
	for ctx.Err() == nil {
		a.mu.Lock()
		f := a.facts
		a.mu.Unlock()
		next := nextState(f)
		if next != a.cur || next == Boot {
			a.enterState(next, a.reason(f))
		}
		if a.opts.RetryMax > 0 {
			bo = a.resizeBackoff(bo, a.opts.RetryMax)
		} else {
			bo = a.resizeBackoff(bo, a.Config().RetryMax.D())
		}
		err := a.act(ctx, next, bo)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			failedAt = max(failedAt, next)
			a.fail(err)
			continue
		}
		if next != Retrying && next != Error && next > failedAt {
			bo.Reset()
			failedAt = Boot
		}
	}
	return ctx.Err()
}

func (a *Agent) resizeBackoff(bo *backoff.Backoff, max time.Duration) *backoff.Backoff {
	if max <= 0 || bo.Max() == max {
		return bo
	}
	return backoff.New("signin", a.log, max)
}

func (a *Agent) reason(f Facts) string {
	if f.Err != nil {
		return string(f.Err.Code) + " " + f.Err.Stage
	}
	return "facts"
}

// act runs the stage of state s once.
func (a *Agent) act(ctx context.Context, s State, bo *backoff.Backoff) error {
	switch s {
	case Boot:
		return a.boot(ctx)
	case Network:
		if a.opts.Stages.Network == nil {
			a.setFact(func(f *Facts) { f.LinkUp = true })
			return nil
		}
		if err := a.opts.Stages.Network.Up(ctx); err != nil {
			return err
		}
		a.setFact(func(f *Facts) { f.LinkUp = true })
	case Discovering:
		return a.discover(ctx)
	case TimeSync:
		return a.syncTime(ctx)
	case ChainTrust:
		return a.chainTrust(ctx)
	case NeedCredentials:
		return a.needCredentials(ctx)
	case Provisioning:
		return a.enroll(ctx)
	case Registering:
		return a.register(ctx)
	case Registered:
		a.mu.Lock()
		sess, rec, window, busy := a.session, a.rec, a.cfg.RenewBefore.D(), a.renewing
		a.mu.Unlock()
		due := !busy && rec != nil && rec.Cert != nil && rec.NeedsRenewal(a.b.Clock.Now(), window)
		if sess != nil {
			a.applyProvisioning(sess.Info().Provisioning)
		}
		if due {
			a.renewInBackground(ctx)
		}
		a.setFact(func(f *Facts) { f.Provisioned = true })
	case Provisioned:
		return a.keepAlive(ctx)
	case Retrying:
		a.mu.Lock()
		fe := a.facts.Err
		a.mu.Unlock()
		d := bo.Next()
		// A registrar's Retry-After is honoured, within the backoff cap.
		var ra *sip.RetryAfterError
		if fe != nil && errors.As(fe, &ra) && ra.After > d {
			d = min(ra.After, bo.Max())
		}
		if fe != nil {
			a.ui.retrying(fe, d, bo.Attempts())
			a.log.Info("retrying", "stage", fe.Stage, "code", string(fe.Code), "attempt", bo.Attempts(), "backoff", d)
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
		case <-t.C:
		case <-a.retryCh:
		case <-a.wakeCh:
		}
		t.Stop()
		a.clearErr()
	case Error:
		return a.errorWait(ctx, bo)
	}
	return nil
}

// errorWait handles a non-retryable failure: PIN problems go back to the
// sign-in screen; others wait for OK (RetryNow) or a long backoff.
func (a *Agent) errorWait(ctx context.Context, bo *backoff.Backoff) error {
	a.mu.Lock()
	fe := a.facts.Err
	a.mu.Unlock()
	if fe != nil && fe.Code == failure.PINInvalid {
		a.mu.Lock()
		a.facts.Err = nil
		a.facts.HaveCredentials = false
		a.mu.Unlock()
		a.ui.askCredentials(a.lastUser(), failure.PINInvalid)
		return nil
	}
	d := bo.Next()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	case <-a.retryCh:
	case <-a.wakeCh:
	}
	a.mu.Lock()
	a.facts.Err = nil
	if fe != nil && (fe.Code == failure.PINLocked || fe.Code == failure.CredentialsNeeded) {
		a.facts.HaveCredentials = false
	}
	a.mu.Unlock()
	return nil
}

func (a *Agent) lastUser() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.creds != nil {
		return a.creds.User
	}
	return ""
}

// fail records a stage failure as facts.
func (a *Agent) fail(err error) {
	fe := failure.As(err)
	if fe == nil {
		fe = failure.New(failure.StageDevice, failure.Internal, err)
	}
	retry := failure.Retryable(fe.Code)
	a.log.Warn("stage failed", "stage", fe.Stage, "code", string(fe.Code), "err", fe.Err)
	a.mu.Lock()
	a.facts.Err = fe
	a.facts.Waiting = retry
	if fe.Stage == failure.StageRegister && (fe.Code == failure.RegistrarUnreachable || fe.Code == failure.RegistrarBusy) {
		// LPE: when the registrars fail, rebuild the list from DHCP and DNS.
		a.facts.Discovered = false
	}
	a.snap.LastError = fe
	a.mu.Unlock()
	a.health.Set(health.Warning{Code: string(fe.Code), Title: fe.Stage, Detail: fe.Detail(), Severity: health.High, Since: a.b.Clock.Now()})
	a.ui.failure(fe, retry)
	a.observe()
}

func (a *Agent) clearErr() {
	a.mu.Lock()
	fe := a.facts.Err
	a.facts.Err = nil
	a.facts.Waiting = false
	a.mu.Unlock()
	if fe != nil {
		a.health.Clear(string(fe.Code))
	}
}

func (a *Agent) setFact(fn func(*Facts)) {
	a.mu.Lock()
	fn(&a.facts)
	a.mu.Unlock()
	a.observe()
}

// enterState is the one place with the side effects of a state change.
func (a *Agent) enterState(to State, reason string) {
	a.mu.Lock()
	from := a.cur
	a.cur = to
	a.mu.Unlock()
	a.log.Info("state", "from", from.String(), "to", to.String(), "reason", reason)
	a.ui.state(to)
	a.observe()
}

// Snapshot returns the agent's current view.
func (a *Agent) Snapshot() Snapshot {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.snap
	s.State = a.cur
	s.Facts = a.facts
	s.Discovery = a.disc
	s.Phases = a.phasesLocked()
	s.Health = a.health.Visible()
	if a.rec != nil {
		s.SIPURI = a.rec.SIPURI
		s.NotAfter = a.rec.NotAfter
	}
	return s
}

func (a *Agent) observe() {
	s := a.Snapshot()
	if a.opts.Observe != nil {
		a.opts.Observe(s)
	}
	a.publish(s)
}

var phaseOrder = []string{"dhcp", "ntp", "chain", "keygen", "webticket", "certprov", "renew", "register", "provisioning"}

func (a *Agent) phasesLocked() []Phase {
	var out []Phase
	for _, n := range phaseOrder {
		if d, ok := a.phaseT[n]; ok {
			out = append(out, Phase{Name: n, MS: ms(d)})
		}
	}
	return out
}

func (a *Agent) phase(name string, d time.Duration) {
	a.mu.Lock()
	a.phaseT[name] = d
	a.mu.Unlock()
}

// boot restores config, time, identity and the stored certificate.
func (a *Agent) boot(ctx context.Context) error {
	p, err := a.state.load()
	if err != nil {
		a.log.Warn("device state unreadable, starting empty", "err", err)
	}
	changed := false
	if p.Epid == "" {
		var b [5]byte
		_, _ = rand.Read(b[:])
		p.Epid = hex.EncodeToString(b[:])
		changed = true
	}
	if p.DeviceID == "" {
		p.DeviceID = uuid.NewString()
		changed = true
	}
	if a.opts.FileConfig != nil {
		p.Flash = a.opts.FileConfig
		changed = true
	}
	a.mu.Lock()
	a.persist = p
	a.cfgStack.Layers[config.LayerFlash] = p.Flash
	a.cfgStack.Layers[config.LayerTether] = p.Tether
	a.cfgStack.Layers[config.LayerProvisioning] = p.Provisioning
	a.mu.Unlock()
	if err := a.recomputeConfig(); err != nil {
		a.log.Error("config layers rejected, using defaults", "err", err)
	}
	// Restore the last known time: the clock never goes backwards past it.
	now := a.b.Clock.Now()
	if !p.LastTime.IsZero() && now.Before(p.LastTime) {
		if err := a.b.Clock.Set(p.LastTime); err != nil {
			a.log.Warn("cannot restore clock", "err", err)
		} else {
			a.log.Info("clock restored from flash", "time", p.LastTime)
		}
	}
	for _, c := range a.opts.SiteRoots {
		if err := a.roots.Add(c); err != nil {
			a.log.Warn("site root not added", "subject", c.Subject.String(), "err", err)
		}
	}
	rec, err := a.certs.Load()
	switch {
	case errors.Is(err, certstore.ErrNotExist):
		rec = nil
	case err != nil:
		a.log.Warn("certificate store unreadable, treated as empty", "err", err)
		rec = nil
	}
	a.mu.Lock()
	a.rec = rec
	a.snap.Cold = rec == nil || rec.Cert == nil
	a.mu.Unlock()
	if rec == nil || rec.Cert == nil {
		// No certificate at all: the key is needed whatever happens next.
		a.startKeygen()
	}
	if changed {
		if err := a.state.save(p); err != nil {
			a.log.Error("cannot save device state", "err", err)
		}
	}
	a.ui.boot()
	a.setFact(func(f *Facts) { f.BootDone = true })
	return nil
}

func (a *Agent) recomputeConfig() error {
	a.mu.Lock()
	c, err := a.cfgStack.Effective()
	old := a.cfg.Language
	a.cfg = c
	a.mu.Unlock()
	if c.Language != old && a.ui != nil {
		if l, lerr := ui.ParseLang(c.Language); lerr == nil {
			a.ui.send(ui.SetLang{Lang: l})
		}
	}
	return err
}

// Config returns the effective configuration.
func (a *Agent) Config() config.Config {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cfg
}

func (a *Agent) discover(ctx context.Context) error {
	if a.opts.Stages.Discover == nil {
		return notImplemented(failure.StageDiscover)
	}
	a.mu.Lock()
	cached := a.persist.Registrar
	a.mu.Unlock()
	start := time.Now()
	res, err := a.opts.Stages.Discover.Discover(ctx, cached)
	a.phase("dhcp", time.Since(start))
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.disc = res
	a.mu.Unlock()
	a.log.Info("discovered", "source", res.Source, "registrar", res.Registrar.Host, "port", res.Registrar.Port, "certprov", res.CertProvURL)
	a.setFact(func(f *Facts) { f.Discovered = true })
	return nil
}

func (a *Agent) syncTime(ctx context.Context) error {
	var err error
	if a.opts.Stages.Time == nil {
		err = notImplemented(failure.StageTime)
	} else {
		a.mu.Lock()
		d := a.disc
		a.mu.Unlock()
		start := time.Now()
		var res ntp.Result
		res, err = a.opts.Stages.Time.Sync(ctx, d)
		a.phase("ntp", time.Since(start))
		if err == nil {
			a.mu.Lock()
			a.snap.Time = &res
			a.mu.Unlock()
			a.health.Clear("time-not-synced")
		}
	}
	if err != nil {
		// The gate: a restored time not older than the build date may judge
		// certificates; note the grace in health.
		if gerr := ntp.Gate(a.b.Clock.Now(), a.opts.BuildDate, false); gerr != nil {
			return err
		}
		a.log.Warn("time not synced, using restored clock", "err", err)
		a.health.Set(health.Warning{Code: "time-not-synced", Title: "time", Detail: err.Error(), Severity: health.Medium, Since: a.b.Clock.Now()})
	}
	a.saveTime()
	a.checkCert()
	a.setFact(func(f *Facts) { f.ClockOK = true })
	return nil
}

// checkCert sets CertValid from the stored record at the current time.
func (a *Agent) checkCert() {
	a.mu.Lock()
	rec := a.rec
	window := a.cfg.RenewBefore.D()
	a.mu.Unlock()
	now := a.b.Clock.Now()
	// A certificate good for more than an hour still signs in; one inside
	// the renewal window is renewed in the background once registered.
	valid := rec != nil && rec.Cert != nil && rec.Check(now, time.Hour) == nil
	if valid && rec.NeedsRenewal(now, window) {
		a.log.Info("stored certificate due for renewal", "not_after", rec.NotAfter)
	}
	if !valid {
		a.startKeygen()
	}
	a.setFact(func(f *Facts) { f.CertValid = valid })
}

func (a *Agent) saveTime() {
	a.mu.Lock()
	p := a.persist
	a.mu.Unlock()
	p.LastTime = a.b.Clock.Now().UTC().Truncate(time.Second)
	if err := a.state.save(p); err != nil {
		a.log.Warn("cannot save time", "err", err)
		return
	}
	a.mu.Lock()
	a.persist = p
	a.mu.Unlock()
}

func (a *Agent) baseTrust() (*certstore.Trust, error) {
	site, err := a.roots.List()
	if err != nil {
		return nil, failure.New(failure.StageChain, failure.StorageFailed, err)
	}
	return certstore.NewTrust(site, true), nil
}

func (a *Agent) chainTrust(ctx context.Context) error {
	if a.opts.Stages.Chain == nil {
		return notImplemented(failure.StageChain)
	}
	base, err := a.baseTrust()
	if err != nil {
		return err
	}
	a.startKeygen() // no valid certificate: get the key ready while the user types
	a.mu.Lock()
	d := a.disc
	a.mu.Unlock()
	start := time.Now()
	t, err := a.opts.Stages.Chain.Establish(ctx, d, base)
	a.phase("chain", time.Since(start))
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.trust = t
	a.mu.Unlock()
	a.setFact(func(f *Facts) { f.ChainTrusted = true })
	return nil
}

// pendingKey is one enrolment key: generated in the background (or reused
// from flash, or made for a tether CSR). key and err are set before done
// is closed and never change afterwards.
type pendingKey struct {
	done chan struct{}
	key  crypto.Signer
	err  error
}

// startKeygen generates the enrolment key in the background, once. A key
// saved in flash as PendingKey (generated before a reboot) is reused.
func (a *Agent) startKeygen() {
	a.pendingMu.Lock()
	defer a.pendingMu.Unlock()
	if a.pk != nil {
		return
	}
	pk := &pendingKey{done: make(chan struct{})}
	a.pk = pk
	a.mu.Lock()
	rec := a.rec
	a.mu.Unlock()
	switch {
	case rec != nil && rec.PendingKey != nil:
		pk.key = rec.PendingKey
		close(pk.done)
		return
	case a.opts.Keygen == nil:
		pk.err = errors.New("device: no key generator")
		close(pk.done)
		return
	}
	a.bg.Go(func() {
		start := time.Now()
		pk.key, pk.err = a.opts.Keygen()
		a.phase("keygen", time.Since(start))
		a.pendingMu.Lock()
		// Keep it in flash unless a newer key (a tether CSR) replaced it.
		if pk.err == nil && a.pk == pk {
			a.savePendingKey(pk.key)
		}
		a.pendingMu.Unlock()
		close(pk.done)
	})
}

// setPendingKey makes k the enrolment key (tether CSR) and keeps it in flash.
func (a *Agent) setPendingKey(k crypto.Signer) {
	pk := &pendingKey{done: make(chan struct{}), key: k}
	close(pk.done)
	a.pendingMu.Lock()
	a.pk = pk
	a.savePendingKey(k)
	a.pendingMu.Unlock()
}

// savePendingKey keeps a fresh key across a reboot during PIN entry.
func (a *Agent) savePendingKey(k crypto.Signer) {
	a.mu.Lock()
	rec := a.rec
	a.mu.Unlock()
	var nr certstore.Record
	if rec != nil {
		nr = *rec
	}
	nr.PendingKey = k
	if err := a.certs.Save(&nr); err != nil {
		a.log.Warn("cannot save pending key", "err", err)
		return
	}
	a.mu.Lock()
	a.rec = &nr
	a.mu.Unlock()
}

func (a *Agent) needCredentials(ctx context.Context) error {
	a.startKeygen()
	a.ui.askCredentials(a.lastUser(), "")
	select {
	case <-ctx.Done():
		return nil
	case <-a.wakeCh:
		return nil
	case c := <-a.credsCh:
		a.mu.Lock()
		a.creds = &c
		a.pinOKAt = c.At
		a.mu.Unlock()
		a.setFact(func(f *Facts) { f.HaveCredentials = true })
	}
	return nil
}

// SubmitCredentials hands extension/number + PIN to the agent (keypad or
// tether `signin`). It does not block.
func (a *Agent) SubmitCredentials(user string, pin Secret) {
	c := credentials{User: user, PIN: pin, At: time.Now()}
	select {
	case a.credsCh <- c:
	default:
		// Replace a stale submission.
		select {
		case <-a.credsCh:
		default:
		}
		a.credsCh <- c
	}
}

// RetryNow cuts a retry wait short (OK on the error screen).
func (a *Agent) RetryNow() {
	select {
	case a.retryCh <- struct{}{}:
	default:
	}
}

func (a *Agent) enroll(ctx context.Context) error {
	if a.opts.Stages.Enroll == nil {
		return notImplemented(failure.StageCert)
	}
	a.startKeygen()
	a.ui.signingIn(10)
	a.pendingMu.Lock()
	pk := a.pk
	a.pendingMu.Unlock()
	// The stage asks for the key only when it builds the CSR: the web ticket
	// round trips overlap the key generation.
	keyFn := func(ctx context.Context) (crypto.Signer, error) {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-pk.done:
		}
		if pk.err != nil {
			return nil, failure.New(failure.StageCert, failure.Internal, pk.err)
		}
		return pk.key, nil
	}
	a.mu.Lock()
	c := a.creds
	req := EnrollRequest{Discovery: a.disc, Trust: a.trust, Key: keyFn, DeviceID: a.persist.DeviceID}
	a.mu.Unlock()
	if c == nil || c.PIN == "" || time.Since(c.At) > pinRetention {
		a.forgetPIN()
		a.setFact(func(f *Facts) { f.HaveCredentials = false })
		return nil
	}
	req.User, req.PIN = c.User, c.PIN
	en, err := a.opts.Stages.Enroll.Enroll(ctx, req)
	for _, p := range phasesOf(en) {
		a.phase(p.Name, time.Duration(p.MS*float64(time.Millisecond)))
	}
	if pk.err != nil {
		a.pendingMu.Lock()
		if a.pk == pk {
			a.pk = nil // generate again next time
		}
		a.pendingMu.Unlock()
	}
	if err != nil {
		// A pool-side outage (web ticket down, data store unavailable) is
		// retried with the same PIN, held in RAM only, for pinRetention; a
		// PIN the pool refused is dropped at once and asked for again.
		if !failure.Retryable(failure.CodeOf(err)) {
			a.forgetPIN()
			a.setFact(func(f *Facts) { f.HaveCredentials = false })
		}
		return err
	}
	a.forgetPIN()
	rec := &certstore.Record{Key: pk.key, Cert: en.Cert, Chain: en.Chain, SIPURI: en.SIPURI, DeviceID: req.DeviceID,
		Pool: en.Pool, NotAfter: en.Cert.NotAfter}
	a.mu.Lock()
	rec.Epid = a.persist.Epid
	a.mu.Unlock()
	if err := rec.Check(a.b.Clock.Now(), time.Hour); err != nil {
		a.setFact(func(f *Facts) { f.HaveCredentials = false })
		return failure.New(failure.StageCert, failure.CertRejected, err)
	}
	if err := a.certs.Save(rec); err != nil {
		return failure.New(failure.StageCert, failure.StorageFailed, err)
	}
	a.log.Info("certificate stored", "sip_uri", rec.SIPURI, "not_after", rec.NotAfter)
	a.pendingMu.Lock()
	if a.pk == pk {
		a.pk = nil
	}
	a.pendingMu.Unlock()
	a.mu.Lock()
	a.rec = rec
	a.mu.Unlock()
	a.setFact(func(f *Facts) { f.CertValid = true; f.HaveCredentials = false })
	return nil
}

// pinRetention bounds how long a typed PIN stays in RAM for automatic
// retries after a pool-side failure. It is never logged or written.
const pinRetention = 10 * time.Minute

// forgetPIN drops the PIN (the user name stays for the next prompt).
func (a *Agent) forgetPIN() {
	a.mu.Lock()
	if a.creds != nil {
		a.creds = &credentials{User: a.creds.User, At: a.creds.At}
	}
	a.mu.Unlock()
}

func phasesOf(en *Enrollment) []Phase {
	if en == nil {
		return nil
	}
	return en.Phases
}

func (a *Agent) register(ctx context.Context) error {
	if a.opts.Stages.Register == nil {
		return notImplemented(failure.StageRegister)
	}
	a.ui.signingIn(70)
	a.mu.Lock()
	req := RegisterRequest{Discovery: a.disc, Trust: a.trust, Record: a.rec, Epid: a.persist.Epid}
	a.mu.Unlock()
	if req.Trust == nil {
		t, err := a.baseTrust()
		if err != nil {
			return err
		}
		req.Trust = t
		a.mu.Lock()
		a.trust = t
		a.mu.Unlock()
	}
	start := time.Now()
	sess, err := a.opts.Stages.Register.Register(ctx, req)
	if err != nil {
		a.phase("register", time.Since(start))
		if errors.Is(err, ErrNeedCertificate) {
			// Try the certificate binding first; the PIN only if the pool
			// refuses it.
			if rerr := a.renewNow(ctx); rerr == nil {
				a.log.Info("registrar refused the certificate; renewed it without the PIN")
				return nil
			}
			a.log.Info("registrar refused the certificate; enrolling again")
			a.setFact(func(f *Facts) { f.CertValid = false })
		}
		return err
	}
	info := sess.Info()
	if len(info.Phases) == 0 {
		a.phase("register", time.Since(start))
	}
	for _, p := range info.Phases {
		a.phase(p.Name, time.Duration(p.MS*float64(time.Millisecond)))
	}
	a.mu.Lock()
	a.session = sess
	a.snap.Registrar = info.Registrar
	a.snap.Auth = info.Auth
	if !a.pinOKAt.IsZero() {
		a.snap.PINOKToRegistered = time.Since(a.pinOKAt)
	}
	p := a.persist
	a.mu.Unlock()
	if ep, ok := parseEndpoint(info.Registrar); ok {
		p.Registrar = &ep
		if err := a.state.save(p); err != nil {
			a.log.Warn("cannot cache registrar", "err", err)
		} else {
			a.mu.Lock()
			a.persist = p
			a.mu.Unlock()
		}
	}
	a.log.Info("registered", "sip_uri", info.SIPURI, "registrar", info.Registrar, "auth", info.Auth)
	a.ui.registered(info)
	a.setFact(func(f *Facts) { f.Registered = true })
	return nil
}

// applyProvisioning turns in-band settings into the provisioning config
// layer (above DHCP in the precedence) and keeps it in flash: from now on
// the phone uses the pool's own CertProv URL, as LPE does after a sign-in.
func (a *Agent) applyProvisioning(settings map[string]string) {
	if len(settings) == 0 {
		return
	}
	l := config.Layer{}
	if u := settings["CAHandlerInternalUri"]; strings.HasPrefix(u, "https://") {
		if err := l.Set("certprov_url", u); err != nil {
			a.log.Warn("in-band certprov url rejected", "err", err)
		}
	}
	a.mu.Lock()
	a.cfgStack.Layers[config.LayerProvisioning] = l
	p := a.persist
	a.mu.Unlock()
	if err := a.recomputeConfig(); err != nil {
		a.log.Warn("in-band provisioning rejected", "err", err)
		a.mu.Lock()
		delete(a.cfgStack.Layers, config.LayerProvisioning)
		a.mu.Unlock()
		_ = a.recomputeConfig()
		return
	}
	p.Provisioning = l
	if err := a.state.save(p); err != nil {
		a.log.Warn("cannot save in-band provisioning", "err", err)
	} else {
		a.mu.Lock()
		a.persist = p
		a.mu.Unlock()
	}
	a.log.Info("in-band provisioning applied", "settings", len(settings), "layer_keys", len(l))
}

func (a *Agent) keepAlive(ctx context.Context) error {
	a.mu.Lock()
	sess := a.session
	a.mu.Unlock()
	if sess == nil {
		a.setFact(func(f *Facts) { f.Registered = false; f.Provisioned = false })
		return nil
	}
	err := sess.Run(ctx)
	if ctx.Err() != nil {
		return nil
	}
	_ = sess.Close()
	a.mu.Lock()
	a.session = nil
	a.mu.Unlock()
	a.setFact(func(f *Facts) { f.Registered = false; f.Provisioned = false })
	if errors.Is(err, ErrNeedCertificate) {
		a.setFact(func(f *Facts) { f.CertValid = false })
	}
	if err == nil {
		err = failure.Errorf(failure.StageRegister, failure.RegistrarUnreachable, "registration ended")
	}
	return err
}

func parseEndpoint(hostport string) (discover.Endpoint, bool) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return discover.Endpoint{}, false
	}
	n, err := strconv.Atoi(port)
	if err != nil || n <= 0 || n > 65535 {
		return discover.Endpoint{}, false
	}
	return discover.Endpoint{Host: host, Port: n}, true
}

// renewInBackground renews a certificate inside its renewal window while
// the phone stays registered with the old one.
func (a *Agent) renewInBackground(ctx context.Context) {
	a.mu.Lock()
	a.renewing = true
	a.mu.Unlock()
	a.bg.Go(func() {
		defer func() {
			a.mu.Lock()
			a.renewing = false
			a.mu.Unlock()
		}()
		if err := a.renewNow(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn("certificate renewal failed", "code", string(failure.CodeOf(err)), "err", err)
		}
	})
}

// renewNow renews the stored certificate with itself (no PIN). When the
// pool wants the PIN, a health warning says so; the phone keeps the old
// certificate until it really expires (then the sign-in screen comes).
func (a *Agent) renewNow(ctx context.Context) error {
	if a.opts.Stages.Renew == nil {
		return notImplemented(failure.StageCert)
	}
	a.mu.Lock()
	rec, disc, trust := a.rec, a.disc, a.trust
	a.mu.Unlock()
	if rec == nil || rec.Cert == nil || rec.Key == nil {
		return failure.Errorf(failure.StageCert, failure.CredentialsNeeded, "no certificate to renew with")
	}
	if trust == nil {
		t, err := a.baseTrust()
		if err != nil {
			return err
		}
		trust = t
	}
	if a.opts.Keygen == nil {
		return failure.Errorf(failure.StageCert, failure.Internal, "no key generator")
	}
	key, err := a.opts.Keygen()
	if err != nil {
		return failure.New(failure.StageCert, failure.Internal, err)
	}
	en, err := a.opts.Stages.Renew.Renew(ctx, RenewRequest{Discovery: disc, Trust: trust, Record: rec, NewKey: key})
	if err != nil {
		if failure.CodeOf(err) == failure.CredentialsNeeded {
			a.health.Set(health.Warning{Code: "renewal-needs-pin", Title: "certificate", Severity: health.Medium,
				Detail: "the pool wants the PIN to renew the certificate; sign in again before " + rec.NotAfter.UTC().Format(time.RFC3339),
				Since:  a.b.Clock.Now()})
			a.observe()
		}
		return err
	}
	nr := &certstore.Record{Key: key, Cert: en.Cert, Chain: en.Chain, SIPURI: rec.SIPURI, DeviceID: rec.DeviceID,
		Epid: rec.Epid, Pool: rec.Pool, NotAfter: en.Cert.NotAfter}
	if err := nr.Check(a.b.Clock.Now(), time.Hour); err != nil {
		return failure.New(failure.StageCert, failure.CertRejected, err)
	}
	if err := a.certs.Save(nr); err != nil {
		return failure.New(failure.StageCert, failure.StorageFailed, err)
	}
	for _, p := range en.Phases {
		a.phase(p.Name, time.Duration(p.MS*float64(time.Millisecond)))
	}
	a.mu.Lock()
	a.rec = nr
	a.mu.Unlock()
	a.health.Clear("renewal-needs-pin")
	a.log.Info("certificate renewed", "sip_uri", nr.SIPURI, "not_after", nr.NotAfter)
	a.observe()
	return nil
}
