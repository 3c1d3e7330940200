// Command phoned is the desk phone firmware: the agent on real hardware
// (pirig), a headless board, or (selftest only) an in-memory board.
//
//	phoned run [--board auto|sim|pirig|headless] [--state DIR] [--config FILE]
//	phoned diag discover|time|chain|ticket|cert|register|all [--json] [--iface IFACE] [--dns ADDR:PORT] [--ext N --pin P] [--state DIR]
//	phoned selftest [--board sim|pirig]
//	phoned version
package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	gosip "github.com/emiago/sipgo/sip"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/deskphone/deskphone/board"
	"github.com/deskphone/deskphone/board/boardtest"
	"github.com/deskphone/deskphone/board/headless"
	"github.com/deskphone/deskphone/board/pirig"
	"github.com/deskphone/deskphone/device"
	"github.com/deskphone/deskphone/device/config"
	"github.com/deskphone/deskphone/device/logring"
)

// Stamped at build time with -ldflags "-X main.version=… -X main.buildDate=…".
var (
	version   = "dev"
	buildDate = "2026-11-01T00:00:00Z"
)

func main() {
	// sipgo's package-level logger is chatty about normal connection teardown;
	// our SIP code logs through the injected loggers.
	gosip.SetDefaultLogger(slog.New(slog.DiscardHandler))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "phoned:", err)
		os.Exit(1)
	}
}

const usage = `usage:
  phoned run [--board auto|sim|pirig|headless] [--state DIR] [--config FILE] [--rig-config FILE] [--site-root PEM]
  phoned diag discover|time|chain|ticket|cert|register|all [--json] [--iface IFACE] [--dns ADDR:PORT]
              [--ext N --pin P] [--state DIR] [--config FILE]
  phoned selftest [--board sim|pirig|headless] [--destructive]
  phoned version
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command")
	}
	switch args[0] {
	case "version", "-version", "--version":
		fmt.Fprintf(stdout, "phoned %s (built %s, %s %s/%s)\n", version, buildDate, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return nil
	case "run":
		return cmdRun(ctx, args[1:], stderr)
	case "diag":
		return cmdDiag(ctx, args[1:], stdout, stderr)
	case "selftest":
		return cmdSelftest(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

type boardFlags struct {
	board, state, rigConfig string
	// setClock lets NTP set the system clock (settimeofday; root only).
	setClock bool
}

func (b *boardFlags) register(fs *flag.FlagSet, def string) {
	fs.StringVar(&b.board, "board", def, "board: auto, pirig, headless, or sim (in-memory; the firmware carries no simulator)")
	fs.StringVar(&b.state, "state", "/var/lib/deskphone", "state directory (flash image of boards without MTD)")
	fs.StringVar(&b.rigConfig, "rig-config", "", "pirig board config JSON (default: built-in wiring)")
}

// openBoard opens the chosen board. "sim" is the in-memory headless board:
// cmd/phoned must not carry board/sim (that is phonesim's), and a self-test
// of the agent's seams needs no more than memory flash and a clock.
func openBoard(ctx context.Context, b boardFlags, logger *slog.Logger) (*board.Board, error) {
	flashPath := ""
	if b.state != "" && b.board != "sim" {
		if err := os.MkdirAll(b.state, 0o700); err != nil {
			return nil, err
		}
		flashPath = filepath.Join(b.state, "flash.img")
	}
	switch b.board {
	case "sim":
		return headless.Open(headless.Options{})
	case "headless":
		return headless.Open(headless.Options{FlashPath: flashPath, SetClock: b.setClock})
	case "pirig", "auto":
		cfg := pirig.DefaultConfig()
		if flashPath != "" {
			cfg.Flash.Image = flashPath // used when the rig has no MTD partition
		}
		if b.rigConfig != "" {
			data, err := os.ReadFile(b.rigConfig)
			if err != nil {
				return nil, err
			}
			if cfg, err = pirig.ParseConfig(data); err != nil {
				return nil, err
			}
		}
		bd, err := pirig.Open(ctx, cfg, logger)
		if err == nil || b.board == "pirig" || !errors.Is(err, board.ErrNotDetected) {
			return bd, err
		}
		logger.Info("no rig hardware, using the headless board", "reason", err)
		return headless.Open(headless.Options{FlashPath: flashPath, SetClock: b.setClock})
	}
	return nil, fmt.Errorf("unknown board %q (auto, pirig, headless, sim)", b.board)
}

func cmdRun(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	var bf boardFlags
	bf.register(fs, "auto")
	bf.setClock = os.Geteuid() == 0 // the firmware owns the clock
	cfgFile := fs.String("config", "", "config file (versioned JSON; the flash layer)")
	siteRoot := fs.String("site-root", "", "PEM file of site root CAs added to flash at boot")
	level := fs.String("log", "info", "log level")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ring := logring.New(1000)
	logger, err := newLogger(ring, *level, stderr)
	if err != nil {
		return err
	}
	slog.SetDefault(logger)
	b, err := openBoard(ctx, bf, logger)
	if err != nil {
		return err
	}
	if b.Close != nil {
		defer b.Close()
	}
	layer, roots, err := loadInputs(*cfgFile, *siteRoot, logger)
	if err != nil {
		return err
	}
	if os.Getenv("NOTIFY_SOCKET") != "" {
		b.Watchdog = sdWatchdog{hw: b.Watchdog}
	}
	a, err := device.New(device.Options{Board: b, Logger: logger, Ring: ring, FileConfig: layer,
		Version: version, BuildDate: parseBuildDate(), Keygen: device.DefaultKeygen, SiteRoots: roots})
	if err != nil {
		return err
	}
	if err := sdNotify("READY=1"); err != nil {
		logger.Warn("sd_notify failed", "err", err)
	}
	err = a.Run(ctx)
	_ = sdNotify("STOPPING=1")
	if errors.Is(err, device.ErrReboot) {
		logger.Warn("exiting for reboot; the supervisor restarts phoned")
	}
	return err
}

func newLogger(ring *logring.Ring, level string, w io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log: %w", err)
	}
	return slog.New(ring.Handler(slog.LevelInfo, slog.NewTextHandler(w, &slog.HandlerOptions{Level: lvl}))), nil
}

// loadInputs reads the config layer (a bad file is reported and ignored,
// never overwritten) and site roots.
func loadInputs(cfgFile, rootFile string, logger *slog.Logger) (config.Layer, []*x509.Certificate, error) {
	var layer config.Layer
	if cfgFile != "" {
		l, err := config.LoadFile(cfgFile)
		if err != nil {
			logger.Error("config file rejected, using the config saved on the phone", "err", err)
		} else {
			layer = l
		}
	}
	var roots []*x509.Certificate
	if rootFile != "" {
		data, err := os.ReadFile(rootFile)
		if err != nil {
			return nil, nil, err
		}
		for {
			var blk *pem.Block
			blk, data = pem.Decode(data)
			if blk == nil {
				break
			}
			c, err := x509.ParseCertificate(blk.Bytes)
			if err != nil {
				return nil, nil, fmt.Errorf("%s: %w", rootFile, err)
			}
			roots = append(roots, c)
		}
	}
	return layer, roots, nil
}

func parseBuildDate() time.Time {
	t, err := time.Parse(time.RFC3339, buildDate)
	if err != nil {
		return time.Time{}
	}
	return t
}

func cmdDiag(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return errors.New("diag: name a stage: " + strings.Join(device.DiagStages, ", ") + " or all")
	}
	stage := args[0]
	fs := flag.NewFlagSet("diag", flag.ContinueOnError)
	var bf boardFlags
	bf.register(fs, "headless")
	fs.BoolVar(&bf.setClock, "set-clock", false, "let diag time set the system clock (root); otherwise it only measures")
	asJSON := fs.Bool("json", false, "JSON output")
	iface := fs.String("iface", "", "interface for the DHCPINFORM broadcast")
	dns := fs.String("dns", "", "DNS server ADDR:PORT")
	dhcpServer := fs.String("dhcp-server", "", "unicast the DHCPINFORM to ADDR:PORT")
	httpPort := fs.Int("web-http-port", 0, "port of the anonymous chain download (default 80)")
	ext := fs.String("ext", "", "extension or phone number (ticket, cert)")
	pin := fs.String("pin", "", "PIN (ticket, cert); never logged")
	cfgFile := fs.String("config", "", "config file")
	siteRoot := fs.String("site-root", "", "PEM file of site root CAs")
	level := fs.String("log", "warn", "log level on stderr")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	ring := logring.New(1000)
	logger, err := newLogger(ring, *level, stderr)
	if err != nil {
		return err
	}
	b, err := openBoard(ctx, bf, logger)
	if err != nil {
		return err
	}
	if b.Close != nil {
		defer b.Close()
	}
	layer, roots, err := loadInputs(*cfgFile, *siteRoot, logger)
	if err != nil {
		return err
	}
	if layer == nil {
		layer = config.Layer{}
	}
	for k, v := range map[string]string{"dns": *dns, "dhcp_iface": *iface, "dhcp_server": *dhcpServer} {
		if v != "" {
			if err := layer.Set(k, v); err != nil {
				return err
			}
		}
	}
	if *dhcpServer != "" {
		_ = layer.Set("dhcp_mode", "unicast")
	} else if *iface != "" {
		_ = layer.Set("dhcp_mode", "broadcast")
	}
	if *httpPort > 0 {
		_ = layer.Set("web_http_port", fmt.Sprint(*httpPort))
	}
	a, err := device.New(device.Options{Board: b, Logger: logger, Ring: ring, FileConfig: layer,
		Version: version, BuildDate: parseBuildDate(), Keygen: device.DefaultKeygen, SiteRoots: roots})
	if err != nil {
		return err
	}
	reports := a.RunDiag(ctx, []string{stage}, device.DiagOptions{User: *ext, PIN: device.Secret(*pin)})
	ok := true
	for _, r := range reports {
		ok = ok && r.OK
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		if stage == "all" {
			err = enc.Encode(reports)
		} else if len(reports) > 0 {
			err = enc.Encode(reports[len(reports)-1])
		}
		if err != nil {
			return err
		}
	} else {
		for _, r := range reports {
			status := "ok"
			if !r.OK {
				status = "FAIL"
			}
			fmt.Fprintf(stdout, "%-9s %-4s %8.1f ms", r.Stage, status, r.MS)
			if r.Error != nil {
				fmt.Fprintf(stdout, "  %s %s — %s (%s)", r.Error.Code, r.Error.Cause, r.Error.Fix, r.Error.Detail)
			} else {
				d, _ := json.Marshal(r.Detail)
				fmt.Fprintf(stdout, "  %s", d)
			}
			fmt.Fprintln(stdout)
		}
	}
	if !ok {
		return errors.New("diag: stage failed")
	}
	return nil
}

func cmdSelftest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("selftest", flag.ContinueOnError)
	var bf boardFlags
	bf.register(fs, "sim")
	destructive := fs.Bool("destructive", false, "also erase the last flash block and set the clock (never on a phone in service)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if bf.board == "sim" {
		*destructive = true // memory only
	}
	b, err := openBoard(ctx, bf, logger)
	if err != nil {
		return err
	}
	if b.Close != nil {
		defer b.Close()
	}
	rs := boardtest.Check(ctx, b, boardtest.Options{Destructive: *destructive, Logger: logger})
	boardtest.WriteTable(stdout, rs)
	for _, r := range rs {
		if r.Status == boardtest.Fail {
			return errors.New("selftest failed")
		}
	}
	return nil
}
