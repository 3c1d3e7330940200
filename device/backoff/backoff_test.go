package backoff

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

func TestDelays(t *testing.T) {
	b := New("t", nil, 2*time.Second)
	b.Rand = func() float64 { return 0.5 } // factor 1.0
	want := []time.Duration{10, 40, 90, 160}
	for i, w := range want {
		if got := b.Next(); got != w*time.Millisecond {
			t.Fatalf("attempt %d: %v, want %v", i+1, got, w*time.Millisecond)
		}
	}
	for range 100 {
		b.Next()
	}
	if got := b.Next(); got != 2*time.Second {
		t.Fatalf("capped delay = %v", got)
	}
	b.Reset()
	if b.Attempts() != 0 || b.Next() != 10*time.Millisecond {
		t.Fatal("reset failed")
	}
	// Jitter bounds.
	b.Rand = func() float64 { return 0 }
	b.Reset()
	if got := b.Next(); got != 5*time.Millisecond {
		t.Fatalf("min jitter = %v", got)
	}
}

func TestWaitCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := New("t", nil, time.Hour)
		for range 50 {
			b.Next()
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- b.Wait(ctx, errors.New("boom")) }()
		time.Sleep(time.Second)
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Wait = %v", err)
		}
		start := time.Now()
		b.Reset()
		if err := b.Wait(t.Context(), nil); err != nil {
			t.Fatal(err)
		}
		if el := time.Since(start); el < 5*time.Millisecond || el >= 15*time.Millisecond {
			t.Fatalf("first wait took %v", el)
		}
	})
}
