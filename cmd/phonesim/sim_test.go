package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func phaseNames(r Report) []string {
	var out []string
	for _, p := range r.Phases {
		out = append(out, p.Name)
	}
	return out
}

// runJSON runs the phonesim command line and decodes its one JSON document.
func runJSON(t *testing.T, args ...string) (map[string]any, Report, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), append(args, "--json"), strings.NewReader(""), &out, &errb)
	dec := json.NewDecoder(bytes.NewReader(out.Bytes()))
	var m map[string]any
	if derr := dec.Decode(&m); derr != nil {
		t.Fatalf("stdout is not JSON: %v\n%s\nstderr:\n%s", derr, out.String(), errb.String())
	}
	if dec.More() {
		t.Fatalf("more than one JSON document on stdout:\n%s", out.String())
	}
	var r Report
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	return m, r, err
}

// TestColdThenWarm is the "done when": a cold boot with the keys
// gets a certificate and registers with TLS-DSK; the same --state is then a
// warm boot straight to registered without the PIN.
func TestColdThenWarm(t *testing.T) {
	state := filepath.Join(t.TempDir(), "phone")
	m, r, err := runJSON(t, "--keys", "1001<ok>24680<ok>", "--until", "registered", "--state", state, "--timeout", "60s")
	if err != nil {
		t.Fatalf("cold: %v (%+v)", err, r.Error)
	}
	for _, k := range []string{"state", "sip_uri", "registrar", "auth", "cert_not_after", "cold", "phases", "pin_ok_to_registered_ms", "total_ms", "error"} {
		if _, ok := m[k]; !ok {
			t.Errorf("report lacks %q", k)
		}
	}
	if m["error"] != nil || r.Auth != "TLS-DSK" || r.SIPURI != "sip:alice@example.test" || !r.Cold ||
		!strings.HasPrefix(r.Registrar, "pool.example.test:") || r.PINOKToRegisteredMS == nil {
		t.Fatalf("cold report %+v", r)
	}
	if _, err := time.Parse(time.RFC3339, r.CertNotAfter); err != nil {
		t.Fatalf("cert_not_after %q", r.CertNotAfter)
	}
	for _, p := range []string{"dhcp", "ntp", "chain", "keygen", "webticket", "certprov", "register"} {
		if !slices.Contains(phaseNames(r), p) {
			t.Errorf("cold phases %v lack %s", phaseNames(r), p)
		}
	}
	t.Logf("cold: total %.1f ms, PIN OK → registered %.1f ms, phases %v", r.TotalMS, *r.PINOKToRegisteredMS, r.Phases)

	_, w, err := runJSON(t, "--until", "registered", "--state", state, "--timeout", "60s")
	if err != nil {
		t.Fatalf("warm: %v (%+v)", err, w.Error)
	}
	if w.Cold || w.Auth != "TLS-DSK" || w.PINOKToRegisteredMS != nil || w.CertNotAfter != r.CertNotAfter {
		t.Fatalf("warm report %+v", w)
	}
	for _, p := range []string{"chain", "keygen", "webticket", "certprov"} {
		if slices.Contains(phaseNames(w), p) {
			t.Errorf("warm boot ran %s: %v", p, phaseNames(w))
		}
	}
	t.Logf("warm: total %.1f ms, phases %v", w.TotalMS, w.Phases)
	if _, err := os.Stat(filepath.Join(state, "flash.img")); err != nil {
		t.Fatal("no flash image under --state")
	}
}

func TestUntilEarlyMilestones(t *testing.T) {
	for _, until := range []string{"discovered", "time-set", "chain-trusted"} {
		t.Run(until, func(t *testing.T) {
			_, r, err := runJSON(t, "--keys", "1001<ok>24680<ok>", "--until", until)
			if err != nil || r.Error != nil || r.Milestone != until {
				t.Fatalf("until %s: %v %+v", until, err, r)
			}
		})
	}
}

// TestFaultReported: a pool fault ends in a non-zero exit and the report's
// error object carries stage, code, cause and fix.
func TestFaultReported(t *testing.T) {
	for _, tc := range []struct{ fault, stage, code string }{
		{"chain-untrusted", "chain", "E402"},
		{"pin-locked", "ticket", "E503"},
	} {
		t.Run(tc.fault, func(t *testing.T) {
			m, r, err := runJSON(t, "--keys", "1001<ok>24680<ok>", "--until", "registered", "--fault", tc.fault, "--lang", "de")
			if err == nil {
				t.Fatal("exit status 0 on a fault")
			}
			e, _ := m["error"].(map[string]any)
			if r.Error == nil || r.Error.Stage != tc.stage || r.Error.Code != tc.code || r.Error.Cause == "" || r.Error.Fix == "" || e == nil {
				t.Fatalf("error %+v", r.Error)
			}
			t.Logf("%s → %s %s: %s / %s", tc.fault, r.Error.Code, r.Error.Stage, r.Error.Cause, r.Error.Fix)
		})
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{{"--until", "nowhere"}, {"--keys", "<nope>"}, {"--lang", "xx"}, {"extra"}} {
		var out, errb bytes.Buffer
		if err := run(context.Background(), args, strings.NewReader(""), &out, &errb); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}

// TestBenchSmoke keeps `make bench` from rotting: one cold and one warm run.
func TestBenchSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("bench smoke: skipped in -short")
	}
	var out bytes.Buffer
	if err := bench(context.Background(), []string{"--runs", "1", "--sizes=false"}, &out, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	var r BenchReport
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Errors) > 0 || r.Cold.Total.N != 1 || r.Warm.Total.N != 1 || r.Floor.TotalMS <= 0 || r.PeakRSS <= 0 {
		t.Fatalf("bench report %s", out.String())
	}
}
