// Command reliability is `make reliability`: the certstore power-cut sweep
// (count of crash points), the labpool fault matrix (every fault → the LCD
// error code → recovery once the fault clears, without a restart) and every
// fuzz target for -fuzztime. It prints a summary table (or one JSON
// document with -json) and exits non-zero when anything failed.
//
//	go run ./tools/reliability [-fuzztime 30s] [-short] [-skip powercut,faults,fuzz] [-fault NAME]... [-json] [-v]
//
// -short is the CI size: fuzz 3 s per target, 20 s per fault phase.
package main

import (
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	gosip "github.com/emiago/sipgo/sip"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/deskphone/deskphone/bootstrap/certprov"
)

func main() {
	// sipgo's package-level logger reports normal connection teardown.
	gosip.SetDefaultLogger(slog.New(slog.DiscardHandler))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "reliability:", err)
		os.Exit(1)
	}
}

// Report is the -json document.
type Report struct {
	PowerCut *PowerCut     `json:"power_cut,omitempty"`
	Faults   []FaultResult `json:"faults,omitempty"`
	Fuzz     *FuzzSummary  `json:"fuzz,omitempty"`
	Failures []string      `json:"failures"`
}

// PowerCut is the certstore sweep outcome.
type PowerCut struct {
	CrashPoints int      `json:"crash_points"`
	Lines       []string `json:"lines"`
	Seconds     float64  `json:"seconds"`
	OK          bool     `json:"ok"`
}

// FuzzSummary is what tools/fuzzall reported.
type FuzzSummary struct {
	FuzzTime string `json:"fuzztime"`
	Targets  []struct {
		Package        string   `json:"package"`
		Target         string   `json:"target"`
		Execs          int64    `json:"execs"`
		NewInteresting int      `json:"new_interesting"`
		Seconds        float64  `json:"seconds"`
		Result         string   `json:"result"`
		Crashers       []string `json:"crashers,omitempty"`
	} `json:"targets"`
	Failures int `json:"failures"`
}

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(s string) error { *m = append(*m, s); return nil }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("reliability", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fuzztime := fs.Duration("fuzztime", 30*time.Second, "time to fuzz each target")
	short := fs.Bool("short", false, "CI size: 3s per fuzz target, 20s per fault phase")
	skip := fs.String("skip", "", "comma-separated parts to skip: powercut, faults, fuzz")
	timeout := fs.Duration("fault-timeout", 40*time.Second, "how long to wait for the error, then for recovery")
	asJSON := fs.Bool("json", false, "print one JSON document instead of tables")
	verbose := fs.Bool("v", false, "agent and pool logs on stderr")
	var only multi
	fs.Var(&only, "fault", "run only this fault (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *short {
		*fuzztime = min(*fuzztime, 3*time.Second)
		*timeout = min(*timeout, 20*time.Second)
	}
	skipped := map[string]bool{}
	for _, s := range strings.Split(*skip, ",") {
		skipped[strings.TrimSpace(s)] = true
	}
	level := slog.Level(100)
	if *verbose {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	progress := func(format string, a ...any) {
		if !*asJSON {
			fmt.Fprintf(stderr, format+"\n", a...)
		}
	}

	var rep Report
	if !skipped["powercut"] {
		progress("power-cut sweep: go test -run TestStorePowerCut ./certstore/")
		pc := powerCut(ctx)
		rep.PowerCut = &pc
		if !pc.OK {
			rep.Failures = append(rep.Failures, "power-cut sweep")
		}
	}
	if !skipped["faults"] {
		key, err := certprov.GenerateKey()
		if err != nil {
			return err
		}
		for _, fc := range Matrix {
			if len(only) > 0 && !contains(only, fc.Fault) {
				continue
			}
			progress("fault %s", fc.Fault)
			r := RunFault(ctx, fc, crypto.Signer(key), *timeout, logger)
			rep.Faults = append(rep.Faults, r)
			if !r.OK {
				rep.Failures = append(rep.Failures, "fault "+fc.Fault)
			}
			if ctx.Err() != nil {
				break
			}
		}
	}
	if !skipped["fuzz"] && ctx.Err() == nil {
		progress("fuzzing every target for %v (tools/fuzzall)", *fuzztime)
		fz, err := fuzzAll(ctx, *fuzztime)
		if err != nil {
			rep.Failures = append(rep.Failures, "fuzz: "+err.Error())
		}
		if fz != nil {
			rep.Fuzz = fz
			for _, t := range fz.Targets {
				if t.Result != "ok" {
					rep.Failures = append(rep.Failures, "fuzz "+t.Target)
				}
			}
		}
	}

	if *asJSON {
		if rep.Failures == nil {
			rep.Failures = []string{}
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		printReport(stdout, rep)
	}
	if len(rep.Failures) > 0 {
		return fmt.Errorf("%d failed: %s", len(rep.Failures), strings.Join(rep.Failures, ", "))
	}
	return ctx.Err()
}

var crashRE = regexp.MustCompile(`power-cut sweep: (\d+) crash points`)

// powerCut runs the certstore sweep test and reads the count it logs.
func powerCut(ctx context.Context) PowerCut {
	start := time.Now()
	cmd := exec.CommandContext(ctx, "go", "test", "-count=1", "-run", "^TestStorePowerCut$", "-v", "./certstore/")
	out, err := cmd.CombinedOutput()
	pc := PowerCut{Seconds: float64(time.Since(start).Milliseconds()) / 1000}
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "crash points") {
			pc.Lines = append(pc.Lines, strings.TrimSpace(l))
		}
	}
	if m := crashRE.FindSubmatch(out); m != nil {
		pc.CrashPoints, _ = strconv.Atoi(string(m[1]))
	}
	pc.OK = err == nil && pc.CrashPoints > 0
	if !pc.OK && len(pc.Lines) == 0 {
		pc.Lines = append(pc.Lines, errNoCount.Error()+": "+lastLines(string(out), 5))
	}
	return pc
}

// fuzzAll runs tools/fuzzall -json.
func fuzzAll(ctx context.Context, d time.Duration) (*FuzzSummary, error) {
	cmd := exec.CommandContext(ctx, "go", "run", "./tools/fuzzall", "-json", "-fuzztime", d.String())
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	runErr := cmd.Run()
	var fz FuzzSummary
	if err := json.Unmarshal(out.Bytes(), &fz); err != nil {
		return nil, errors.Join(runErr, fmt.Errorf("fuzzall output: %w: %s", err, lastLines(errb.String(), 5)))
	}
	return &fz, nil
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, " | ")
}

func printReport(w io.Writer, rep Report) {
	if pc := rep.PowerCut; pc != nil {
		fmt.Fprintf(w, "== certstore power-cut sweep (%.1fs): %d crash points, ok=%v\n", pc.Seconds, pc.CrashPoints, pc.OK)
		for _, l := range pc.Lines {
			fmt.Fprintln(w, "   ", l)
		}
	}
	if len(rep.Faults) > 0 {
		fmt.Fprintln(w, "== labpool fault matrix")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "FAULT\tEXPECTED\tGOT\tSTAGE\tERROR MS\tRECOVERED\tRECOVER MS\tPIN ENTRIES\tAFTER CLEAR\tOK")
		for _, r := range rep.Faults {
			got := r.Got
			if got == "" {
				got = "none"
			}
			after := runs(r.AfterClear)
			if after == "" {
				after = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.0f\t%v\t%.0f\t%d\t%s\t%v\n", r.Fault, strings.Join(r.Want, "|"), got, r.Stage, r.ErrorMS, yesNo(r.Recovered), r.RecoverMS, r.PINEntries, after, r.OK)
		}
		tw.Flush()
		for _, r := range rep.Faults {
			if !r.OK || r.Detail != "" {
				fmt.Fprintf(w, "  %s: %s", r.Fault, r.Detail)
				if r.Problem != "" {
					fmt.Fprintf(w, " — PROBLEM: %s", r.Problem)
				}
				if r.Note != "" {
					fmt.Fprintf(w, " (note: %s)", r.Note)
				}
				fmt.Fprintln(w)
			}
		}
	}
	if fz := rep.Fuzz; fz != nil {
		fmt.Fprintf(w, "== fuzz (-fuzztime %s each)\n", fz.FuzzTime)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "PACKAGE\tTARGET\tEXECS\tNEW\tRESULT")
		for _, t := range fz.Targets {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\n", strings.TrimPrefix(t.Package, "github.com/deskphone/deskphone/"), t.Target, t.Execs, t.NewInteresting, t.Result)
			for _, c := range t.Crashers {
				fmt.Fprintf(tw, "\tcrasher %s\t\t\t\n", c)
			}
		}
		tw.Flush()
	}
	if len(rep.Failures) == 0 {
		fmt.Fprintln(w, "== all passed")
	} else {
		fmt.Fprintf(w, "== FAILED: %s\n", strings.Join(rep.Failures, ", "))
	}
}

// runs writes repeated codes once with a count: "E701×44,E702".
func runs(codes []string) string {
	var out []string
	for i := 0; i < len(codes); {
		j := i
		for j < len(codes) && codes[j] == codes[i] {
			j++
		}
		if n := j - i; n > 1 {
			out = append(out, fmt.Sprintf("%s×%d", codes[i], n))
		} else {
			out = append(out, codes[i])
		}
		i = j
	}
	return strings.Join(out, ",")
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
