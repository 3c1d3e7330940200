package health

import (
	"testing"
	"time"
)

func TestDependsOn(t *testing.T) {
	tr := New()
	now := time.Unix(1000, 0)
	tr.Set(Warning{Code: "sip-down", Severity: High, DependsOn: []string{"no-network"}, Since: now})
	tr.Set(Warning{Code: "no-network", Severity: Medium, Since: now})
	v := tr.Visible()
	if len(v) != 1 || v[0].Code != "no-network" {
		t.Fatalf("visible = %+v", v)
	}
	tr.Clear("no-network")
	v = tr.Visible()
	if len(v) != 1 || v[0].Code != "sip-down" || tr.Fatal() {
		t.Fatalf("visible = %+v", v)
	}
	tr.Set(Warning{Code: "flash", Severity: Fatal, Since: now.Add(time.Second)})
	if !tr.Fatal() || tr.Visible()[0].Code != "flash" {
		t.Fatal("fatal not first")
	}
	tr.Set(Warning{Code: "sip-down", Severity: High, Since: now.Add(time.Hour)})
	for _, w := range tr.Visible() {
		if w.Code == "sip-down" && !w.Since.Equal(now) {
			t.Fatal("Since not kept")
		}
	}
}
