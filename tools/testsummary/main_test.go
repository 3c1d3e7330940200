package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestSummary(t *testing.T) {
	in := strings.Join([]string{
		`{"Action":"run","Package":"p","Test":"TestA"}`,
		`{"Action":"pass","Package":"p","Test":"TestA","Elapsed":0.1}`,
		`{"Action":"run","Package":"p","Test":"TestB"}`,
		`{"Action":"output","Package":"p","Test":"TestB","Output":"=== RUN   TestB\n"}`,
		`{"Action":"output","Package":"p","Test":"TestB","Output":"    b_test.go:9: netns: needs root\n"}`,
		`{"Action":"output","Package":"p","Test":"TestB","Output":"--- SKIP: TestB (0.00s)\n"}`,
		`{"Action":"skip","Package":"p","Test":"TestB"}`,
		`{"Action":"pass","Package":"p","Elapsed":0.2}`,
		`{"Action":"output","Package":"q","Test":"TestC","Output":"    c_test.go:3: boom\n"}`,
		`{"Action":"fail","Package":"q","Test":"TestC"}`,
		`{"Action":"fail","Package":"q","Elapsed":0.3}`,
		`# q: build failed`,
	}, "\n")
	var out bytes.Buffer
	if code := run(strings.NewReader(in), &out); code != 1 {
		t.Fatalf("exit %d", code)
	}
	s := out.String()
	for _, want := range []string{"ok  \tp", "FAIL\tq", "--- SKIP: p TestB: b_test.go:9: netns: needs root", "boom", "# q: build failed", "1 passed, 1 failed, 1 skipped"} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q:\n%s", want, s)
		}
	}
	out.Reset()
	if code := run(strings.NewReader(`{"Action":"pass","Package":"p","Test":"T"}`), &out); code != 0 || !strings.HasSuffix(out.String(), "1 passed, 0 failed, 0 skipped\n") {
		t.Fatalf("clean run: %d %q", code, out.String())
	}
}
