package main

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/deskphone/deskphone/board"
	"github.com/deskphone/deskphone/board/sim"
	"github.com/deskphone/deskphone/bootstrap/failure"
	"github.com/deskphone/deskphone/device"
	"github.com/deskphone/deskphone/device/config"
	"github.com/deskphone/deskphone/tools/labpool"
	"github.com/deskphone/deskphone/tools/labpool/faults"
	"github.com/deskphone/deskphone/ui"
)

// FaultCase is one row of the fault matrix: the pool fault and the LCD
// error codes the phone may show for it (cli-contract.md, failure codes).
type FaultCase struct {
	Fault string
	// Want lists the acceptable codes; "" means "no error expected".
	Want []failure.Code
	// Retype is true when recovery may ask for the PIN again (a locked PIN
	// is a final answer); otherwise the phone must recover on its own.
	Retype bool
	Note   string
	// Config overrides the phone's flash config for this case.
	Config map[string]string
}

// Matrix is the labpool fault matrix.
var Matrix = []FaultCase{
	{Fault: faults.DatastoreUnavailable, Want: []failure.Code{failure.CertPublishFailed}},
	{Fault: faults.ChainUntrusted, Want: []failure.Code{failure.ChainUntrusted}},
	{Fault: faults.WebticketDown, Want: []failure.Code{failure.TicketUnavailable}},
	{Fault: faults.PINLocked, Want: []failure.Code{failure.PINLocked}, Retype: true},
	{Fault: faults.Registrar503, Want: []failure.Code{failure.RegistrarBusy}},
	{Fault: faults.BadRspauth, Want: []failure.Code{failure.BadSignature}},
	{Fault: faults.Opt43Truncated, Want: []failure.Code{failure.Opt43Truncated}},
	// With DHCP, option 120 names the registrar and the refused SRV only
	// loses backups; the strict trust rule shows when DNS is all there is.
	{Fault: faults.SRVCrossDomain, Want: []failure.Code{failure.UntrustedDomain},
		// The admin of a DHCP-less site configures the CertProv URL; {https}
		// is the lab pool's HTTPS port.
		Config: map[string]string{"dhcp_mode": "off", "sip_domain": "example.test",
			"certprov_url": "https://pool.example.test:{https}/CertProv/CertProvisioningService.svc"},
		Note: "DNS-only discovery (DHCP off)"},
	// The registrar drops the connection on REGISTER: the phone cannot reach
	// any registrar, shows E701 and re-discovers until it is back.
	{Fault: faults.DropConnection, Want: []failure.Code{failure.RegistrarUnreachable}},
	{Fault: faults.NTPDown, Want: []failure.Code{failure.TimeNotSet, ""},
		Note: "no error when the restored clock passes the build-date gate"},
}

// FaultResult is the outcome of one fault case.
type FaultResult struct {
	Fault     string   `json:"fault"`
	Want      []string `json:"want"`
	Got       string   `json:"got"` // "" = no error shown
	Stage     string   `json:"stage,omitempty"`
	Detail    string   `json:"detail,omitempty"`
	ErrorMS   float64  `json:"error_ms"` // power-on to the error
	Recovered bool     `json:"recovered"`
	// RecoverMS is from clearing the fault to registered.
	RecoverMS float64 `json:"recover_ms"`
	// Codes lists every error code shown, in order.
	Codes []string `json:"codes"`
	// AfterClear lists the error codes shown after the fault cleared.
	AfterClear []string `json:"after_clear,omitempty"`
	// PINEntries counts the times the phone asked for extension and PIN
	// (1 = only the first sign-in; more means the user had to retype).
	PINEntries int    `json:"pin_entries"`
	OK         bool   `json:"ok"`
	Note       string `json:"note,omitempty"`
	Problem    string `json:"problem,omitempty"`
}

// phoneRun is a full device.Agent on a board/sim board against an
// in-process pool, with the demo user's keys typed at every sign-in screen.
type phoneRun struct {
	mu       sync.Mutex
	snap     device.Snapshot
	changed  chan struct{}
	onScreen bool
	entries  int
	lastErr  *failure.Error
	codes    []string // every distinct failure shown, in order
}

func (r *phoneRun) observe(s device.Snapshot) {
	r.mu.Lock()
	r.snap = s
	if s.LastError != nil && s.LastError != r.lastErr {
		r.lastErr = s.LastError
		r.codes = append(r.codes, string(s.LastError.Code))
	}
	r.mu.Unlock()
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

func (r *phoneRun) last() device.Snapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.snap
}

// wait returns when cond holds for the latest snapshot, or ctx ends.
func (r *phoneRun) wait(ctx context.Context, cond func(device.Snapshot) bool) (device.Snapshot, error) {
	t := time.NewTicker(50 * time.Millisecond) // snapshots may be coalesced
	defer t.Stop()
	for {
		if s := r.last(); cond(s) {
			return s, nil
		}
		select {
		case <-ctx.Done():
			return r.last(), ctx.Err()
		case <-r.changed:
		case <-t.C:
		}
	}
}

// demoKeys clears the prefilled extension (the phone offers the last one
// again), then types alice's extension and PIN.
var demoKeys = append(slices.Repeat([]board.Key{board.KeyBack}, ui.MaxUser),
	'1', '0', '0', '1', board.KeyOK, '2', '4', '6', '8', '0', board.KeyOK)

// RunFault starts a pool with fault fc.Fault, boots a cold phone, records
// the first error it shows, clears the fault and waits for registered.
func RunFault(ctx context.Context, fc FaultCase, key crypto.Signer, timeout time.Duration, logger *slog.Logger) FaultResult {
	res := FaultResult{Fault: fc.Fault, Note: fc.Note}
	for _, c := range fc.Want {
		if c == "" {
			res.Want = append(res.Want, "none")
		} else {
			res.Want = append(res.Want, string(c))
		}
	}
	if err := runFault(ctx, fc, key, timeout, logger, &res); err != nil {
		res.Problem = err.Error()
	}
	got := res.Got
	if got == "" {
		got = "none"
	}
	res.OK = res.Problem == "" && res.Recovered && contains(res.Want, got) && (fc.Retype || res.PINEntries <= 1)
	if res.Problem == "" && !fc.Retype && res.PINEntries > 1 {
		res.Problem = fmt.Sprintf("recovery asked for the PIN again (%d sign-in screens; codes shown: %v, after the fault cleared: %v)", res.PINEntries, res.Codes, res.AfterClear)
	}
	return res
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func runFault(ctx context.Context, fc FaultCase, key crypto.Signer, timeout time.Duration, logger *slog.Logger, res *FaultResult) error {
	set, err := faults.Parse([]string{fc.Fault})
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "reliability-pool-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	p, err := labpool.Start(ctx, labpool.Options{Demo: true, Faults: set, StateDir: dir, Logger: logger.With("side", "pool")})
	if err != nil {
		return err
	}
	defer p.Close()

	b, parts, err := sim.New(sim.Options{Logger: logger})
	if err != nil {
		return err
	}
	defer b.Close()

	flash := config.Layer{}
	for k, v := range map[string]string{"language": "en", "dns": p.Ready.DNS, "dhcp_mode": "unicast", "dhcp_server": p.Ready.DHCP} {
		if err := flash.Set(k, v); err != nil {
			return fmt.Errorf("config %s: %w", k, err)
		}
	}
	_, httpsPort, _ := net.SplitHostPort(p.Ready.HTTPS)
	for k, v := range fc.Config {
		if err := flash.Set(k, strings.ReplaceAll(v, "{https}", httpsPort)); err != nil {
			return fmt.Errorf("config %s: %w", k, err)
		}
	}
	if _, port, err := net.SplitHostPort(p.Ready.HTTP); err == nil {
		if err := flash.Set("web_http_port", port); err != nil {
			return fmt.Errorf("config web_http_port: %w", err)
		}
	}

	r := &phoneRun{changed: make(chan struct{}, 1)}
	var keysWG sync.WaitGroup
	defer keysWG.Wait()
	onFrame := func(f ui.Frame) {
		r.mu.Lock()
		defer r.mu.Unlock()
		enter := f.Screen == ui.ScreenSignInUser && !r.onScreen
		r.onScreen = f.Screen == ui.ScreenSignInUser
		if enter {
			r.entries++
			keysWG.Add(1)
			go func() {
				defer keysWG.Done()
				for _, k := range demoKeys {
					if !parts.Keypad.Press(k) {
						return
					}
				}
			}()
		}
	}
	ag, err := device.New(device.Options{
		Board: b, Logger: logger.With("side", "phone"), FileConfig: flash,
		Version: "reliability", BuildDate: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		Keygen:    func() (crypto.Signer, error) { return key, nil },
		SiteRoots: []*x509.Certificate{p.CA.Root()},
		Observe:   r.observe, OnFrame: onFrame,
		RetryMax: 500 * time.Millisecond,
	})
	if err != nil {
		return err
	}
	agentErr := make(chan error, 1)
	go func() { agentErr <- ag.Run(ctx) }()
	defer func() {
		cancel()
		select {
		case <-agentErr:
		case <-time.After(5 * time.Second):
		}
	}()

	start := time.Now()
	wctx, wcancel := context.WithTimeout(ctx, timeout)
	s, err := r.wait(wctx, func(s device.Snapshot) bool {
		return s.LastError != nil || s.Facts.Reached(device.MilestoneRegistered)
	})
	wcancel()
	res.ErrorMS = ms(time.Since(start))
	if err != nil {
		return fmt.Errorf("no error and not registered after %v (state %s)", timeout, s.State)
	}
	if fe := s.LastError; fe != nil {
		res.Got, res.Stage, res.Detail = string(fe.Code), fe.Stage, trim(fe.Detail(), 160)
	}

	// Recovery: clear the fault while the phone retries; no restart.
	r.mu.Lock()
	nBefore := len(r.codes)
	r.mu.Unlock()
	p.Faults.Clear(fc.Fault)
	start = time.Now()
	defer func() {
		r.mu.Lock()
		res.AfterClear = append([]string(nil), r.codes[nBefore:]...)
		res.Codes = append([]string(nil), r.codes...)
		res.PINEntries = r.entries
		r.mu.Unlock()
	}()
	wctx, wcancel = context.WithTimeout(ctx, timeout)
	s, err = r.wait(wctx, func(s device.Snapshot) bool { return s.Facts.Reached(device.MilestoneRegistered) })
	wcancel()
	res.RecoverMS = ms(time.Since(start))
	if err != nil {
		last := ""
		if s.LastError != nil {
			last = fmt.Sprintf(", last error %s %s: %s", s.LastError.Code, s.LastError.Stage, trim(s.LastError.Detail(), 160))
		}
		return fmt.Errorf("not registered %v after the fault cleared (state %s%s)", timeout, s.State, last)
	}
	res.Recovered = true
	return nil
}

func trim(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()/10) / 100 }

var errNoCount = errors.New("no crash-point count in the output")
