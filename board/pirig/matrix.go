package pirig

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/deskphone/deskphone/board"
)

// MatrixOptions tune a Matrix scanner. Zero values take the defaults.
type MatrixOptions struct {
	// ScanInterval is the time between scan passes; default 10 ms (100 Hz).
	ScanInterval time.Duration
	// Debounce is how many consecutive scans must agree before a key
	// changes state; default 3 (30 ms at 100 Hz).
	Debounce int
	// Now stamps the events; default time.Now.
	Now func() time.Time
	// Logger defaults to slog.Default.
	Logger *slog.Logger
}

// Default matrix scanner settings.
const (
	DefaultScanInterval = 10 * time.Millisecond
	DefaultDebounce     = 3
)

// Matrix scans a keypad matrix wired to GPIO pins: each row is driven low
// in turn (the others are left as pulled-up inputs, so two keys in one
// column never short a driven-high row to a driven-low one), and the
// columns, inputs with pull-ups, read low where a key of that row is down.
//
// A key changes state only after Debounce consecutive scans agree. Two keys
// down at once are both reported. A scan in which four keys form a rectangle
// is ambiguous on a matrix without diodes (three real presses show a fourth,
// ghost key): such scans are ignored, so a ghost key is never reported.
type Matrix struct {
	rows, cols []gpio.PinIO
	keymap     [][]board.Key
	opts       MatrixOptions
	logger     *slog.Logger

	ch chan board.KeyEvent

	mu      sync.Mutex // guards the scan state below
	raw     []bool     // len(rows)*len(cols), reused per scan
	stable  []bool
	count   []int
	ghosted int

	runOnce sync.Once
}

var _ board.Keypad = (*Matrix)(nil)

// NewMatrix returns a scanner for a len(rows)×len(cols) matrix; keymap[r][c]
// is the key at row r, column c (board.KeyNone for an unused position). It
// configures the pins: columns as pulled-up inputs, rows released.
func NewMatrix(rows, cols []gpio.PinIO, keymap [][]board.Key, opts MatrixOptions) (*Matrix, error) {
	if len(rows) == 0 || len(cols) == 0 {
		return nil, errors.New("pirig: matrix: no rows or columns")
	}
	if len(keymap) != len(rows) {
		return nil, fmt.Errorf("pirig: matrix: keymap has %d rows, want %d", len(keymap), len(rows))
	}
	for r, row := range keymap {
		if len(row) != len(cols) {
			return nil, fmt.Errorf("pirig: matrix: keymap row %d has %d keys, want %d", r, len(row), len(cols))
		}
	}
	if opts.ScanInterval <= 0 {
		opts.ScanInterval = DefaultScanInterval
	}
	if opts.Debounce <= 0 {
		opts.Debounce = DefaultDebounce
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	n := len(rows) * len(cols)
	m := &Matrix{
		rows: rows, cols: cols, keymap: keymap, opts: opts,
		logger: logger.With("component", "pirig/matrix"),
		ch:     make(chan board.KeyEvent, 16),
		raw:    make([]bool, n), stable: make([]bool, n), count: make([]int, n),
	}
	for _, c := range cols {
		if err := c.In(gpio.PullUp, gpio.NoEdge); err != nil {
			return nil, fmt.Errorf("pirig: matrix: column %s: %w", c, err)
		}
	}
	for _, r := range rows {
		if err := r.In(gpio.PullUp, gpio.NoEdge); err != nil {
			return nil, fmt.Errorf("pirig: matrix: row %s: %w", r, err)
		}
	}
	return m, nil
}

// Events implements board.Keypad. The channel is closed when Run returns.
func (m *Matrix) Events() <-chan board.KeyEvent { return m.ch }

// Run scans every ScanInterval and sends the debounced events to Events
// until ctx is done; then it releases the rows and closes Events. It returns
// nil on cancellation and the pin error otherwise. Call it once.
func (m *Matrix) Run(ctx context.Context) error {
	err := errors.New("pirig: matrix: run called twice")
	m.runOnce.Do(func() { err = m.run(ctx) })
	return err
}

func (m *Matrix) run(ctx context.Context) error {
	defer close(m.ch)
	t := time.NewTicker(m.opts.ScanInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		evs, err := m.Scan()
		if err != nil {
			return err
		}
		for _, ev := range evs {
			select {
			case m.ch <- ev:
			case <-ctx.Done():
				return nil
			}
		}
	}
}

// Scan does one scan pass and returns the key events that became stable
// with it. Run calls it; tests call it directly.
func (m *Matrix) Scan() ([]board.KeyEvent, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.readLocked(); err != nil {
		return nil, err
	}
	if m.ghostLocked() {
		m.ghosted++
		if m.ghosted == 1 {
			m.logger.Debug("ambiguous key rectangle, scan ignored")
		}
		return nil, nil
	}
	m.ghosted = 0
	var evs []board.KeyEvent
	nc := len(m.cols)
	for i, down := range m.raw {
		if down == m.stable[i] {
			m.count[i] = 0
			continue
		}
		m.count[i]++
		if m.count[i] < m.opts.Debounce {
			continue
		}
		m.count[i] = 0
		m.stable[i] = down
		k := m.keymap[i/nc][i%nc]
		if k == board.KeyNone {
			continue
		}
		if evs == nil {
			evs = make([]board.KeyEvent, 0, 2)
		}
		evs = append(evs, board.KeyEvent{Key: k, Down: down, At: m.opts.Now()})
	}
	return evs, nil
}

// readLocked fills raw with one pass over the matrix.
func (m *Matrix) readLocked() error {
	nc := len(m.cols)
	for r, row := range m.rows {
		if err := row.Out(gpio.Low); err != nil {
			return fmt.Errorf("pirig: matrix: drive row %s: %w", row, err)
		}
		for c, col := range m.cols {
			m.raw[r*nc+c] = col.Read() == gpio.Low
		}
		if err := row.In(gpio.PullUp, gpio.NoEdge); err != nil {
			return fmt.Errorf("pirig: matrix: release row %s: %w", row, err)
		}
	}
	return nil
}

// ghostLocked reports whether raw holds two rows that share two pressed
// columns: the pattern a ghost key produces.
func (m *Matrix) ghostLocked() bool {
	nc := len(m.cols)
	for r1 := range m.rows {
		for r2 := r1 + 1; r2 < len(m.rows); r2++ {
			shared := 0
			for c := range nc {
				if m.raw[r1*nc+c] && m.raw[r2*nc+c] {
					shared++
					if shared == 2 {
						return true
					}
				}
			}
		}
	}
	return false
}
