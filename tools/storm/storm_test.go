package storm

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/deskphone/deskphone/tools/labpool"
)

func startPool(t *testing.T) *labpool.Pool {
	t.Helper()
	p, err := labpool.Start(t.Context(), labpool.Options{StateDir: t.TempDir(), NoDHCP: true,
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// TestStorm runs a small storm: every cold and warm sign-in must succeed.
func TestStorm(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	func() {
		p := startPool(t)
		defer p.Close()
		rep, err := Run(ctx, p, Options{Phones: 20, Concurrency: 8, Keys: 4})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("cold %.1f/s p95 %.1f ms; warm %.1f/s p95 %.1f ms", rep.Cold.SignInsPerS, rep.Cold.P95MS, rep.Warm.SignInsPerS, rep.Warm.P95MS)
		if err := rep.Err(); err != nil {
			t.Fatalf("%v: cold %v, warm %v", err, rep.Cold.Errors, rep.Warm.Errors)
		}
		if rep.Cold.P95MS <= 0 || rep.Warm.P95MS <= 0 || rep.Warm.SignInsPerS <= 0 {
			t.Fatalf("report has no timings: %+v", rep)
		}
	}()
}

// TestSoak re-registers 100 times (CI size) and checks that RSS and
// goroutines stay flat and that nothing leaks once the sessions close.
func TestSoak(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	n := 100
	if testing.Short() {
		n = 40
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	func() {
		p := startPool(t)
		defer p.Close()
		rep, err := Soak(ctx, p, SoakOptions{Refreshes: n, Sessions: 10, SampleEvery: 20})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%d refreshes in %.0f ms: %s", rep.Refreshes, rep.WallMS, rep.Verdict)
		if err := rep.Err(); err != nil {
			t.Fatal(err)
		}
		if rep.Refreshes < n || len(rep.Samples) < n/20 {
			t.Fatalf("refreshes %d, samples %d", rep.Refreshes, len(rep.Samples))
		}
	}()
}

func TestFlatness(t *testing.T) {
	for _, tt := range []struct {
		name    string
		samples []Sample
		ok      bool
	}{
		{"flat", []Sample{{RSSKiB: 20000, Goroutines: 50}, {RSSKiB: 21000, Goroutines: 50}}, true},
		{"rss slack", []Sample{{RSSKiB: 1000, Goroutines: 5}, {RSSKiB: 1500 + 4096, Goroutines: 9}}, true},
		{"rss grew", []Sample{{RSSKiB: 20000, Goroutines: 50}, {RSSKiB: 40000, Goroutines: 50}}, false},
		{"goroutines grew", []Sample{{RSSKiB: 20000, Goroutines: 50}, {RSSKiB: 20000, Goroutines: 60}}, false},
		{"one sample", []Sample{{RSSKiB: 1}}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := Flatness(tt.samples); (err == nil) != tt.ok {
				t.Fatalf("Flatness = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}
