// Package uitest holds test helpers for ui and its renderers: the named
// sample screens used by golden tests, and fakes of the periph display
// interfaces.
package uitest

import (
	"image"
	"image/color"
	"image/draw"
	"strings"
	"sync"
	"time"

	"periph.io/x/conn/v3/display"

	"github.com/deskphone/deskphone/board"
	"github.com/deskphone/deskphone/bootstrap/failure"
	"github.com/deskphone/deskphone/ui"
)

// Case is one named sample screen.
type Case struct {
	// Name is the golden file name: the screen name, or
	// "<screen>-<variant>" for variants.
	Name  string
	Model ui.Model
}

// Now is the wall-clock time of the samples (10:42 UTC).
var Now = time.Date(2026, 5, 22, 10, 42, 0, 0, time.UTC)

// Firmware is the firmware version of the samples.
const Firmware = "1.4.2"

// Cases returns every screen, plus the variants, in lang. Each screen's base
// case is named after the screen (sign-in-pin is the README picture: a PIN
// half typed).
func Cases(lang ui.Lang) []Case {
	base := ui.New(lang, Firmware)
	base, _ = base.Update(ui.Tick{Now: Now})
	do := func(m ui.Model, evs ...ui.Event) ui.Model {
		for _, ev := range evs {
			m, _ = m.Update(ev)
		}
		return m
	}
	keys := func(m ui.Model, s string) ui.Model {
		for i := range len(s) {
			m, _ = m.Update(ui.Key{Key: board.Key(s[i])})
		}
		return m
	}
	ask := do(base, ui.AskCredentials{})
	reg := ui.Registered{User: "alice@example.test", Extension: "1001", Registrar: "pool.example.test"}
	retry := ui.Failure{Stage: failure.StageRegister, Code: failure.RegistrarUnreachable, RetryIn: 30 * time.Second, Attempt: 3}
	return []Case{
		{"boot", base},
		{"boot-progress", do(base, ui.Show{Screen: ui.ScreenBoot, Progress: 60})},
		{"network", do(base, ui.Show{Screen: ui.ScreenNetwork, Progress: -1, Detail: "eth0"})},
		{"locating-server", do(base, ui.Show{Screen: ui.ScreenLocating, Progress: 20, Detail: "pool.example.test"})},
		{"setting-time", do(base, ui.Show{Screen: ui.ScreenSettingTime, Progress: 35, Detail: "ntp.example.test"})},
		{"downloading-chain", do(base, ui.Show{Screen: ui.ScreenChain, Progress: 50, Detail: "pool.example.test"})},
		{"sign-in-user", keys(ask, "1001")},
		{"sign-in-user-empty", ask},
		{"sign-in-user-phone", keys(ask, "*14255550101")},
		{"sign-in-user-reason", do(base, ui.AskCredentials{User: "1001", Reason: failure.PINInvalid})},
		{"sign-in-user-again", do(base, ui.AskCredentials{User: "1001", Reason: failure.CredentialsNeeded})},
		{"sign-in-user-long-reason", do(base, ui.AskCredentials{User: "1001", Reason: failure.PINLocked})},
		{"sign-in-pin", keys(ask, "1001O246")},
		{"sign-in-pin-empty", keys(ask, "1001O")},
		{"sign-in-pin-too-short", keys(ask, "1001O24O")},
		{"sign-in-pin-long", keys(ask, "1001O"+strings.Repeat("7", ui.MaxPIN))},
		{"signing-in", do(base, ui.Show{Screen: ui.ScreenSigningIn, Progress: 75, Detail: "pool.example.test"})},
		{"registered", do(base, reg)},
		{"registered-long", do(base, ui.Registered{User: "maximilian.mustermann@subsidiary.example.test",
			Extension: "+4930123456789", Registrar: "sip-frontend-01.pool.example.test:5061"})},
		{"error", do(base, ui.Failure{Stage: failure.StageDiscover, Code: failure.CertServiceNotFound})},
		{"error-retry", do(base, retry, ui.Tick{Now: Now.Add(12 * time.Second)})},
		{"error-scrolled", keys(do(base, retry), "DDD")},
		{"error-locked", do(base, ui.Failure{Stage: failure.StageTicket, Code: failure.PINLocked})},
		{"confirm", do(base, ui.Confirm{Action: ui.ActionSignIn, Code: "482913"})},
		{"confirm-reset", do(base, reg, ui.Confirm{Action: ui.ActionReset, Code: "071530"})},
	}
}

// Drawer is a fake display.Drawer that keeps the last image drawn.
type Drawer struct {
	mu     sync.Mutex
	Rect   image.Rectangle
	Img    *image.Gray // last content
	Frames int         // number of Draw calls
	Err    error       // returned by Draw when set
}

// NewDrawer returns a Drawer of the given size.
func NewDrawer(w, h int) *Drawer {
	r := image.Rect(0, 0, w, h)
	return &Drawer{Rect: r, Img: image.NewGray(r)}
}

var _ display.Drawer = (*Drawer)(nil)

// String implements conn.Resource.
func (d *Drawer) String() string { return "uitest.Drawer" }

// Halt implements conn.Resource.
func (d *Drawer) Halt() error { return nil }

// ColorModel implements display.Drawer.
func (d *Drawer) ColorModel() color.Model { return color.GrayModel }

// Bounds implements display.Drawer.
func (d *Drawer) Bounds() image.Rectangle { return d.Rect }

// Draw implements display.Drawer.
func (d *Drawer) Draw(dstRect image.Rectangle, src image.Image, sp image.Point) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.Err != nil {
		return d.Err
	}
	draw.Draw(d.Img, dstRect.Intersect(d.Rect), src, sp, draw.Src)
	d.Frames++
	return nil
}

// TextDisplay is a fake display.TextDisplay: a grid of runes with a cursor,
// 0-based rows and columns.
type TextDisplay struct {
	mu       sync.Mutex
	Grid     [][]byte
	Row, Col int
	Err      error // returned by WriteString/MoveTo when set
}

// NewTextDisplay returns a blank rows×cols display.
func NewTextDisplay(rows, cols int) *TextDisplay {
	d := &TextDisplay{}
	d.Grid = make([][]byte, rows)
	for i := range d.Grid {
		d.Grid[i] = []byte(strings.Repeat(" ", cols))
	}
	return d
}

var _ display.TextDisplay = (*TextDisplay)(nil)

// Lines returns the content, one string per row.
func (d *TextDisplay) Lines() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]string, len(d.Grid))
	for i, r := range d.Grid {
		out[i] = string(r)
	}
	return out
}

// AutoScroll implements display.TextDisplay.
func (d *TextDisplay) AutoScroll(bool) error { return display.ErrNotImplemented }

// Cols implements display.TextDisplay.
func (d *TextDisplay) Cols() int { return len(d.Grid[0]) }

// Rows implements display.TextDisplay.
func (d *TextDisplay) Rows() int { return len(d.Grid) }

// Clear implements display.TextDisplay.
func (d *TextDisplay) Clear() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := range d.Grid {
		d.Grid[i] = []byte(strings.Repeat(" ", len(d.Grid[i])))
	}
	d.Row, d.Col = 0, 0
	return nil
}

// Cursor implements display.TextDisplay.
func (d *TextDisplay) Cursor(...display.CursorMode) error { return nil }

// Home implements display.TextDisplay.
func (d *TextDisplay) Home() error { return d.MoveTo(0, 0) }

// MinCol implements display.TextDisplay.
func (d *TextDisplay) MinCol() int { return 0 }

// MinRow implements display.TextDisplay.
func (d *TextDisplay) MinRow() int { return 0 }

// Move implements display.TextDisplay.
func (d *TextDisplay) Move(display.CursorDirection) error { return display.ErrNotImplemented }

// MoveTo implements display.TextDisplay.
func (d *TextDisplay) MoveTo(row, col int) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.Err != nil {
		return d.Err
	}
	if row < 0 || row >= len(d.Grid) || col < 0 || col >= len(d.Grid[0]) {
		return display.ErrInvalidCommand
	}
	d.Row, d.Col = row, col
	return nil
}

// Display implements display.TextDisplay.
func (d *TextDisplay) Display(bool) error { return nil }

// String implements display.TextDisplay.
func (d *TextDisplay) String() string { return "uitest.TextDisplay" }

// Write implements display.TextDisplay; bytes past the end of the row are
// dropped.
func (d *TextDisplay) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.Err != nil {
		return 0, d.Err
	}
	for _, c := range p {
		if d.Col < len(d.Grid[d.Row]) {
			d.Grid[d.Row][d.Col] = c
		}
		d.Col++
	}
	return len(p), nil
}

// WriteString implements display.TextDisplay.
func (d *TextDisplay) WriteString(s string) (int, error) { return d.Write([]byte(s)) }
