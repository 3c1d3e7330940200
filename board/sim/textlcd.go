package sim

import (
	"fmt"
	"strings"
	"sync"

	"periph.io/x/conn/v3/display"
)

// Character LCD geometry of the simulated text display.
const (
	TextCols = 20
	TextRows = 4
)

// TextLCD is a simulated 20×4 character LCD (display.TextDisplay). Rows and
// columns are 0-based. Writing past the end of a row continues on the next
// one; past the last row it scrolls up when auto scroll is on and wraps to
// the top otherwise. '\n' moves to the start of the next row.
type TextLCD struct {
	// OnChange, when set, is called with the new lines after every call that
	// changed the visible text. Set it before use; it is called without
	// locks held.
	OnChange func(lines []string)

	mu         sync.Mutex
	buf        [TextRows][TextCols]byte
	row, col   int
	autoScroll bool
	on         bool
	cursor     []display.CursorMode
	writes     int
}

var _ display.TextDisplay = (*TextLCD)(nil)

// NewTextLCD returns a cleared, switched-on 20×4 character LCD.
func NewTextLCD() *TextLCD {
	t := &TextLCD{on: true}
	t.clearLocked()
	return t
}

// String implements display.TextDisplay.
func (t *TextLCD) String() string { return "sim-textlcd-20x4" }

// Cols implements display.TextDisplay.
func (t *TextLCD) Cols() int { return TextCols }

// Rows implements display.TextDisplay.
func (t *TextLCD) Rows() int { return TextRows }

// MinRow implements display.TextDisplay: rows are 0-based.
func (t *TextLCD) MinRow() int { return 0 }

// MinCol implements display.TextDisplay: columns are 0-based.
func (t *TextLCD) MinCol() int { return 0 }

// AutoScroll implements display.TextDisplay.
func (t *TextLCD) AutoScroll(enabled bool) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.autoScroll = enabled
	return nil
}

// Clear implements display.TextDisplay: blanks the screen and homes the
// cursor.
func (t *TextLCD) Clear() error {
	return t.mutate(func() error { t.clearLocked(); return nil })
}

// Home implements display.TextDisplay.
func (t *TextLCD) Home() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.row, t.col = 0, 0
	return nil
}

// Cursor implements display.TextDisplay; it only records the modes.
func (t *TextLCD) Cursor(modes ...display.CursorMode) error {
	for _, m := range modes {
		if m < display.CursorOff || m > display.CursorBlink {
			return fmt.Errorf("sim: textlcd: cursor mode %d: %w", m, display.ErrInvalidCommand)
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cursor = append(t.cursor[:0], modes...)
	return nil
}

// Move implements display.TextDisplay. Moving off the screen is an error.
func (t *TextLCD) Move(dir display.CursorDirection) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	row, col := t.row, t.col
	switch dir {
	case display.Backward:
		col--
	case display.Forward:
		col++
	case display.Up:
		row--
	case display.Down:
		row++
	default:
		return fmt.Errorf("sim: textlcd: move %d: %w", dir, display.ErrInvalidCommand)
	}
	if row < 0 || row >= TextRows || col < 0 || col > TextCols {
		return fmt.Errorf("sim: textlcd: move to %d,%d: out of range", row, col)
	}
	t.row, t.col = row, col
	return nil
}

// MoveTo implements display.TextDisplay.
func (t *TextLCD) MoveTo(row, col int) error {
	if row < 0 || row >= TextRows || col < 0 || col >= TextCols {
		return fmt.Errorf("sim: textlcd: move to %d,%d: out of range", row, col)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.row, t.col = row, col
	return nil
}

// Display implements display.TextDisplay: off hides the text (Lines returns
// blank rows) without losing it.
func (t *TextLCD) Display(on bool) error {
	return t.mutate(func() error { t.on = on; return nil })
}

// Write implements display.TextDisplay.
func (t *TextLCD) Write(p []byte) (int, error) {
	err := t.mutate(func() error {
		for _, c := range p {
			t.putLocked(c)
		}
		t.writes++
		return nil
	})
	return len(p), err
}

// WriteString implements display.TextDisplay.
func (t *TextLCD) WriteString(s string) (int, error) { return t.Write([]byte(s)) }

// Lines returns the visible text, one string of TextCols characters per row
// (blank rows while the display is off).
func (t *TextLCD) Lines() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.linesLocked()
}

// On reports whether the display is switched on.
func (t *TextLCD) On() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.on
}

// CursorPos returns the cursor row and column.
func (t *TextLCD) CursorPos() (row, col int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.row, t.col
}

// Writes returns how many Write calls were made.
func (t *TextLCD) Writes() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.writes
}

func (t *TextLCD) linesLocked() []string {
	out := make([]string, TextRows)
	for i := range t.buf {
		if t.on {
			out[i] = string(t.buf[i][:])
		} else {
			out[i] = strings.Repeat(" ", TextCols)
		}
	}
	return out
}

// mutate runs f under the lock and calls OnChange if the visible text
// changed.
func (t *TextLCD) mutate(f func() error) error {
	t.mu.Lock()
	before := t.linesLocked()
	err := f()
	after := t.linesLocked()
	hook := t.OnChange
	t.mu.Unlock()
	if hook != nil && !equalLines(before, after) {
		hook(after)
	}
	return err
}

func equalLines(a, b []string) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func (t *TextLCD) clearLocked() {
	for i := range t.buf {
		for j := range t.buf[i] {
			t.buf[i][j] = ' '
		}
	}
	t.row, t.col = 0, 0
}

func (t *TextLCD) putLocked(c byte) {
	if c == '\n' {
		t.newlineLocked()
		return
	}
	if t.col >= TextCols {
		t.newlineLocked()
	}
	t.buf[t.row][t.col] = c
	t.col++
}

// newlineLocked moves to the start of the next row, scrolling or wrapping
// at the bottom.
func (t *TextLCD) newlineLocked() {
	t.col = 0
	if t.row < TextRows-1 {
		t.row++
		return
	}
	if !t.autoScroll {
		t.row = 0
		return
	}
	copy(t.buf[:], t.buf[1:])
	for j := range t.buf[TextRows-1] {
		t.buf[TextRows-1][j] = ' '
	}
}
