// Package backoff is the agent's retry delay: n² × 10 ms after the n-th
// consecutive failure, capped at a maximum, multiplied by a random factor in
// [0.5, 1.5) so that a thousand phones rebooting together after a power cut
// do not hit the pool in lock step. It waits in a select on ctx.Done, never a
// bare sleep.
package backoff

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"
)

// Backoff tracks consecutive failures of one named activity.
type Backoff struct {
	name   string
	logger *slog.Logger
	max    time.Duration
	// LogLongerThan: waits at least this long are logged at Warn (else Debug).
	LogLongerThan time.Duration
	// Rand returns a float in [0,1); nil uses math/rand/v2. For tests.
	Rand func() float64

	mu sync.Mutex
	n  int
}

// New returns a Backoff named name (used in logs) whose delay never exceeds max.
func New(name string, logger *slog.Logger, max time.Duration) *Backoff {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Backoff{name: name, logger: logger, max: max, LogLongerThan: time.Second}
}

// Next records a failure and returns the delay to wait before the next try.
func (b *Backoff) Next() time.Duration {
	b.mu.Lock()
	b.n++
	n := b.n
	b.mu.Unlock()
	d := time.Duration(n*n) * 10 * time.Millisecond
	if d > b.max || n > 1<<15 {
		d = b.max
	}
	r := rand.Float64
	if b.Rand != nil {
		r = b.Rand
	}
	return time.Duration(float64(d) * (0.5 + r()))
}

// Max returns the delay cap.
func (b *Backoff) Max() time.Duration { return b.max }

// Attempts returns the number of consecutive failures recorded.
func (b *Backoff) Attempts() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.n
}

// Wait records a failure (err) and waits the backoff delay or until ctx is
// done. It returns ctx.Err() when cancelled, nil after the full wait.
func (b *Backoff) Wait(ctx context.Context, err error) error {
	d := b.Next()
	lvl := slog.LevelDebug
	if d >= b.LogLongerThan {
		lvl = slog.LevelWarn
	}
	if ctx.Err() == nil {
		b.logger.Log(ctx, lvl, "backing off", "name", b.name, "attempt", b.Attempts(), "backoff", d, "err", err)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Reset clears the failure count after a success.
func (b *Backoff) Reset() {
	b.mu.Lock()
	b.n = 0
	b.mu.Unlock()
}
