package tether

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	l := NewLimiter()
	for _, tt := range []struct {
		name     string
		at       time.Duration
		fail     bool
		wantWait time.Duration
	}{
		{"first failure", 0, true, 0},
		{"second failure", 1 * time.Second, true, 0},
		{"third failure locks 30s", 2 * time.Second, true, 30 * time.Second},
		{"still locked", 12 * time.Second, false, 20 * time.Second},
		{"unlocked", 32 * time.Second, false, 0},
		{"fourth", 33 * time.Second, true, 0},
		{"fifth", 34 * time.Second, true, 0},
		{"sixth locks 60s", 35 * time.Second, true, 60 * time.Second},
	} {
		now := t0.Add(tt.at)
		if tt.fail {
			l.Fail(now)
		}
		if got := l.Wait(now); got != tt.wantWait {
			t.Errorf("%s: Wait = %v, want %v", tt.name, got, tt.wantWait)
		}
	}
	l.Success()
	if got := l.Wait(t0.Add(36 * time.Second)); got != 0 {
		t.Errorf("after success: Wait = %v", got)
	}
	for range 30 { // lockouts cap at MaxLockout
		l.Fail(t0)
	}
	if got := l.Wait(t0); got != time.Hour {
		t.Errorf("capped lockout = %v, want 1h", got)
	}
}

func TestSecretNeverPrints(t *testing.T) {
	s := Secret("24680")
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "pin", s)
	j, _ := json.Marshal(struct{ PIN Secret }{s})
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s %q %x %d", s, s, s, s, s, s, s), buf.String(), string(j)} {
		if strings.Contains(out, "24680") || !strings.Contains(out, "REDACTED") {
			t.Errorf("secret leaked or not redacted: %s", out)
		}
	}
	if s.Reveal() != "24680" {
		t.Error("Reveal")
	}
}
