package faults

import (
	"slices"
	"testing"
	"time"
)

func TestSet(t *testing.T) {
	s, err := Parse([]string{"chain-untrusted", "slow:register=150ms"})
	if err != nil {
		t.Fatal(err)
	}
	if !s.Has(ChainUntrusted) || s.Has(NTPDown) {
		t.Fatalf("Has wrong: %v", s.List())
	}
	if got := s.Slow("register"); got != 150*time.Millisecond {
		t.Fatalf("Slow = %v", got)
	}
	s.Clear(ChainUntrusted)
	s.Clear("slow:register")
	if s.Has(ChainUntrusted) || s.Slow("register") != 0 || len(s.List()) != 0 {
		t.Fatalf("Clear failed: %v", s.List())
	}
	for _, bad := range []string{"nope", "slow:", "slow:x", "slow:x=abc", "slow:x=-1s"} {
		if _, err := Parse([]string{bad}); err == nil {
			t.Errorf("Parse(%q) succeeded", bad)
		}
	}
	if err := s.Add("cert-auth-disabled"); err != nil || !s.Has(CertAuthDisabled) {
		t.Fatalf("cert-auth-disabled: %v %v", err, s.List())
	}
	if !slices.Contains(Known(), CertAuthDisabled) {
		t.Fatalf("Known() lacks %s", CertAuthDisabled)
	}
	s.Clear(CertAuthDisabled)
	if s.Has(CertAuthDisabled) {
		t.Fatal("cert-auth-disabled not cleared")
	}
	var nilSet *Set
	if nilSet.Has(NTPDown) || nilSet.Slow("x") != 0 {
		t.Fatal("nil set has faults")
	}
}
