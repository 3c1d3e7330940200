// Command fuzzall runs every fuzz target of the module, one after the other,
// for -fuzztime each, and prints a table (package, target, execs, new
// corpus entries, result). It is `make fuzz` and part of `make reliability`.
//
//	go run ./tools/fuzzall [-fuzztime 30s] [-run REGEXP] [-parallel N] [-json]
//
// Targets are found with `go test -list '^Fuzz' ./...`. Each runs as
// `go test -run=^$ -fuzz=^Name$ -fuzztime=D PKG`; the generated corpus stays
// in the Go build cache, so a passing run leaves the tree untouched. A failing
// target writes its crasher to PKG/testdata/fuzz/Name/ (that is how Go
// reports it); fuzzall lists those new files and exits non-zero.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "fuzzall:", err)
		os.Exit(1)
	}
}

// Target is one fuzz target and the outcome of its run.
type Target struct {
	Package string `json:"package"` // import path
	Dir     string `json:"-"`
	Name    string `json:"target"`
	Execs   int64  `json:"execs"`
	// NewInteresting is the number of new corpus entries found in this run
	// (kept in the build cache, not in the tree).
	NewInteresting int      `json:"new_interesting"`
	Seconds        float64  `json:"seconds"`
	Result         string   `json:"result"` // ok, FAIL, skipped
	Crashers       []string `json:"crashers,omitempty"`
	Output         string   `json:"output,omitempty"` // tail of the output when failed
}

// Report is the -json document.
type Report struct {
	FuzzTime string   `json:"fuzztime"`
	Targets  []Target `json:"targets"`
	Failures int      `json:"failures"`
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fuzzall", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fuzztime := fs.Duration("fuzztime", 30*time.Second, "time to fuzz each target")
	filter := fs.String("run", "", "only targets whose \"package.Target\" matches this regexp")
	parallel := fs.Int("parallel", 0, "fuzzing workers per target (go test -parallel; 0 = GOMAXPROCS)")
	asJSON := fs.Bool("json", false, "print one JSON document instead of the table")
	pkgs := fs.String("pkgs", "./...", "packages to search for fuzz targets")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var re *regexp.Regexp
	if *filter != "" {
		var err error
		if re, err = regexp.Compile(*filter); err != nil {
			return fmt.Errorf("-run: %w", err)
		}
	}
	root, err := moduleRoot(ctx)
	if err != nil {
		return err
	}
	targets, err := List(ctx, root, *pkgs)
	if err != nil {
		return err
	}
	rep := Report{FuzzTime: fuzztime.String()}
	for _, t := range targets {
		if re != nil && !re.MatchString(t.Package+"."+t.Name) {
			continue
		}
		if ctx.Err() != nil {
			t.Result = "skipped"
		} else {
			if !*asJSON {
				fmt.Fprintf(stderr, "fuzzing %s %s for %v\n", t.Package, t.Name, *fuzztime)
			}
			t = Fuzz(ctx, root, t, *fuzztime, *parallel)
		}
		if t.Result != "ok" {
			rep.Failures++
		}
		rep.Targets = append(rep.Targets, t)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		printTable(stdout, rep)
	}
	if rep.Failures > 0 {
		return fmt.Errorf("%d of %d fuzz targets failed", rep.Failures, len(rep.Targets))
	}
	if len(rep.Targets) == 0 {
		return errors.New("no fuzz targets matched")
	}
	return ctx.Err()
}

func printTable(w io.Writer, rep Report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "PACKAGE\tTARGET\tEXECS\tNEW\tSECONDS\tRESULT\n")
	for _, t := range rep.Targets {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%.1f\t%s\n", shortPkg(t.Package), t.Name, t.Execs, t.NewInteresting, t.Seconds, t.Result)
	}
	tw.Flush()
	fmt.Fprintf(w, "%d targets, %d failed, -fuzztime %s each\n", len(rep.Targets), rep.Failures, rep.FuzzTime)
	for _, t := range rep.Targets {
		for _, c := range t.Crashers {
			fmt.Fprintf(w, "crasher: %s (reproduce: go test -run='%s/%s' %s)\n", c, t.Name, filepath.Base(c), t.Package)
		}
		if t.Result == "FAIL" && t.Output != "" {
			fmt.Fprintf(w, "--- %s %s:\n%s\n", shortPkg(t.Package), t.Name, t.Output)
		}
	}
}

func shortPkg(p string) string {
	const mod = "github.com/deskphone/deskphone/"
	return strings.TrimPrefix(p, mod)
}

func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside a Go module")
	}
	return filepath.Dir(gomod), nil
}

// List returns the fuzz targets of pkgs, in package order. It reads the
// test files `go list` names for each package and picks the top-level
// `func FuzzXxx(f *testing.F)` declarations; this needs no compilation
// (unlike `go test -list`), so listing takes a second.
func List(ctx context.Context, root, pkgs string) ([]Target, error) {
	cmd := exec.CommandContext(ctx, "go", "list", "-f",
		`{{.ImportPath}}{{"\t"}}{{.Dir}}{{range .TestGoFiles}}{{"\t"}}{{.}}{{end}}{{range .XTestGoFiles}}{{"\t"}}{{.}}{{end}}`, pkgs)
	cmd.Dir = root
	var errb bytes.Buffer
	cmd.Stderr = &errb
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list: %w\n%s", err, errb.Bytes())
	}
	var targets []Target
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Split(line, "\t")
		if len(f) < 3 {
			continue
		}
		for _, file := range f[2:] {
			b, err := os.ReadFile(filepath.Join(f[1], file))
			if err != nil {
				return nil, err
			}
			for _, n := range fuzzFuncs(b) {
				targets = append(targets, Target{Package: f[0], Dir: f[1], Name: n})
			}
		}
	}
	return targets, nil
}

var fuzzFuncRE = regexp.MustCompile(`(?m)^func (Fuzz[A-Za-z0-9_]*)\(\w+ \*testing\.F\)`)

// fuzzFuncs returns the names of the fuzz targets declared in a test file.
func fuzzFuncs(src []byte) []string {
	var out []string
	for _, m := range fuzzFuncRE.FindAllSubmatch(src, -1) {
		out = append(out, string(m[1]))
	}
	return out
}

var (
	execsRE = regexp.MustCompile(`execs: (\d+)`)
	newRE   = regexp.MustCompile(`new interesting: (\d+)`)
)

// Fuzz runs one target for d and fills in its outcome.
func Fuzz(ctx context.Context, root string, t Target, d time.Duration, parallel int) Target {
	before := corpusFiles(t)
	args := []string{"test", "-run=^$", "-fuzz=^" + t.Name + "$", "-fuzztime=" + d.String()}
	if parallel > 0 {
		args = append(args, "-parallel="+strconv.Itoa(parallel))
	}
	args = append(args, t.Package)
	// Compilation and the baseline corpus run come on top of the fuzz time.
	cctx, cancel := context.WithTimeout(ctx, d+5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cctx, "go", args...)
	cmd.Dir = root
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Seconds = float64(time.Since(start).Milliseconds()) / 1000
	if m := execsRE.FindAllSubmatch(out, -1); len(m) > 0 {
		t.Execs, _ = strconv.ParseInt(string(m[len(m)-1][1]), 10, 64)
	}
	if m := newRE.FindAllSubmatch(out, -1); len(m) > 0 {
		t.NewInteresting, _ = strconv.Atoi(string(m[len(m)-1][1]))
	}
	for f := range corpusFiles(t) {
		if !before[f] {
			t.Crashers = append(t.Crashers, f)
		}
	}
	t.Result = "ok"
	if err != nil {
		t.Result = "FAIL"
		t.Output = tail(string(out), 30)
	}
	return t
}

// corpusFiles lists PKG/testdata/fuzz/Name/*.
func corpusFiles(t Target) map[string]bool {
	m := map[string]bool{}
	if t.Dir == "" {
		return m
	}
	ents, _ := os.ReadDir(filepath.Join(t.Dir, "testdata", "fuzz", t.Name))
	for _, e := range ents {
		m[filepath.Join(t.Dir, "testdata", "fuzz", t.Name, e.Name())] = true
	}
	return m
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
