package tether

import (
	"sync"
	"time"
)

// Limiter rate-limits failed confirmations (denied or timed out): after
// Threshold failures in a row the next confirmation is refused for Lockout,
// and each further lockout doubles, up to MaxLockout. A success resets it.
// Share one Limiter across servers (WithLimiter) so that reconnecting the
// cable does not reset it.
type Limiter struct {
	Threshold  int
	Lockout    time.Duration
	MaxLockout time.Duration

	mu       sync.Mutex
	fails    int
	lockouts int
	until    time.Time
}

// NewLimiter returns a Limiter with the defaults: 3 failures, 30 s lockout,
// doubling up to 1 h.
func NewLimiter() *Limiter {
	return &Limiter{Threshold: 3, Lockout: 30 * time.Second, MaxLockout: time.Hour}
}

// Wait returns how long confirmations stay refused at now (0: allowed).
func (l *Limiter) Wait(now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if d := l.until.Sub(now); d > 0 {
		return d
	}
	return 0
}

// Fail records a failed confirmation at now.
func (l *Limiter) Fail(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.fails++
	if l.fails < l.Threshold {
		return
	}
	d := l.Lockout
	for i := 0; i < l.lockouts && d < l.MaxLockout; i++ {
		d *= 2
	}
	d = min(d, l.MaxLockout)
	l.until = now.Add(d)
	l.lockouts++
	l.fails = 0
}

// Success records an accepted confirmation.
func (l *Limiter) Success() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.fails = 0
	l.lockouts = 0
	l.until = time.Time{}
}
