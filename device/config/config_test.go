package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestPrecedence(t *testing.T) {
	s := NewStack()
	must := func(l Layer, err error) Layer {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	s.Layers[LayerFlash] = must(ParseLayer("flash", []byte(`{"version":1,"language":"fr","registrar":"a.example.test","ntp_servers":["10.0.0.1"]}`)))
	s.Layers[LayerDHCP] = must(ParseLayer("dhcp", []byte(`{"version":1,"registrar":"b.example.test"}`)))
	s.Layers[LayerTether] = Layer{}
	if err := s.Layers[LayerTether].Set("registrar", "c.example.test:5061"); err != nil {
		t.Fatal(err)
	}
	if err := s.Layers[LayerTether].Set("trusted_domains", "a.test, b.test"); err != nil {
		t.Fatal(err)
	}
	if err := s.Layers[LayerTether].Set("renew_before", "48h"); err != nil {
		t.Fatal(err)
	}
	c, err := s.Effective()
	if err != nil {
		t.Fatal(err)
	}
	if c.Registrar != "c.example.test:5061" || c.Language != "fr" || c.NTPFallback != "time.windows.com" ||
		len(c.TrustedDomains) != 2 || c.RenewBefore.D() != 48*time.Hour {
		t.Fatalf("merged = %+v", c)
	}
	if s.Source("registrar") != LayerTether || s.Source("language") != LayerFlash || s.Source("dns") != LayerDefaults {
		t.Fatal("Source wrong")
	}
}

func TestBadInput(t *testing.T) {
	for _, tc := range []struct{ name, doc, want string }{
		{"no version", `{"language":"en"}`, "no \"version\""},
		{"future version", `{"version":7}`, "version 7, want 1"},
		{"unknown key", `{"version":1,"colour":"red"}`, "unknown field"},
		{"bad type", `{"version":1,"web_http_port":"x"}`, "web_http_port"},
		{"bad lang", `{"version":1,"language":"xx"}`, "language"},
		{"garbage", `{{{`, "invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseLayer("/etc/phone.json", []byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "/etc/phone.json") {
				t.Fatalf("err = %v, want %q and the file name", err, tc.want)
			}
		})
	}
	_, err := ParseLayer("f", []byte(`{"version":2}`))
	if !errors.Is(err, ErrVersion) {
		t.Fatalf("want ErrVersion, got %v", err)
	}
	if err := (Layer{}).Set("nope", "1"); err == nil {
		t.Fatal("unknown key accepted")
	}
	if err := (Layer{}).Set("web_http_port", "http"); err == nil {
		t.Fatal("bad port accepted")
	}
}

func TestFileRoundTrip(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "phone.json")
	l := Layer{}
	if err := l.Set("sip_domain", "example.test"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, l.Marshal(), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := LoadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Merge(got)
	if err != nil || c.SIPDomain != "example.test" {
		t.Fatalf("%+v %v", c, err)
	}
	if l, err := LoadFile(filepath.Join(dir, "absent.json")); err != nil || len(l) != 0 {
		t.Fatal("missing file should be an empty layer")
	}
}

func FuzzParseLayer(f *testing.F) {
	f.Add([]byte(`{"version":1,"language":"de","trusted_domains":["x.test"]}`))
	f.Add([]byte(`{"version":1,"renew_before":"720h"}`))
	f.Add([]byte(`{"version":2}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := ParseLayer("fuzz", b)
		if err != nil {
			return
		}
		c, err := Merge(l)
		if err != nil {
			t.Fatalf("accepted layer does not merge: %v", err)
		}
		l2, err := ParseLayer("again", l.Marshal())
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		c2, _ := Merge(l2)
		if c.Language != c2.Language || c.Registrar != c2.Registrar {
			t.Fatal("round trip changed the config")
		}
	})
}
