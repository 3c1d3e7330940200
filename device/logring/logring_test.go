package logring

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

type secret string

func (secret) LogValue() slog.Value { return slog.StringValue("REDACTED") }

func TestRing(t *testing.T) {
	r := New(3)
	log := slog.New(r.Handler(slog.LevelInfo, nil)).With("component", "test")
	ctx, cancel := context.WithCancel(context.Background())
	follow := r.Follow(ctx)
	for i := range 5 {
		log.Info("line", "n", i)
	}
	log.Debug("hidden")
	log.Info("pin entered", "pin", secret("24680"))
	got := r.Lines()
	if len(got) != 3 || !strings.Contains(got[0], "n=3") || !strings.Contains(got[2], "REDACTED") {
		t.Fatalf("Lines = %q", got)
	}
	for _, l := range got {
		if strings.Contains(l, "24680") || strings.Contains(l, "hidden") {
			t.Fatalf("leaked: %q", l)
		}
		if !strings.Contains(l, "component=test") {
			t.Fatalf("attrs lost: %q", l)
		}
	}
	first := <-follow
	if !strings.Contains(first, "n=0") {
		t.Fatalf("follow got %q", first)
	}
	cancel()
	for range follow {
	}
	if n := len(New(0).Lines()); n != 0 {
		t.Fatal(n)
	}
	_ = fmt.Sprint()
}
