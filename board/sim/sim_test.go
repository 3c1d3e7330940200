package sim

import (
	"errors"
	"image"
	"image/color"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/display"
	"periph.io/x/conn/v3/display/displaytest"

	"github.com/deskphone/deskphone/board"
)

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), nil))
}

func TestLCD(t *testing.T) {
	l := NewLCD()
	var hooked []image.Image
	l.OnFrame = func(img image.Image) { hooked = append(hooked, img) }
	if got := l.Bounds(); got != image.Rect(0, 0, 128, 64) {
		t.Fatalf("Bounds = %v", got)
	}
	white := image.NewUniform(color.White)
	for _, tt := range []struct {
		name       string
		rect       image.Rectangle
		src        image.Image
		wantFrames int
		lit, dark  image.Point
	}{
		{"fill square", image.Rect(10, 10, 20, 20), white, 1, image.Pt(15, 15), image.Pt(25, 15)},
		{"same again is no new frame", image.Rect(10, 10, 20, 20), white, 1, image.Pt(15, 15), image.Pt(25, 15)},
		{"clipped to the display", image.Rect(120, 60, 200, 100), white, 2, image.Pt(127, 63), image.Pt(119, 63)},
		{"black erases", image.Rect(0, 0, 15, 15), image.NewUniform(color.Black), 3, image.Pt(17, 17), image.Pt(12, 12)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := l.Draw(tt.rect, tt.src, image.Point{}); err != nil {
				t.Fatal(err)
			}
			if l.Frames() != tt.wantFrames || len(hooked) != tt.wantFrames {
				t.Errorf("Frames = %d, hook calls = %d; want %d", l.Frames(), len(hooked), tt.wantFrames)
			}
			if !l.Lit(tt.lit.X, tt.lit.Y) || l.Lit(tt.dark.X, tt.dark.Y) {
				t.Errorf("pixel %v lit=%v, %v lit=%v", tt.lit, l.Lit(tt.lit.X, tt.lit.Y), tt.dark, l.Lit(tt.dark.X, tt.dark.Y))
			}
		})
	}
	if l.Draws() != 4 {
		t.Errorf("Draws = %d", l.Draws())
	}
	// The hook gets a copy: drawing later does not change it.
	first := hooked[0].(*image.Gray)
	if first.GrayAt(12, 12).Y != 0xFF {
		t.Error("hook frame changed after later draws")
	}
	// Source offset.
	src := image.NewGray(image.Rect(0, 0, 4, 4))
	src.SetGray(3, 3, color.Gray{Y: 0xFF})
	if err := l.Draw(image.Rect(50, 50, 51, 51), src, image.Pt(3, 3)); err != nil {
		t.Fatal(err)
	}
	if !l.Lit(50, 50) {
		t.Error("source offset ignored")
	}
	if err := l.Halt(); err != nil {
		t.Fatal(err)
	}
	if l.Frame().GrayAt(50, 50).Y != 0 {
		t.Error("halted display still shows the frame")
	}
	if err := l.Draw(l.Bounds(), nil, image.Point{}); err == nil {
		t.Error("nil image accepted")
	}
}

func TestTextLCDConformance(t *testing.T) {
	lcd := NewTextLCD()
	for _, err := range displaytest.TestTextDisplay(lcd, false) {
		if !errors.Is(err, display.ErrNotImplemented) {
			t.Error(err)
		}
	}
}

func TestTextLCD(t *testing.T) {
	lcd := NewTextLCD()
	var changes int
	lcd.OnChange = func([]string) { changes++ }
	blank := strings.Repeat(" ", 20)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err := lcd.WriteString("Hello\nWorld")
	must(err)
	must(lcd.MoveTo(3, 15))
	_, err = lcd.WriteString("12345")
	must(err)
	want := []string{pad("Hello"), pad("World"), blank, pad("               12345")}
	if got := lcd.Lines(); !equalLines(got, want) {
		t.Fatalf("Lines = %q, want %q", got, want)
	}
	// Past the end without auto scroll: wraps to the top row.
	_, err = lcd.WriteString("X")
	must(err)
	if got := lcd.Lines()[0]; got != pad("Xello") {
		t.Errorf("wrap: row 0 = %q", got)
	}
	// With auto scroll: the text moves up.
	must(lcd.AutoScroll(true))
	must(lcd.MoveTo(3, 19))
	_, err = lcd.WriteString("5!")
	must(err)
	if got := lcd.Lines(); got[0] != pad("World") || got[3] != pad("!") {
		t.Errorf("scroll: %q", got)
	}
	must(lcd.Display(false))
	if got := lcd.Lines()[0]; got != blank || lcd.On() {
		t.Errorf("off: %q", got)
	}
	must(lcd.Display(true))
	if changes != 6 {
		t.Errorf("OnChange called %d times, want 6", changes)
	}
	if err := lcd.MoveTo(4, 0); err == nil {
		t.Error("MoveTo(4,0) accepted")
	}
}

func pad(s string) string { return s + strings.Repeat(" ", 20-len(s)) }

func TestKeypad(t *testing.T) {
	k := NewKeypad()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	k.Now = func() time.Time { return at }
	if !k.Press(board.Key7) {
		t.Fatal("Press on open keypad = false")
	}
	for _, want := range []board.KeyEvent{{Key: board.Key7, Down: true, At: at}, {Key: board.Key7, At: at}} {
		if got := <-k.Events(); got != want {
			t.Errorf("event %+v, want %+v", got, want)
		}
	}
	// A sender blocked on a full buffer is released by Close.
	for range KeypadBuffer {
		k.Send(board.KeyEvent{Key: board.KeyOK, Down: true})
	}
	res := make(chan bool)
	go func() { res <- k.Send(board.KeyEvent{Key: board.KeyOK}) }()
	if err := k.Close(); err != nil {
		t.Fatal(err)
	}
	if <-res {
		t.Error("blocked Send reported success after Close")
	}
	if k.Press(board.Key1) {
		t.Error("Press after Close = true")
	}
	n := 0
	for range k.Events() {
		n++
	}
	if n != KeypadBuffer {
		t.Errorf("drained %d events, want %d", n, KeypadBuffer)
	}
	k.Close() // idempotent
}

func TestClock(t *testing.T) {
	base := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	c := NewFixedClock(base)
	if !c.Now().Equal(base) {
		t.Fatalf("Now = %v", c.Now())
	}
	want := time.Date(2026, 5, 22, 10, 0, 0, 0, time.UTC)
	if err := c.Set(want); err != nil {
		t.Fatal(err)
	}
	c.Advance(time.Minute)
	if got := c.Now(); !got.Equal(want.Add(time.Minute)) || c.Sets() != 1 {
		t.Errorf("Now = %v, Sets = %d", got, c.Sets())
	}

	r := NewClock()
	if err := r.Set(want); err != nil {
		t.Fatal(err)
	}
	if d := r.Now().Sub(want); d < 0 || d > time.Minute {
		t.Errorf("real clock after Set is %v off", d)
	}
	if r.Offset() >= 0 && want.Before(time.Now()) {
		t.Errorf("offset %v for a time in the past", r.Offset())
	}
}

func TestLEDsAndWatchdog(t *testing.T) {
	l := NewLEDs()
	for _, tt := range []struct {
		led board.LED
		on  bool
	}{{board.LEDStatus, true}, {board.LEDMessage, true}, {board.LEDStatus, false}, {board.LEDStatus, false}} {
		if err := l.Set(tt.led, tt.on); err != nil {
			t.Fatal(err)
		}
	}
	if l.On(board.LEDStatus) || !l.On(board.LEDMessage) || l.Changes() != 3 {
		t.Errorf("status=%v message=%v changes=%d", l.On(board.LEDStatus), l.On(board.LEDMessage), l.Changes())
	}
	if err := l.Set(board.LED(9), true); err == nil {
		t.Error("unknown LED accepted")
	}

	w := &Watchdog{}
	for range 3 {
		if err := w.Ping(); err != nil {
			t.Fatal(err)
		}
	}
	boom := errors.New("boom")
	w.SetErr(boom)
	if err := w.Ping(); !errors.Is(err, boom) {
		t.Errorf("Ping = %v", err)
	}
	if w.Pings() != 3 || w.LastPing().IsZero() {
		t.Errorf("Pings = %d, LastPing = %v", w.Pings(), w.LastPing())
	}
}

func TestNew(t *testing.T) {
	b, p, err := New(Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if b.Name != "sim" || b.Display.Pixel != p.LCD || b.Display.Text != nil || p.Flash.Size() != DefaultFlashSize ||
		p.Flash.EraseSize() != DefaultEraseSize || p.WarmBoot {
		t.Fatalf("board %+v parts %+v", b, p)
	}
	// The tether is a pipe to TetherPeer.
	go func() { b.Tether.Write([]byte("ping")) }()
	buf := make([]byte, 4)
	if _, err := io.ReadFull(p.TetherPeer, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("tether: %q, %v", buf, err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-p.Keypad.Events(); ok {
		t.Error("keypad still open after Close")
	}
}

func TestNewWarmBoot(t *testing.T) {
	dir := t.TempDir()
	opts := Options{StateDir: dir, Text: true, TetherDevice: "/dev/pts/99", FlashSize: 64 << 10, Logger: testLogger(t)}
	b, p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if b.Tether != nil || p.TetherPeer != nil || b.Display.Text == nil || b.Display.Pixel != nil || p.WarmBoot {
		t.Fatalf("cold board %+v parts %+v", b, p)
	}
	if _, err := b.Flash.WriteAt([]byte("state"), 0); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	b, p, err = New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	got := make([]byte, 5)
	if _, err := b.Flash.ReadAt(got, 0); err != nil || string(got) != "state" || !p.WarmBoot {
		t.Errorf("warm boot read %q, %v, WarmBoot=%v", got, err, p.WarmBoot)
	}

	if _, _, err := New(Options{StateDir: dir, FlashSize: 128 << 10}); err == nil {
		t.Error("flash size change accepted")
	}
	if _, _, err := New(Options{EraseSize: 3000}); err == nil {
		t.Error("bad erase size accepted")
	}
}
