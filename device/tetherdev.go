package device

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/deskphone/deskphone/bootstrap/certprov"
	"github.com/deskphone/deskphone/bootstrap/failure"
	"github.com/deskphone/deskphone/certstore"
	"github.com/deskphone/deskphone/device/config"
	"github.com/deskphone/deskphone/device/tether"
)

// ErrReboot is returned by Run when a reboot was requested (tether
// `reboot`/`reset`): the supervisor restarts the process.
var ErrReboot = errors.New("device: reboot requested")

// TetherDevice returns the agent's side of the USB tethering link.
func (a *Agent) TetherDevice() tether.Device {
	return tether.Device{Info: a, Config: a, Trust: a, Identity: a, Confirmer: a, Watcher: a}
}

// Hello implements tether.Info.
func (a *Agent) Hello() tether.Hello {
	a.mu.Lock()
	defer a.mu.Unlock()
	return tether.Hello{Model: "deskphone " + a.b.Name, Firmware: a.opts.Version, Serial: a.persist.Epid, DeviceID: a.persist.DeviceID}
}

// Status implements tether.Info.
func (a *Agent) Status() tether.Status {
	s := a.Snapshot()
	st := tether.Status{State: s.State.String(), SIPURI: s.SIPURI, Registrar: s.Registrar, Firmware: a.opts.Version}
	if !s.NotAfter.IsZero() {
		st.CertNotAfter = s.NotAfter.UTC().Format(time.RFC3339)
	}
	if s.LastError != nil {
		ei := errorInfo(s.LastError, a.Config().Language)
		st.LastError = &tether.ErrorInfo{Stage: ei.Stage, Code: ei.Code, Cause: ei.Cause, Fix: ei.Fix}
	}
	return st
}

// Logs implements tether.Info.
func (a *Agent) Logs(ctx context.Context, follow bool, fn func(string) error) error {
	if a.opts.Ring == nil {
		return errors.New("device: no log buffer")
	}
	var c <-chan string
	if follow {
		c = a.opts.Ring.Follow(ctx)
	}
	for _, l := range a.opts.Ring.Lines() {
		if err := fn(l); err != nil {
			return err
		}
	}
	if !follow {
		return nil
	}
	for l := range c {
		if err := fn(l); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// Diag implements tether.Info: the stage-by-stage view of the running
// agent (the live boot's results; the stages are not re-run while the
// phone is in service).
func (a *Agent) Diag(ctx context.Context, fn func(json.RawMessage) error) error {
	for _, r := range a.StageReports() {
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		if err := fn(b); err != nil {
			return err
		}
	}
	return nil
}

// StageReports describes each stage as the running agent last saw it.
func (a *Agent) StageReports() []StageReport {
	s := a.Snapshot()
	lang := a.Config().Language
	phase := map[string]float64{}
	for _, p := range s.Phases {
		phase[p.Name] = p.MS
	}
	failed := func(stage string) *ErrorInfo {
		if s.LastError != nil && s.LastError.Stage == stage {
			return errorInfo(s.LastError, lang)
		}
		return nil
	}
	mk := func(stage string, ok bool, msName string, detail any) StageReport {
		r := StageReport{Stage: stage, OK: ok, MS: phase[msName], Detail: detail, Error: failed(stage)}
		if r.Error != nil {
			r.OK = false
		}
		if r.Detail == nil {
			r.Detail = map[string]string{}
		}
		return r
	}
	var tm any
	if s.Time != nil {
		tm = s.Time
	}
	a.mu.Lock()
	rec := a.rec
	a.mu.Unlock()
	var cert any
	if rec != nil && rec.Cert != nil {
		cert = certDetail(rec, a.b.Clock.Now())
	}
	return []StageReport{
		mk("discover", s.Facts.Discovered, "dhcp", s.Discovery),
		mk("time", s.Facts.ClockOK, "ntp", tm),
		mk("chain", s.Facts.ChainTrusted || s.Facts.CertValid, "chain", nil),
		mk("cert", s.Facts.CertValid, "certprov", cert),
		mk("register", s.Facts.Registered, "register", map[string]string{"registrar": s.Registrar, "auth": s.Auth}),
	}
}

// ConfigGet implements tether.Config.
func (a *Agent) ConfigGet(key string) (map[string]string, error) {
	c := a.Config()
	b, _ := json.Marshal(c)
	var m map[string]json.RawMessage
	_ = json.Unmarshal(b, &m)
	out := map[string]string{}
	for k, v := range m {
		if k == "version" || (key != "" && k != key) {
			continue
		}
		var s string
		if json.Unmarshal(v, &s) == nil {
			out[k] = s
		} else {
			out[k] = string(v)
		}
	}
	// Values learned at boot (the DHCP layer of the precedence) show where
	// nothing set them.
	d := a.Snapshot().Discovery
	learned := map[string]string{"certprov_url": d.CertProvURL, "sip_domain": d.SIPDomain}
	if d.Registrar.Host != "" {
		learned["registrar"] = net.JoinHostPort(d.Registrar.Host, strconv.Itoa(d.Registrar.Port))
	}
	for k, v := range learned {
		if (key == "" || key == k) && out[k] == "" && v != "" {
			out[k] = v
		}
	}
	if key != "" && len(out) == 0 {
		return nil, fmt.Errorf("unknown key %q: %w", key, tether.ErrInvalid)
	}
	return out, nil
}

// ConfigSet implements tether.Config: a persisted tether override.
func (a *Agent) ConfigSet(key, value string) error {
	a.mu.Lock()
	p := a.persist
	l := config.Layer{}
	for k, v := range p.Tether {
		l[k] = v
	}
	a.mu.Unlock()
	if err := l.Set(key, value); err != nil {
		return fmt.Errorf("%w: %w", tether.ErrInvalid, err)
	}
	a.mu.Lock()
	a.cfgStack.Layers[config.LayerTether] = l
	a.mu.Unlock()
	if err := a.recomputeConfig(); err != nil {
		a.mu.Lock()
		a.cfgStack.Layers[config.LayerTether] = p.Tether
		a.mu.Unlock()
		_ = a.recomputeConfig()
		return fmt.Errorf("%w: %w", tether.ErrInvalid, err)
	}
	p.Tether = l
	if err := a.state.save(p); err != nil {
		return err
	}
	a.mu.Lock()
	a.persist = p
	a.mu.Unlock()
	a.log.Info("config set over tether", "key", key)
	return nil
}

// Roots implements tether.Trust.
func (a *Agent) Roots() ([]tether.RootInfo, error) {
	site, err := a.roots.List()
	if err != nil {
		return nil, err
	}
	var out []tether.RootInfo
	add := func(c *x509.Certificate, src string) {
		out = append(out, tether.RootInfo{Fingerprint: certstore.Fingerprint(c), Subject: c.Subject.String(),
			NotAfter: c.NotAfter.UTC().Format(time.RFC3339), Source: src})
	}
	for _, c := range site {
		add(c, "site")
	}
	for _, c := range certstore.Bundled() {
		add(c, "bundled")
	}
	return out, nil
}

// AddRoot implements tether.Trust.
func (a *Agent) AddRoot(der []byte) error {
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return fmt.Errorf("%w: %w", tether.ErrInvalid, err)
	}
	if err := a.roots.Add(c); err != nil {
		return fmt.Errorf("%w: %w", tether.ErrInvalid, err)
	}
	a.log.Info("site root added over tether", "subject", c.Subject.String())
	return nil
}

// RemoveRoot implements tether.Trust.
func (a *Agent) RemoveRoot(fp string) error {
	if err := a.roots.Remove(fp); err != nil {
		return fmt.Errorf("%w: %w", tether.ErrInvalid, err)
	}
	return nil
}

// SignIn implements tether.Identity: the normal PIN flow, as if typed.
func (a *Agent) SignIn(ctx context.Context, user string, pin tether.Secret) error {
	// Watch before acting: a fast sign-in must not finish unseen.
	ch, cancel := a.subscribe()
	defer cancel()
	a.SubmitCredentials(user, Secret(pin.Reveal()))
	a.RetryNow()
	return a.waitRegistered(ctx, ch)
}

// waitRegistered waits until the agent registers or reports a failure,
// watching ch (subscribed before the caller acted) and, as a backstop, the
// current snapshot.
func (a *Agent) waitRegistered(ctx context.Context, ch <-chan Snapshot) error {
	check := func(s Snapshot) (bool, error) {
		if s.Facts.Registered {
			return true, nil
		}
		if s.LastError != nil && (s.State == Error || s.State == Retrying) && s.Facts.Err != nil {
			return true, s.LastError
		}
		return false, nil
	}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		var s Snapshot
		select {
		case <-ctx.Done():
			return ctx.Err()
		case s = <-ch:
		case <-tick.C:
			s = a.Snapshot()
		}
		if done, err := check(s); done {
			return err
		}
	}
}

// CSR implements tether.Identity: a fresh key kept pending in flash.
func (a *Agent) CSR(ctx context.Context, user string) ([]byte, string, error) {
	a.mu.Lock()
	rec := a.rec
	a.mu.Unlock()
	sip := user
	if sip == "" && rec != nil {
		sip = rec.SIPURI
	}
	if sip == "" {
		return nil, "", fmt.Errorf("%w: no SIP address: pass the user's sign-in address", tether.ErrInvalid)
	}
	if len(sip) < 4 || sip[:4] != "sip:" {
		sip = "sip:" + sip
	}
	k, err := certprov.GenerateKey()
	if err != nil {
		return nil, "", err
	}
	csr, err := certprov.BuildCSR(k, sip)
	if err != nil {
		return nil, "", err
	}
	a.setPendingKey(k)
	return csr, sip, nil
}

// InstallCert implements tether.Identity: the certificate must match the
// pending key and chain to a trusted root; then the phone signs in with it.
func (a *Agent) InstallCert(ctx context.Context, certDER []byte, chainDER [][]byte) error {
	cert, err := x509.ParseCertificate(certDER)
	if err != nil {
		return fmt.Errorf("%w: certificate: %w", tether.ErrInvalid, err)
	}
	var chain []*x509.Certificate
	for _, d := range chainDER {
		c, err := x509.ParseCertificate(d)
		if err != nil {
			return fmt.Errorf("%w: chain: %w", tether.ErrInvalid, err)
		}
		chain = append(chain, c)
	}
	a.mu.Lock()
	rec := a.rec
	p := a.persist
	a.mu.Unlock()
	if rec == nil || rec.PendingKey == nil {
		return fmt.Errorf("%w: no pending key: run csr first", tether.ErrInvalid)
	}
	base, err := a.baseTrust()
	if err != nil {
		return err
	}
	now := a.b.Clock.Now()
	if err := base.WithIntermediates(chain).Verify(append([]*x509.Certificate{cert}, chain...), "", now, x509.ExtKeyUsageAny); err != nil {
		return failure.New(failure.StageCert, failure.CertRejected, fmt.Errorf("certificate does not chain to a trusted root: %w", err))
	}
	sip := "sip:" + cert.Subject.CommonName
	nr := &certstore.Record{Key: rec.PendingKey, Cert: cert, Chain: chain, SIPURI: sip, DeviceID: p.DeviceID, Epid: p.Epid, NotAfter: cert.NotAfter}
	if err := nr.Check(now, time.Hour); err != nil {
		return failure.New(failure.StageCert, failure.CertRejected, err)
	}
	if err := a.certs.Save(nr); err != nil {
		return failure.New(failure.StageCert, failure.StorageFailed, err)
	}
	a.log.Info("certificate installed over tether", "sip_uri", sip, "not_after", cert.NotAfter)
	a.mu.Lock()
	a.rec = nr
	a.facts.Err = nil
	a.facts.Waiting = false
	a.mu.Unlock()
	ch, cancel := a.subscribe()
	defer cancel()
	a.setFact(func(f *Facts) { f.CertValid = true; f.HaveCredentials = false })
	a.wake()
	return a.waitRegistered(ctx, ch)
}

// Reset implements tether.Identity: forget the identity and overrides.
func (a *Agent) Reset(ctx context.Context) error {
	if err := a.certs.Clear(); err != nil {
		return err
	}
	a.mu.Lock()
	p := a.persist
	a.mu.Unlock()
	p.Tether, p.Registrar, p.Provisioning = nil, nil, nil
	if err := a.state.save(p); err != nil {
		return err
	}
	a.log.Warn("factory reset over tether")
	return a.Reboot(ctx)
}

// Reboot implements tether.Identity: Run returns ErrReboot shortly after.
func (a *Agent) Reboot(ctx context.Context) error {
	a.log.Warn("reboot requested")
	a.mu.Lock()
	stop := a.stop
	a.mu.Unlock()
	if stop != nil {
		// Let the answer reach the host first.
		time.AfterFunc(200*time.Millisecond, func() { stop(ErrReboot) })
	}
	return nil
}

// WatchStatus implements tether.Watcher.
func (a *Agent) WatchStatus(ctx context.Context, fn func(tether.Status)) error {
	ch, cancel := a.subscribe()
	defer cancel()
	last := tether.Status{}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
			st := a.Status()
			if st.State != last.State || st.SIPURI != last.SIPURI || (st.LastError == nil) != (last.LastError == nil) {
				fn(st)
				last = st
			}
		}
	}
}

// subscribe returns a channel of snapshots (lossy, latest wins).
func (a *Agent) subscribe() (<-chan Snapshot, func()) {
	ch := make(chan Snapshot, 16)
	a.subMu.Lock()
	if a.subs == nil {
		a.subs = map[chan Snapshot]struct{}{}
	}
	a.subs[ch] = struct{}{}
	a.subMu.Unlock()
	return ch, func() {
		a.subMu.Lock()
		delete(a.subs, ch)
		a.subMu.Unlock()
	}
}

func (a *Agent) publish(s Snapshot) {
	a.subMu.Lock()
	defer a.subMu.Unlock()
	for ch := range a.subs {
		select {
		case ch <- s:
		default:
			// A slow reader gets the latest state, not a stale one: drop
			// the oldest queued snapshot.
			select {
			case <-ch:
			default:
			}
			select {
			case ch <- s:
			default:
			}
		}
	}
}

// wake cuts short whatever the loop is waiting for (credentials, retry).
func (a *Agent) wake() {
	select {
	case a.wakeCh <- struct{}{}:
	default:
	}
}
