// Command phonesim runs the phone agent on a simulated board against an
// in-process lab pool (or a running labpool): the LCD drawn in the terminal,
// keys from stdin or --keys, a JSON report with --json. See cli-contract.md.
package main

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	gosip "github.com/emiago/sipgo/sip"
	"image/png"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/deskphone/deskphone/board"
	"github.com/deskphone/deskphone/board/sim"
	"github.com/deskphone/deskphone/bootstrap/failure"
	"github.com/deskphone/deskphone/device"
	"github.com/deskphone/deskphone/device/config"
	"github.com/deskphone/deskphone/device/logring"
	"github.com/deskphone/deskphone/tools/labpool"
	"github.com/deskphone/deskphone/tools/labpool/faults"
	"github.com/deskphone/deskphone/ui"
	"github.com/deskphone/deskphone/ui/pixel"
	"github.com/deskphone/deskphone/ui/termview"
	"github.com/deskphone/deskphone/ui/text"
)

var (
	version   = "dev"
	buildDate = "2026-11-01T00:00:00Z"
)

func main() {
	// sipgo's package-level logger is chatty about normal connection teardown;
	// our SIP code logs through the injected loggers.
	gosip.SetDefaultLogger(slog.New(slog.DiscardHandler))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, errReported) {
			fmt.Fprintln(os.Stderr, "phonesim:", err)
		}
		os.Exit(1)
	}
}

// errReported means the failure is already in the printed report.
var errReported = errors.New("phonesim: failed")

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(s string) error { *m = append(*m, s); return nil }

// Options is one phonesim run.
type Options struct {
	Pool       string // "embedded" or a READY.json path
	State      string
	Lang       string
	Keys       []board.Key
	Until      string
	Timeout    time.Duration
	Snapshots  string
	Faults     []string
	TetherPort string
	Text       bool
	LogLevel   slog.Level
	// Interactive draws the LCD on Out and reads keys from In.
	Interactive bool
	In          io.Reader
	Out         io.Writer
	Log         io.Writer
	// PoolHook, when set, is called with the embedded pool once it is up (tests, bench).
	PoolHook func(*labpool.Pool)
	// BoardHook, when set, is called with the simulated board's parts (tests
	// press keys on the keypad).
	BoardHook func(*sim.Parts)
}

// Report is the --json document (cli-contract.md).
type Report struct {
	State               string         `json:"state"`
	SIPURI              string         `json:"sip_uri"`
	Registrar           string         `json:"registrar"`
	Auth                string         `json:"auth"`
	CertNotAfter        string         `json:"cert_not_after"`
	Cold                bool           `json:"cold"`
	Phases              []device.Phase `json:"phases"`
	PINOKToRegisteredMS *float64       `json:"pin_ok_to_registered_ms"`
	TotalMS             float64        `json:"total_ms"`
	Error               *ReportError   `json:"error"`
	Milestone           string         `json:"milestone,omitempty"`
	Snapshots           int            `json:"snapshots,omitempty"`
	// SignInMS is the wall time from the agent's start to registered (the
	// pool's start-up excluded); null if it did not register.
	SignInMS *float64 `json:"signin_ms"`
}

// ReportError is the error object of the report.
type ReportError struct {
	Stage  string `json:"stage"`
	Code   string `json:"code"`
	Cause  string `json:"cause"`
	Fix    string `json:"fix"`
	Detail string `json:"detail,omitempty"`
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "bench" {
		return bench(ctx, args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("phonesim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o Options
	var keys, level string
	var asJSON bool
	var fl multi
	fs.StringVar(&o.Pool, "pool", "embedded", "embedded, or a labpool READY.json file")
	fs.StringVar(&o.State, "state", "", "persistent state directory (flash image); reuse it for a warm boot")
	fs.StringVar(&o.Lang, "lang", "en", "LCD language: en, fr, de")
	fs.StringVar(&keys, "keys", "", "scripted key presses, e.g. '1001<ok>24680<ok>'")
	fs.StringVar(&o.Until, "until", "", "exit at this stage: "+strings.Join(device.Milestones, ", "))
	fs.DurationVar(&o.Timeout, "timeout", 60*time.Second, "give up after this long (with --until or --keys)")
	fs.BoolVar(&asJSON, "json", false, "print the JSON report on stdout")
	fs.StringVar(&o.Snapshots, "snapshots", "", "write every distinct LCD frame as PNG into this directory")
	fs.Var(&fl, "fault", "pool fault to inject (repeatable; embedded pool only)")
	fs.StringVar(&o.TetherPort, "tether-port", "", "serve the USB tethering link on this serial device (pty)")
	fs.BoolVar(&o.Text, "text", false, "simulate a 20×4 character LCD instead of the 128×64 pixel LCD")
	fs.StringVar(&level, "log", "", "log level on stderr: debug, info, warn, error (default: warn, info with --json)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	o.Faults = fl
	var err error
	if o.Keys, err = parseKeys(keys); err != nil {
		return err
	}
	if o.Until != "" && !device.ValidMilestone(o.Until) {
		return fmt.Errorf("--until %q: want one of %s", o.Until, strings.Join(device.Milestones, ", "))
	}
	if _, err := ui.ParseLang(o.Lang); err != nil {
		return err
	}
	o.LogLevel = slog.LevelWarn
	if asJSON {
		o.LogLevel = slog.LevelInfo
	}
	if level != "" {
		if err := o.LogLevel.UnmarshalText([]byte(level)); err != nil {
			return fmt.Errorf("--log: %w", err)
		}
	}
	o.Interactive = o.Until == "" && keys == "" && !asJSON
	o.In, o.Out, o.Log = stdin, stdout, stderr
	rep, err := Simulate(ctx, o)
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if jerr := enc.Encode(rep); jerr != nil {
			return jerr
		}
		if err != nil {
			return errReported
		}
	}
	return err
}

// Simulate runs one phone until the milestone, an error state, the timeout,
// or (interactive) ctx cancellation.
func Simulate(ctx context.Context, o Options) (Report, error) {
	start := time.Now()
	rep := Report{State: device.Boot.String(), Phases: []device.Phase{}}
	if o.Log == nil {
		o.Log = io.Discard
	}
	ring := logring.New(500)
	logger := slog.New(ring.Handler(slog.LevelInfo, slog.NewTextHandler(o.Log, &slog.HandlerOptions{Level: o.LogLevel})))

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if !o.Interactive && o.Timeout > 0 {
		var c2 context.CancelFunc
		ctx, c2 = context.WithTimeout(ctx, o.Timeout)
		defer c2()
	}

	// The pool.
	var ready labpool.Ready
	if o.Pool == "" || o.Pool == "embedded" {
		set, err := faults.Parse(o.Faults)
		if err != nil {
			return rep, err
		}
		// The embedded pool keeps its CA and published certificates next to
		// the phone's flash, so that a second run is a warm boot against the
		// same pool.
		poolState := ""
		if o.State != "" {
			poolState = filepath.Join(o.State, "labpool")
		}
		po := labpool.Options{Demo: true, StateDir: poolState, Faults: set, Logger: logger.With("side", "pool")}
		// A pool's ports do not move between boots: reuse the last ones
		// when they are still free.
		last := loadPorts(poolState)
		po.SIPPort, po.HTTPSPort, po.HTTPPort, po.DNSPort, po.NTPPort, po.DHCPPort = last.SIP, last.HTTPS, last.HTTP, last.DNS, last.NTP, last.DHCP
		p, err := labpool.Start(ctx, po)
		if err != nil && last != (poolPorts{}) {
			logger.Info("last pool ports taken, using new ones", "err", err)
			po.SIPPort, po.HTTPSPort, po.HTTPPort, po.DNSPort, po.NTPPort, po.DHCPPort = 0, 0, 0, 0, 0, 0
			p, err = labpool.Start(ctx, po)
		}
		if err != nil {
			return rep, err
		}
		savePorts(poolState, p.Ready)
		defer p.Close()
		ready = p.Ready
		if o.PoolHook != nil {
			o.PoolHook(p)
		}
	} else {
		if len(o.Faults) > 0 {
			return rep, errors.New("--fault works with the embedded pool only (pass it to labpool serve)")
		}
		b, err := os.ReadFile(o.Pool)
		if err != nil {
			return rep, err
		}
		if err := json.Unmarshal(b, &ready); err != nil || !ready.Ready {
			return rep, fmt.Errorf("%s: not a labpool ready line: %v", o.Pool, err)
		}
	}
	siteRoots, err := readCerts(ready.CAPEM)
	if err != nil {
		return rep, err
	}

	// The board.
	if o.State != "" {
		if err := os.MkdirAll(o.State, 0o700); err != nil {
			return rep, err
		}
	}
	b, parts, err := sim.New(sim.Options{StateDir: o.State, Text: o.Text, Logger: logger})
	if err != nil {
		return rep, err
	}
	defer func() {
		if b.Close != nil {
			_ = b.Close()
		}
	}()
	if o.BoardHook != nil {
		o.BoardHook(parts)
	}

	// The QA image's flash config: find the lab pool as on a network.
	flash := config.Layer{}
	set := func(k, v string) {
		if v != "" {
			if err := flash.Set(k, v); err != nil {
				logger.Error("bad sim config", "key", k, "err", err)
			}
		}
	}
	set("language", o.Lang)
	set("dns", ready.DNS)
	if ready.DHCP != "" {
		set("dhcp_mode", "unicast")
		set("dhcp_server", ready.DHCP)
	} else {
		set("dhcp_mode", "off")
		set("sip_domain", ready.Domain)
	}
	if _, port, ok := strings.Cut(ready.HTTP, ":"); ok {
		set("web_http_port", port)
	}

	var (
		mu        sync.Mutex
		done      = make(chan struct{})
		finishErr error
		finished  bool
		lastSnap  device.Snapshot
		fed       bool
		snapN     int
		lastFrame ui.Frame
		haveFrame bool
	)
	finish := func(err error) {
		if !finished {
			finished, finishErr = true, err
			close(done)
		}
	}
	var agentStart time.Time
	observe := func(s device.Snapshot) {
		mu.Lock()
		defer mu.Unlock()
		lastSnap = s
		if s.Facts.Registered && rep.SignInMS == nil && !agentStart.IsZero() {
			v := float64(time.Since(agentStart).Microseconds()) / 1000
			rep.SignInMS = &v
		}
		if o.Interactive {
			return
		}
		if o.Until != "" && s.Facts.Reached(o.Until) {
			rep.Milestone = o.Until
			finish(nil)
			return
		}
		if (s.State == device.Error || s.State == device.Retrying) && s.LastError != nil {
			finish(s.LastError)
		}
	}
	onFrame := func(f ui.Frame) {
		mu.Lock()
		defer mu.Unlock()
		if f.Screen == ui.ScreenSignInUser && !fed && len(o.Keys) > 0 {
			fed = true
			go func() {
				for _, k := range o.Keys {
					parts.Keypad.Press(k)
				}
			}()
		}
		if o.Snapshots != "" && !(haveFrame && framesEqual(f, lastFrame)) {
			snapN++
			if err := writeSnapshot(o.Snapshots, snapN, f); err != nil {
				logger.Warn("snapshot failed", "err", err)
			}
		}
		lastFrame, haveFrame = f, true
		if o.Interactive && o.Out != nil {
			drawTerminal(o.Out, f, o.Text)
		}
	}

	bd, _ := time.Parse(time.RFC3339, buildDate)
	ag, err := device.New(device.Options{
		Board: b, Logger: logger, Ring: ring, FileConfig: flash,
		Version: version, BuildDate: bd, Keygen: device.DefaultKeygen, SiteRoots: siteRoots,
		Observe: observe, OnFrame: onFrame,
	})
	if err != nil {
		return rep, err
	}
	if o.TetherPort != "" {
		if err := startTether(ctx, ag, o.TetherPort, logger); err != nil {
			return rep, err
		}
	}
	agentErr := make(chan error, 1)
	mu.Lock()
	agentStart = time.Now()
	mu.Unlock()
	go func() { agentErr <- ag.Run(ctx) }()
	if o.Interactive {
		go readKeys(ctx, o.In, parts.Keypad)
	}
	select {
	case <-done:
	case <-ctx.Done():
		mu.Lock()
		if o.Interactive {
			finish(nil)
		} else {
			finish(fmt.Errorf("timeout after %v (state %s)", o.Timeout, lastSnap.State))
		}
		mu.Unlock()
	case err := <-agentErr:
		mu.Lock()
		finish(fmt.Errorf("agent stopped: %w", err))
		mu.Unlock()
	}
	cancel()
	select {
	case <-agentErr:
	case <-time.After(3 * time.Second):
	}
	mu.Lock()
	defer mu.Unlock()
	s := ag.Snapshot()
	rep.State = s.State.String()
	rep.SIPURI = s.SIPURI
	rep.Registrar = s.Registrar
	rep.Auth = s.Auth
	if !s.NotAfter.IsZero() {
		rep.CertNotAfter = s.NotAfter.UTC().Format(time.RFC3339)
	}
	rep.Cold = s.Cold
	if s.Phases != nil {
		rep.Phases = s.Phases
	}
	if s.PINOKToRegistered > 0 {
		v := float64(s.PINOKToRegistered.Microseconds()) / 1000
		rep.PINOKToRegisteredMS = &v
	}
	rep.TotalMS = float64(time.Since(start).Microseconds()) / 1000
	rep.Snapshots = snapN
	if finishErr != nil {
		rep.Error = reportError(finishErr, s, o.Lang)
	}
	return rep, finishErr
}

func reportError(err error, s device.Snapshot, lang string) *ReportError {
	fe := failure.As(err)
	if fe == nil {
		fe = s.LastError
	}
	if fe == nil {
		return &ReportError{Stage: s.State.String(), Code: "", Cause: err.Error(), Fix: "check the logs"}
	}
	l, _ := ui.ParseLang(lang)
	cause, fix := ui.Message(l, fe.Code)
	return &ReportError{Stage: fe.Stage, Code: string(fe.Code), Cause: cause, Fix: fix, Detail: fe.Detail()}
}

func framesEqual(a, b ui.Frame) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

func writeSnapshot(dir string, n int, f ui.Frame) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	path := filepath.Join(dir, fmt.Sprintf("%04d-%s.png", n, f.Screen))
	w, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(w, pixel.Render(f)); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

func drawTerminal(w io.Writer, f ui.Frame, textLCD bool) {
	var s string
	if textLCD {
		l := text.Render(f)
		s = termview.RenderText(l[:])
	} else {
		s = termview.Render(pixel.Render(f))
	}
	fmt.Fprint(w, "\x1b[H\x1b[2J"+s+"\nkeys: digits * #, Enter=OK, '<' or '-'=Back, 'u'/'d'=Up/Down, Ctrl-C quits\n")
}

// readKeys turns stdin lines into key presses: the characters of a line,
// then OK for the Enter key.
func readKeys(ctx context.Context, in io.Reader, kp *sim.Keypad) {
	sc := bufio.NewScanner(in)
	for sc.Scan() && ctx.Err() == nil {
		line := sc.Text()
		for _, c := range line {
			switch {
			case c >= '0' && c <= '9', c == '*', c == '#':
				kp.Press(board.Key(c))
			case c == '<' || c == '-' || c == '\b' || c == 0x7f:
				kp.Press(board.KeyBack)
			case c == 'u' || c == 'U':
				kp.Press(board.KeyUp)
			case c == 'd' || c == 'D':
				kp.Press(board.KeyDown)
			}
		}
		kp.Press(board.KeyOK)
	}
}

func readCerts(path string) ([]*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("pool CA: %w", err)
	}
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("pool CA %s: %w", path, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("pool CA %s: no certificate", path)
	}
	return out, nil
}

// poolPorts are the embedded pool's ports, kept under --state.
type poolPorts struct{ SIP, HTTPS, HTTP, DNS, NTP, DHCP int }

func portOf(addr string) int {
	_, p, _ := strings.Cut(addr, ":")
	n, _ := strconv.Atoi(p)
	return n
}

func loadPorts(dir string) poolPorts {
	var pp poolPorts
	if dir == "" {
		return pp
	}
	b, err := os.ReadFile(filepath.Join(dir, "ports.json"))
	if err != nil || json.Unmarshal(b, &pp) != nil {
		return poolPorts{}
	}
	return pp
}

func savePorts(dir string, r labpool.Ready) {
	if dir == "" {
		return
	}
	pp := poolPorts{SIP: portOf(r.SIP), HTTPS: portOf(r.HTTPS), HTTP: portOf(r.HTTP), DNS: portOf(r.DNS), NTP: portOf(r.NTP), DHCP: portOf(r.DHCP)}
	b, _ := json.Marshal(pp)
	_ = os.WriteFile(filepath.Join(dir, "ports.json"), b, 0o600)
}
