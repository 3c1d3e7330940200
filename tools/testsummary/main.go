// Command testsummary reads `go test -json` on stdin and prints what CI needs
// to see: one line per package (ok / FAIL / no tests), every skipped test
// with its reason (a test may skip only where a tool or privilege is
// missing, and must say so), the full output of every failed test, and a
// closing "N passed, N failed, N skipped" line. It exits 1 if anything
// failed.
//
//	go test -race -json ./... | go run ./tools/testsummary
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

type event struct {
	Action  string
	Package string
	Test    string
	Output  string
	Elapsed float64
}

type key struct{ pkg, test string }

func main() {
	os.Exit(run(os.Stdin, os.Stdout))
}

func run(in io.Reader, out io.Writer) int {
	outputs := map[key]*strings.Builder{}
	var passed, failed, skipped int
	var skips, fails []string
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if err := json.Unmarshal(line, &e); err != nil || e.Action == "" {
			// Not test2json: build errors and the like; show them.
			fmt.Fprintln(out, string(line))
			continue
		}
		k := key{e.Package, e.Test}
		switch e.Action {
		case "output":
			b := outputs[k]
			if b == nil {
				b = new(strings.Builder)
				outputs[k] = b
			}
			b.WriteString(e.Output)
		case "pass":
			if e.Test == "" {
				fmt.Fprintf(out, "ok  \t%s\t%.3fs\n", e.Package, e.Elapsed)
			} else if !strings.Contains(e.Test, "/") {
				passed++
			}
			delete(outputs, k)
		case "skip":
			if e.Test == "" {
				fmt.Fprintf(out, "?   \t%s\t[no test files]\n", e.Package)
			} else {
				skipped++
				skips = append(skips, fmt.Sprintf("--- SKIP: %s %s: %s", e.Package, e.Test, reason(outputs[k])))
			}
			delete(outputs, k)
		case "fail":
			if e.Test == "" {
				if b := outputs[k]; b != nil && b.Len() > 0 {
					fails = append(fails, fmt.Sprintf("=== %s\n%s", e.Package, b.String()))
				}
				fmt.Fprintf(out, "FAIL\t%s\t%.3fs\n", e.Package, e.Elapsed)
			} else {
				if !strings.Contains(e.Test, "/") {
					failed++
				}
				fails = append(fails, fmt.Sprintf("=== %s %s\n%s", e.Package, e.Test, outputs[k]))
			}
			delete(outputs, k)
		}
	}
	sort.Strings(skips)
	if len(skips) > 0 {
		fmt.Fprintln(out, "\nSkipped tests (each says why):")
		for _, s := range skips {
			fmt.Fprintln(out, s)
		}
	}
	if len(fails) > 0 {
		fmt.Fprintln(out, "\nFailures:")
		for _, f := range fails {
			fmt.Fprint(out, f)
		}
	}
	fmt.Fprintf(out, "\n%d passed, %d failed, %d skipped\n", passed, failed, skipped)
	if failed > 0 || len(fails) > 0 {
		return 1
	}
	return 0
}

// reason is the skip message: the last non-empty output lines of the test,
// without the "--- SKIP" line itself.
func reason(b *strings.Builder) string {
	if b == nil {
		return "(no reason given)"
	}
	var keep []string
	for _, l := range strings.Split(b.String(), "\n") {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "=== ") || strings.HasPrefix(t, "--- SKIP") {
			continue
		}
		keep = append(keep, t)
	}
	if len(keep) == 0 {
		return "(no reason given)"
	}
	if len(keep) > 2 {
		keep = keep[len(keep)-2:]
	}
	return strings.Join(keep, " ")
}
