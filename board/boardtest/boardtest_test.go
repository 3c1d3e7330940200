package boardtest_test

import (
	"bytes"
	"errors"
	"image"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/deskphone/deskphone/board"
	"github.com/deskphone/deskphone/board/boardtest"
	"github.com/deskphone/deskphone/board/sim"
)

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), nil))
}

func newSim(t *testing.T, opts sim.Options) (*board.Board, *sim.Parts) {
	t.Helper()
	opts.Logger = testLogger(t)
	b, p, err := sim.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Error(err)
		}
	})
	return b, p
}

func TestSimPixel(t *testing.T) {
	b, p := newSim(t, sim.Options{})
	if _, err := b.Flash.WriteAt([]byte("keep"), 0); err != nil {
		t.Fatal(err)
	}
	p.Keypad.Press(board.Key1)
	p.Keypad.Press(board.KeyOK)
	boardtest.Run(t, b, boardtest.Options{Destructive: true, Interactive: true})
	if p.LCD.Frames() != 1 || !p.LCD.Lit(0, 0) || p.LCD.Lit(8, 1) {
		t.Errorf("test pattern not shown: frames=%d", p.LCD.Frames())
	}
	if p.Watchdog.Pings() != 1 || p.Clock.Sets() != 2 || p.Clock.Offset() > 0 {
		t.Errorf("pings=%d sets=%d offset=%v", p.Watchdog.Pings(), p.Clock.Sets(), p.Clock.Offset())
	}
	// Only the last block was touched.
	got := p.Flash.Snapshot()
	if string(got[:4]) != "keep" {
		t.Errorf("first block changed: %q", got[:4])
	}
}

func TestSimTextFileFlash(t *testing.T) {
	b, p := newSim(t, sim.Options{Text: true, StateDir: t.TempDir(), TetherDevice: "/dev/null"})
	rs := boardtest.Check(t.Context(), b, boardtest.Options{Destructive: true, Logger: testLogger(t)})
	want := map[string]boardtest.Status{
		"display": boardtest.Pass, "flash": boardtest.Pass, "flash-destructive": boardtest.Pass,
		"clock": boardtest.Pass, "clock-set": boardtest.Pass, "leds": boardtest.Pass,
		"watchdog": boardtest.Pass, "keypad": boardtest.Skip, "tether": boardtest.Pass,
	}
	if len(rs) != len(want) {
		t.Fatalf("%d results, want %d", len(rs), len(want))
	}
	for _, r := range rs {
		if r.Status != want[r.Name] {
			t.Errorf("%s: %v (%s, %v), want %v", r.Name, r.Status, r.Detail, r.Err, want[r.Name])
		}
	}
	if got := p.TextLCD.Lines()[0]; !strings.HasPrefix(got, "deskphone selftest") {
		t.Errorf("text LCD row 0 = %q", got)
	}
}

func TestNonDestructiveLeavesFlash(t *testing.T) {
	b, p := newSim(t, sim.Options{FlashSize: 16 << 10})
	for off := int64(0); off < b.Flash.Size(); off += 1024 {
		if _, err := b.Flash.WriteAt([]byte{0x5A}, off); err != nil {
			t.Fatal(err)
		}
	}
	before := p.Flash.Snapshot()
	ops := p.Flash.Ops()
	rs := boardtest.Check(t.Context(), b, boardtest.Options{Logger: testLogger(t)})
	if boardtest.Failed(rs) {
		t.Fatalf("failures: %+v", rs)
	}
	if !bytes.Equal(before, p.Flash.Snapshot()) || p.Flash.Ops() != ops || p.Clock.Sets() != 0 {
		t.Error("non-destructive check changed flash or clock")
	}
}

// brokenFlash ignores AND semantics: it overwrites.
type brokenFlash struct{ *sim.Flash }

func (f brokenFlash) WriteAt(p []byte, off int64) (int, error) {
	if err := f.Flash.Erase(off-off%f.EraseSize(), f.EraseSize()); err != nil {
		return 0, err
	}
	return f.Flash.WriteAt(p, off)
}

type wrongSizeLCD struct{ *sim.LCD }

func (wrongSizeLCD) Bounds() image.Rectangle { return image.Rect(0, 0, 96, 64) }

type panickyLEDs struct{}

func (panickyLEDs) Set(board.LED, bool) error { panic("led driver bug") }

type deadWatchdog struct{}

func (deadWatchdog) Ping() error { return errors.New("ebusy") }

func TestDetectsBrokenBoards(t *testing.T) {
	for _, tt := range []struct {
		name   string
		mutate func(*board.Board, *sim.Parts)
		check  string
	}{
		{"flash overwrites instead of AND", func(b *board.Board, p *sim.Parts) { b.Flash = brokenFlash{p.Flash} }, "flash-destructive"},
		{"flash missing", func(b *board.Board, _ *sim.Parts) { b.Flash = nil }, "flash"},
		{"flash powered off", func(_ *board.Board, p *sim.Parts) {
			p.Flash.CutAfterOps(0)
			p.Flash.Erase(0, p.Flash.EraseSize())
		}, "flash"},
		{"pixel display wrong size", func(b *board.Board, p *sim.Parts) { b.Display.Pixel = wrongSizeLCD{p.LCD} }, "display"},
		{"two displays", func(b *board.Board, _ *sim.Parts) { b.Display.Text = sim.NewTextLCD() }, "display"},
		{"led driver panics", func(b *board.Board, _ *sim.Parts) { b.LEDs = panickyLEDs{} }, "leds"},
		{"watchdog fails", func(b *board.Board, _ *sim.Parts) { b.Watchdog = deadWatchdog{} }, "watchdog"},
		{"clock missing", func(b *board.Board, _ *sim.Parts) { b.Clock = nil }, "clock-set"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b, p := newSim(t, sim.Options{})
			tt.mutate(b, p)
			rs := boardtest.Check(t.Context(), b, boardtest.Options{Destructive: true, Logger: testLogger(t)})
			for _, r := range rs {
				if r.Name == tt.check {
					if r.Status != boardtest.Fail || r.Err == nil {
						t.Errorf("%s: %v %s, want fail", r.Name, r.Status, r.Detail)
					}
					t.Logf("%s: %v", r.Name, r.Err)
					return
				}
			}
			t.Fatalf("no result named %s", tt.check)
		})
	}
}

func TestKeypadTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, p, err := sim.New(sim.Options{Text: true, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		p.Keypad.Press(board.Key5) // not OK: ignored
		rs := boardtest.Check(t.Context(), b, boardtest.Options{Interactive: true, Logger: testLogger(t)})
		for _, r := range rs {
			if r.Name == "keypad" && (r.Status != boardtest.Fail || !strings.Contains(r.Err.Error(), "10s")) {
				t.Errorf("keypad: %v %v", r.Status, r.Err)
			}
		}
		if got := p.TextLCD.Lines()[0]; !strings.HasPrefix(got, "press OK") {
			t.Errorf("prompt = %q", got)
		}
	})
}

func TestWriteTable(t *testing.T) {
	var buf bytes.Buffer
	boardtest.WriteTable(&buf, []boardtest.Result{
		{Name: "display", Status: boardtest.Pass, Detail: "ok"},
		{Name: "flash-destructive", Status: boardtest.Fail, Detail: "last block", Err: errors.New("byte at 5 is 0x0")},
		{Name: "keypad", Status: boardtest.Skip, Detail: "needs Interactive"},
	})
	want := `CHECK              RESULT  DETAIL
display            PASS    ok
flash-destructive  FAIL    last block: byte at 5 is 0x0
keypad             SKIP    needs Interactive
1 passed, 1 failed, 1 skipped
`
	if buf.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", buf.String(), want)
	}
}
