// Package boardtest is the conformance suite every board.Board must pass:
// the simulated board in every CI run (go test ./board/...), and the Raspberry
// Pi rig through `phoned selftest --board pirig`.
//
// The model is periph's conn/display/displaytest.TestTextDisplay: a reusable
// set of checks that tolerates display.ErrNotImplemented and can run
// interactively on real hardware.
//
// By default the checks leave the hardware as they found it, apart from LED
// states, the display contents and one watchdog ping. Options.Destructive adds
// checks that change state:
//
//   - flash: the LAST erase block of the partition is erased, written and
//     erased again. Its previous contents are lost: storage layouts must
//     not keep anything there that a selftest may not destroy.
//   - clock: the wall clock is set one hour ahead and back (settimeofday on
//     a rig, an offset on sim).
package boardtest

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"
	"log/slog"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"periph.io/x/conn/v3/display"
	"periph.io/x/conn/v3/display/displaytest"

	"github.com/deskphone/deskphone/board"
)

// Status is the outcome of one check.
type Status int

// The outcomes.
const (
	Pass Status = iota
	Fail
	Skip
)

// String returns "pass", "fail" or "skip".
func (s Status) String() string {
	switch s {
	case Pass:
		return "pass"
	case Fail:
		return "fail"
	case Skip:
		return "skip"
	}
	return fmt.Sprintf("status(%d)", int(s))
}

// Result is the outcome of one named check.
type Result struct {
	Name   string
	Status Status
	// Detail is a short human-readable note (what was measured, why skipped).
	Detail string
	// Err is the failure cause (Fail only).
	Err error
}

// Options tune Check.
type Options struct {
	// Destructive enables the checks that change state: erase the last flash
	// block, set the clock (see the package documentation).
	Destructive bool
	// Interactive enables the checks that need a person: press OK on the
	// keypad.
	Interactive bool
	// KeyTimeout is how long the interactive keypad check waits; default
	// DefaultKeyTimeout.
	KeyTimeout time.Duration
	// Logger defaults to slog.Default.
	Logger *slog.Logger
}

// DefaultKeyTimeout is how long the interactive keypad check waits for OK.
const DefaultKeyTimeout = 10 * time.Second

// Display geometries a board may have.
var (
	PixelBounds = image.Rect(0, 0, 128, 64)
	TextCols    = 20
	TextRows    = 4
)

// Check runs every check against b, in a fixed order (display, flash,
// flash-destructive, clock, clock-set, leds, watchdog, keypad, tether), and
// returns one Result per check. A check that panics is reported as a failure.
func Check(ctx context.Context, b *board.Board, opts Options) []Result {
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	logger = logger.With("component", "boardtest", "board", b.Name)
	if opts.KeyTimeout <= 0 {
		opts.KeyTimeout = DefaultKeyTimeout
	}
	checks := []struct {
		name string
		f    func(context.Context, *board.Board, Options) Result
	}{
		{"display", checkDisplay},
		{"flash", checkFlash},
		{"flash-destructive", checkFlashDestructive},
		{"clock", checkClock},
		{"clock-set", checkClockSet},
		{"leds", checkLEDs},
		{"watchdog", checkWatchdog},
		{"keypad", checkKeypad},
		{"tether", checkTether},
	}
	out := make([]Result, 0, len(checks))
	for _, c := range checks {
		r := safe(ctx, c.f, b, opts)
		r.Name = c.name
		logger.Info("check done", "check", r.Name, "status", r.Status.String(), "detail", r.Detail, "err", r.Err)
		out = append(out, r)
	}
	return out
}

func safe(ctx context.Context, f func(context.Context, *board.Board, Options) Result, b *board.Board, opts Options) (r Result) {
	defer func() {
		if p := recover(); p != nil {
			r = fail(fmt.Errorf("boardtest: panic: %v", p))
		}
	}()
	if err := ctx.Err(); err != nil {
		return Result{Status: Skip, Detail: "cancelled"}
	}
	return f(ctx, b, opts)
}

// Run runs Check and fails t for every failed check; it logs every result.
func Run(t *testing.T, b *board.Board, opts Options) {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	}
	for _, r := range Check(t.Context(), b, opts) {
		switch r.Status {
		case Fail:
			t.Errorf("boardtest %s: %s: %v", r.Name, r.Detail, r.Err)
		default:
			t.Logf("boardtest %s: %s: %s", r.Name, r.Status, r.Detail)
		}
	}
}

// Failed reports whether any result is a failure.
func Failed(rs []Result) bool {
	for _, r := range rs {
		if r.Status == Fail {
			return true
		}
	}
	return false
}

// WriteTable prints rs as an aligned table followed by a summary line, for
// `phoned selftest`.
func WriteTable(w io.Writer, rs []Result) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tRESULT\tDETAIL")
	var n [3]int
	for _, r := range rs {
		d := r.Detail
		if r.Err != nil {
			if d != "" {
				d += ": "
			}
			d += r.Err.Error()
		}
		d = strings.ReplaceAll(d, "\n", " ")
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Name, strings.ToUpper(r.Status.String()), d)
		if r.Status >= Pass && r.Status <= Skip {
			n[r.Status]++
		}
	}
	tw.Flush()
	fmt.Fprintf(w, "%d passed, %d failed, %d skipped\n", n[Pass], n[Fail], n[Skip])
}

func pass(format string, args ...any) Result {
	return Result{Status: Pass, Detail: fmt.Sprintf(format, args...)}
}

func skip(format string, args ...any) Result {
	return Result{Status: Skip, Detail: fmt.Sprintf(format, args...)}
}

func fail(err error) Result { return Result{Status: Fail, Err: err} }

func failf(format string, args ...any) Result { return fail(fmt.Errorf(format, args...)) }

// tolerated reports whether err is nil or display.ErrNotImplemented.
func tolerated(err error) bool { return err == nil || errors.Is(err, display.ErrNotImplemented) }

func checkDisplay(_ context.Context, b *board.Board, _ Options) Result {
	px, tx := b.Display.Pixel, b.Display.Text
	switch {
	case px == nil && tx == nil:
		return skip("absent")
	case px != nil && tx != nil:
		return failf("both a pixel and a text display are set")
	case px != nil:
		if got := px.Bounds(); got != PixelBounds {
			return failf("pixel display bounds %v, want %v", got, PixelBounds)
		}
		if err := px.Draw(PixelBounds, TestPattern(), image.Point{}); !tolerated(err) {
			return fail(fmt.Errorf("draw test pattern: %w", err))
		}
		return pass("%s %dx%d, test pattern drawn", px, PixelBounds.Dx(), PixelBounds.Dy())
	}
	if tx.Cols() != TextCols || tx.Rows() != TextRows {
		return failf("text display is %dx%d, want %dx%d", tx.Cols(), tx.Rows(), TextCols, TextRows)
	}
	var errs []error
	for _, err := range displaytest.TestTextDisplay(tx, false) {
		if !tolerated(err) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fail(fmt.Errorf("text display conformance: %w", err))
	}
	if err := tx.Clear(); !tolerated(err) {
		return fail(fmt.Errorf("clear: %w", err))
	}
	for i, line := range []string{"deskphone selftest", "0123456789ABCDEFGHIJ", "<ok> <back> * #", "boardtest"} {
		if err := tx.MoveTo(tx.MinRow()+i, tx.MinCol()); !tolerated(err) {
			return fail(fmt.Errorf("move to row %d: %w", i, err))
		}
		if _, err := tx.WriteString(line); !tolerated(err) {
			return fail(fmt.Errorf("write row %d: %w", i, err))
		}
	}
	return pass("%s %dx%d, periph displaytest passed", tx, TextCols, TextRows)
}

// TestPattern returns the 128×64 picture the display check draws: a
// one-pixel border, a checkerboard of 8×8 squares in the left half and
// diagonal lines in the right half.
func TestPattern() image.Image {
	img := image.NewGray(PixelBounds)
	for y := range PixelBounds.Dy() {
		for x := range PixelBounds.Dx() {
			on := x == 0 || y == 0 || x == PixelBounds.Dx()-1 || y == PixelBounds.Dy()-1
			if x < 64 {
				on = on || (x/8+y/8)%2 == 0
			} else {
				on = on || (x-y)%8 == 0
			}
			if on {
				img.SetGray(x, y, color.Gray{Y: 0xFF})
			}
		}
	}
	return img
}

func checkFlash(ctx context.Context, b *board.Board, _ Options) Result {
	f := b.Flash
	if f == nil {
		return failf("no flash")
	}
	size, es := f.Size(), f.EraseSize()
	if size <= 0 || es <= 0 || size%es != 0 {
		return failf("bad geometry: size %d, erase size %d", size, es)
	}
	buf := make([]byte, es)
	for off := int64(0); off < size; off += es {
		if err := ctx.Err(); err != nil {
			return fail(fmt.Errorf("read: %w", err))
		}
		if n, err := f.ReadAt(buf, off); n != len(buf) || (err != nil && !errors.Is(err, io.EOF)) {
			return fail(fmt.Errorf("read block at %d: got %d bytes: %w", off, n, err))
		}
	}
	return pass("%d bytes in %d blocks of %d, full read ok", size, size/es, es)
}

func checkFlashDestructive(_ context.Context, b *board.Board, opts Options) Result {
	if !opts.Destructive {
		return skip("needs Destructive (erases the last erase block)")
	}
	f := b.Flash
	if f == nil {
		return failf("no flash")
	}
	es, size := f.EraseSize(), f.Size()
	if es <= 0 || size < es {
		return failf("bad geometry: size %d, erase size %d", size, es)
	}
	off := size - es
	if es > 1 {
		if err := f.Erase(off, es/2); err == nil {
			return failf("unaligned erase of %d bytes at %d accepted", es/2, off)
		}
	}
	if err := f.Erase(off, es); err != nil {
		return fail(fmt.Errorf("erase last block at %d: %w", off, err))
	}
	if err := expectFill(f, off, es, 0xFF); err != nil {
		return fail(fmt.Errorf("after erase: %w", err))
	}
	// AND semantics: 0xF0 then 0x3C must read back 0x30, and writing 0xFF
	// over it must not set bits again.
	n := min(es, 64)
	for _, v := range []byte{0xF0, 0x3C, 0xFF} {
		if _, err := f.WriteAt(fill(n, v), off); err != nil {
			return fail(fmt.Errorf("write %#x at %d: %w", v, off, err))
		}
	}
	if err := syncFlash(f); err != nil {
		return fail(err)
	}
	if err := expectFill(f, off, n, 0x30); err != nil {
		return fail(fmt.Errorf("and-write semantics: %w", err))
	}
	if err := f.Erase(off, es); err != nil {
		return fail(fmt.Errorf("erase again: %w", err))
	}
	if err := syncFlash(f); err != nil {
		return fail(err)
	}
	if err := expectFill(f, off, es, 0xFF); err != nil {
		return fail(fmt.Errorf("after second erase: %w", err))
	}
	return pass("last block at %#x: erase, and-write, readback, erase ok", off)
}

func syncFlash(f board.Flash) error {
	if s, ok := f.(board.Syncer); ok {
		if err := s.Sync(); err != nil {
			return fmt.Errorf("sync: %w", err)
		}
	}
	return nil
}

func fill(n int64, v byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = v
	}
	return b
}

func expectFill(f board.Flash, off, n int64, v byte) error {
	got := make([]byte, n)
	if _, err := f.ReadAt(got, off); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read at %d: %w", off, err)
	}
	for i, c := range got {
		if c != v {
			return fmt.Errorf("byte at %d is %#x, want %#x", off+int64(i), c, v)
		}
	}
	return nil
}

func checkClock(_ context.Context, b *board.Board, _ Options) Result {
	c := b.Clock
	if c == nil {
		return failf("no clock")
	}
	t1 := c.Now()
	t2 := c.Now()
	if t2.Before(t1) {
		return failf("clock went backwards: %v then %v", t1, t2)
	}
	detail := "now " + t2.UTC().Format(time.RFC3339)
	if t2.Year() < 2020 {
		detail += " (not set yet)"
	}
	return pass("%s", detail)
}

func checkClockSet(_ context.Context, b *board.Board, opts Options) Result {
	if !opts.Destructive {
		return skip("needs Destructive (sets the wall clock)")
	}
	c := b.Clock
	if c == nil {
		return failf("no clock")
	}
	const shift = time.Hour
	const slack = 5 * time.Second
	before := c.Now()
	if err := c.Set(before.Add(shift)); err != nil {
		return fail(fmt.Errorf("set: %w", err))
	}
	after := c.Now()
	// Put it back first, whatever the outcome.
	errBack := c.Set(c.Now().Add(-shift))
	if d := after.Sub(before); d < shift || d > shift+slack {
		return failf("set %v ahead, clock moved %v", shift, d)
	}
	if errBack != nil {
		return fail(fmt.Errorf("set back: %w", errBack))
	}
	return pass("set +%v and back", shift)
}

func checkLEDs(_ context.Context, b *board.Board, _ Options) Result {
	if b.LEDs == nil {
		return skip("absent")
	}
	for _, led := range []board.LED{board.LEDStatus, board.LEDMessage} {
		for _, on := range []bool{true, false} {
			if err := b.LEDs.Set(led, on); err != nil {
				return fail(fmt.Errorf("led %d on=%v: %w", led, on, err))
			}
		}
	}
	return pass("status and message toggled")
}

func checkWatchdog(_ context.Context, b *board.Board, _ Options) Result {
	if b.Watchdog == nil {
		return skip("absent")
	}
	if err := b.Watchdog.Ping(); err != nil {
		return fail(fmt.Errorf("ping: %w", err))
	}
	return pass("pinged")
}

func checkKeypad(ctx context.Context, b *board.Board, opts Options) Result {
	if b.Keypad == nil {
		return skip("absent")
	}
	if !opts.Interactive {
		return skip("needs Interactive (press OK within %v)", opts.KeyTimeout)
	}
	prompt(b, "press OK")
	timer := time.NewTimer(opts.KeyTimeout)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-b.Keypad.Events():
			if !ok {
				return failf("keypad closed")
			}
			if ev.Key == board.KeyOK && ev.Down {
				return pass("OK pressed")
			}
		case <-timer.C:
			return failf("no OK press within %v", opts.KeyTimeout)
		case <-ctx.Done():
			return fail(ctx.Err())
		}
	}
}

// prompt shows a one-line instruction on whatever display the board has.
func prompt(b *board.Board, msg string) {
	if tx := b.Display.Text; tx != nil {
		_ = tx.Clear()
		_, _ = tx.WriteString(msg)
	}
	// Pixel displays keep the test pattern: there is no font in board/.
}

func checkTether(_ context.Context, b *board.Board, _ Options) Result {
	if b.Tether == nil {
		return pass("absent")
	}
	return pass("present")
}
