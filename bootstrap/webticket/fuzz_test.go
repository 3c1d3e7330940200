package webticket

import (
	"encoding/xml"
	"strings"
	"testing"
)

func FuzzParseWSDL(f *testing.F) {
	f.Add([]byte(mexBody))
	f.Fuzz(func(t *testing.T, b []byte) {
		w, err := ParseWSDL(b)
		if err != nil {
			return
		}
		for name := range w.Ports {
			if name == "" {
				t.Fatal("empty port name")
			}
		}
	})
}

func FuzzParseRSTR(f *testing.F) {
	f.Add([]byte(rstrBody))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRSTR(b)
		if err != nil {
			return
		}
		if !strings.Contains(string(b), r.Assertion) || r.AssertionID == "" {
			t.Fatalf("assertion %q not taken verbatim", r.Assertion)
		}
		d := xml.NewDecoder(strings.NewReader(r.Assertion))
		for {
			if _, err := d.RawToken(); err != nil {
				break
			}
		}
		if !r.Expires.After(r.Created) {
			t.Fatal("lifetime order")
		}
		_, _ = r.ProofKey(make([]byte, 32))
	})
}

func FuzzParseFault(f *testing.F) {
	f.Add([]byte(faultBody), `28020;source="pool";reason="No valid security token."`)
	f.Fuzz(func(t *testing.T, b []byte, diag string) {
		if fl, ok := ParseFault(b); ok && fl.ErrorID < 0 {
			t.Fatal("negative error id")
		}
		if d, ok := ParseDiagnostics(diag); ok && (d.ErrorID <= 0 || len(d.Params) > 16) {
			t.Fatalf("bad diagnostic %+v", d)
		}
	})
}
