package sim

import (
	"fmt"
	"sync"
	"time"

	"github.com/deskphone/deskphone/board"
)

// KeypadBuffer is the capacity of the Keypad event channel.
const KeypadBuffer = 64

// Keypad is a simulated keypad: Press and Send inject events that come out
// of Events in order.
type Keypad struct {
	// Now stamps the events; nil means time.Now. Set it before use.
	Now func() time.Time

	ch        chan board.KeyEvent
	done      chan struct{}
	mu        sync.RWMutex // held for reading while sending, for writing to close ch
	closeOnce sync.Once
}

var _ board.Keypad = (*Keypad)(nil)

// NewKeypad returns an open keypad.
func NewKeypad() *Keypad {
	return &Keypad{ch: make(chan board.KeyEvent, KeypadBuffer), done: make(chan struct{})}
}

// Events implements board.Keypad. The channel is closed by Close.
func (k *Keypad) Events() <-chan board.KeyEvent { return k.ch }

// Press sends a key down then up. It blocks while the buffer is full and
// returns false if the keypad was closed.
func (k *Keypad) Press(key board.Key) bool {
	return k.Send(board.KeyEvent{Key: key, Down: true}) && k.Send(board.KeyEvent{Key: key})
}

// Send sends one event (At is filled in when zero). It blocks while the
// buffer is full and returns false if the keypad was closed.
func (k *Keypad) Send(ev board.KeyEvent) bool {
	if ev.At.IsZero() {
		if k.Now != nil {
			ev.At = k.Now()
		} else {
			ev.At = time.Now()
		}
	}
	k.mu.RLock()
	defer k.mu.RUnlock()
	select {
	case <-k.done:
		return false
	default:
	}
	select {
	case k.ch <- ev:
		return true
	case <-k.done:
		return false
	}
}

// Close stops the keypad and closes the Events channel. Blocked senders
// return false. It is safe to call more than once.
func (k *Keypad) Close() error {
	k.closeOnce.Do(func() {
		close(k.done)
		k.mu.Lock()
		close(k.ch)
		k.mu.Unlock()
	})
	return nil
}

// Clock is a simulated clock: Now is a base time plus an offset that Set
// changes. The base is the real time (time.Now, which a synctest bubble
// fakes) unless the clock was made with NewFixedClock.
type Clock struct {
	mu     sync.Mutex
	fixed  bool
	base   time.Time
	offset time.Duration
	sets   int
}

var _ board.Clock = (*Clock)(nil)

// NewClock returns a clock that follows the real time until Set.
func NewClock() *Clock { return &Clock{} }

// NewFixedClock returns a clock stopped at base; it moves only by Set and
// Advance.
func NewFixedClock(base time.Time) *Clock { return &Clock{fixed: true, base: base} }

// Now implements board.Clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.baseLocked().Add(c.offset)
}

// Set implements board.Clock: it changes the offset so that Now returns t
// at this instant.
func (c *Clock) Set(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset = t.Sub(c.baseLocked())
	c.sets++
	return nil
}

// Advance moves the clock forward by d (backward if negative).
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// Offset returns the difference between the simulated and the base time.
func (c *Clock) Offset() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.offset
}

// Sets returns how many times Set was called.
func (c *Clock) Sets() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sets
}

func (c *Clock) baseLocked() time.Time {
	if c.fixed {
		return c.base
	}
	return time.Now()
}

// LEDs is a simulated pair of indicators whose state is readable.
type LEDs struct {
	mu      sync.Mutex
	on      map[board.LED]bool
	changes int
}

var _ board.LEDs = (*LEDs)(nil)

// NewLEDs returns the indicators, all off.
func NewLEDs() *LEDs { return &LEDs{on: map[board.LED]bool{}} }

// Set implements board.LEDs. An unknown LED is an error.
func (l *LEDs) Set(led board.LED, on bool) error {
	if led != board.LEDStatus && led != board.LEDMessage {
		return fmt.Errorf("sim: leds: unknown led %d", led)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.on[led] != on {
		l.changes++
	}
	l.on[led] = on
	return nil
}

// On reports whether led is lit.
func (l *LEDs) On(led board.LED) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.on[led]
}

// Changes returns how many times an LED changed state.
func (l *LEDs) Changes() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.changes
}

// Watchdog is a simulated watchdog that counts pings. It never reboots
// anything; tests check Pings and LastPing.
type Watchdog struct {
	// Now stamps the pings; nil means time.Now. Set it before use.
	Now func() time.Time

	mu    sync.Mutex
	pings int
	last  time.Time
	err   error
}

var _ board.Watchdog = (*Watchdog)(nil)

// Ping implements board.Watchdog. It returns the error set by SetErr.
func (w *Watchdog) Ping() error {
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	t := now()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	w.pings++
	w.last = t
	return nil
}

// SetErr makes every following Ping fail with err (nil restores).
func (w *Watchdog) SetErr(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.err = err
}

// Pings returns how many pings succeeded.
func (w *Watchdog) Pings() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pings
}

// LastPing returns the time of the last successful ping (zero if none).
func (w *Watchdog) LastPing() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last
}
