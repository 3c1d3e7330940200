// Package logring keeps the last N log lines of the agent in memory for the
// tether `logs` command and diag, and lets readers follow new lines. It is a
// slog.Handler that formats records as text lines and passes them on to an
// optional next handler (stderr).
package logring

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
)

// Ring is a fixed-size ring of formatted log lines.
type Ring struct {
	mu    sync.Mutex
	lines []string
	next  int
	full  bool
	subs  map[chan string]struct{}
}

// New returns a ring holding the last n lines.
func New(n int) *Ring {
	if n < 1 {
		n = 1
	}
	return &Ring{lines: make([]string, n), subs: map[chan string]struct{}{}}
}

// Add appends a line and hands it to followers (dropped for a follower
// whose buffer is full: a slow tether must never block the agent).
func (r *Ring) Add(line string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines[r.next] = line
	r.next = (r.next + 1) % len(r.lines)
	if r.next == 0 {
		r.full = true
	}
	for c := range r.subs {
		select {
		case c <- line:
		default:
		}
	}
}

// Lines returns the buffered lines, oldest first.
func (r *Ring) Lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.full {
		return append([]string(nil), r.lines[:r.next]...)
	}
	out := append([]string(nil), r.lines[r.next:]...)
	return append(out, r.lines[:r.next]...)
}

// Follow returns a channel of new lines until ctx is done.
func (r *Ring) Follow(ctx context.Context) <-chan string {
	c := make(chan string, 256)
	r.mu.Lock()
	r.subs[c] = struct{}{}
	r.mu.Unlock()
	go func() {
		<-ctx.Done()
		r.mu.Lock()
		delete(r.subs, c)
		close(c)
		r.mu.Unlock()
	}()
	return c
}

// Handler returns a slog.Handler that records into r at level and above and
// forwards every record to next (which may be nil).
func (r *Ring) Handler(level slog.Leveler, next slog.Handler) slog.Handler {
	h := &handler{ring: r, level: level, next: next, buf: new(lineBuf)}
	h.text = slog.NewTextHandler(h.buf, &slog.HandlerOptions{Level: slog.LevelDebug})
	return h
}

type lineBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lineBuf) Write(p []byte) (int, error) { return l.b.Write(p) }

type handler struct {
	ring  *Ring
	level slog.Leveler
	next  slog.Handler
	text  slog.Handler
	buf   *lineBuf
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool {
	if l >= h.level.Level() {
		return true
	}
	return h.next != nil && h.next.Enabled(ctx, l)
}

func (h *handler) Handle(ctx context.Context, rec slog.Record) error {
	if rec.Level >= h.level.Level() {
		h.buf.mu.Lock()
		h.buf.b.Reset()
		err := h.text.Handle(ctx, rec)
		line := string(bytes.TrimRight(h.buf.b.Bytes(), "\n"))
		h.buf.mu.Unlock()
		if err == nil {
			h.ring.Add(line)
		}
	}
	if h.next != nil && h.next.Enabled(ctx, rec.Level) {
		return h.next.Handle(ctx, rec)
	}
	return nil
}

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.text = h.text.WithAttrs(as)
	if h.next != nil {
		c.next = h.next.WithAttrs(as)
	}
	return &c
}

func (h *handler) WithGroup(name string) slog.Handler {
	c := *h
	c.text = h.text.WithGroup(name)
	if h.next != nil {
		c.next = h.next.WithGroup(name)
	}
	return &c
}
