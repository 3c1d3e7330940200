// Package health tracks the phone's current warnings (Warnables, after
// tailscale's health package): a code, a title, a severity and the
// warnings it depends on. A warning whose dependency is active is hidden, so
// the LCD shows "no network" and not also "registrar unreachable".
package health

import (
	"slices"
	"sync"
	"time"
)

// Severity orders warnings.
type Severity int

// Severities.
const (
	Low Severity = iota
	Medium
	High
	Fatal // the watchdog stops being pinged
)

// Warning is one active condition.
type Warning struct {
	Code      string    `json:"code"`
	Title     string    `json:"title"`
	Detail    string    `json:"detail,omitempty"`
	Severity  Severity  `json:"severity"`
	DependsOn []string  `json:"depends_on,omitempty"`
	Since     time.Time `json:"since"`
}

// Tracker holds the active warnings. Safe for concurrent use.
type Tracker struct {
	mu sync.Mutex
	w  map[string]Warning
}

// New returns an empty tracker.
func New() *Tracker { return &Tracker{w: map[string]Warning{}} }

// Set raises (or updates) a warning; Since is kept from the first raise.
func (t *Tracker) Set(w Warning) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if old, ok := t.w[w.Code]; ok {
		w.Since = old.Since
	}
	t.w[w.Code] = w
}

// Clear removes a warning.
func (t *Tracker) Clear(code string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.w, code)
}

// Visible returns the warnings not suppressed by an active dependency,
// most severe first.
func (t *Tracker) Visible() []Warning {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []Warning
	for _, w := range t.w {
		hidden := false
		for _, d := range w.DependsOn {
			if _, ok := t.w[d]; ok {
				hidden = true
			}
		}
		if !hidden {
			out = append(out, w)
		}
	}
	slices.SortFunc(out, func(a, b Warning) int {
		if a.Severity != b.Severity {
			return int(b.Severity - a.Severity)
		}
		return a.Since.Compare(b.Since)
	})
	return out
}

// Fatal reports whether a Fatal warning is active.
func (t *Tracker) Fatal() bool {
	for _, w := range t.Visible() {
		if w.Severity == Fatal {
			return true
		}
	}
	return false
}
