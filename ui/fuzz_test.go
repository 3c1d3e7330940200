package ui_test

import (
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/deskphone/deskphone/board"
	"github.com/deskphone/deskphone/bootstrap/failure"
	"github.com/deskphone/deskphone/ui"
	"github.com/deskphone/deskphone/ui/pixel"
	"github.com/deskphone/deskphone/ui/text"
)

var fuzzKeys = []board.Key{
	board.Key0, board.Key1, board.Key2, board.Key3, board.Key4, board.Key5, board.Key6, board.Key7,
	board.Key8, board.Key9, board.KeyStar, board.KeyHash, board.KeyOK, board.KeyBack, board.KeyUp,
	board.KeyDown, board.KeyNone, board.Key('x'),
}

var fuzzCodes = []failure.Code{"", failure.NetworkDown, failure.CertServiceNotFound, failure.PINInvalid,
	failure.PINLocked, failure.RegistrarUnreachable, failure.HandshakeFailed, failure.Internal, "E999"}

// decode turns fuzz bytes into events: bytes below 0xA0 are key presses,
// the others pick an event whose fields come from the next byte.
func decode(data []byte) []ui.Event {
	var evs []ui.Event
	base := time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC)
	for i := 0; i < len(data); i++ {
		op := data[i]
		if op < 0xA0 {
			evs = append(evs, ui.Key{Key: fuzzKeys[int(op)%len(fuzzKeys)]})
			continue
		}
		var p byte
		if i+1 < len(data) {
			i++
			p = data[i]
		}
		switch (op - 0xA0) % 10 {
		case 0:
			evs = append(evs, ui.Show{Screen: ui.Screen(int(p%14) - 1), Progress: int(p) - 60, Detail: strings.Repeat("s", int(p%40))})
		case 1:
			evs = append(evs, ui.Failure{Code: fuzzCodes[int(p)%len(fuzzCodes)], RetryIn: time.Duration(p) * time.Second, Attempt: int(p % 5)})
		case 2:
			evs = append(evs, ui.AskCredentials{User: strings.Repeat("1+a", int(p%12)), Reason: fuzzCodes[int(p)%len(fuzzCodes)]})
		case 3:
			evs = append(evs, ui.Registered{User: strings.Repeat("ü", int(p%30)), Extension: "1001", Registrar: "r"})
		case 4:
			evs = append(evs, ui.Tick{Now: base.Add(time.Duration(int(p)-20) * time.Second)})
		case 5:
			evs = append(evs, ui.Confirm{Action: []string{ui.ActionReset, "x y z", ""}[p%3], Code: strings.Repeat("7", int(p%9))})
		case 6:
			evs = append(evs, ui.ConfirmDone{})
		case 7:
			evs = append(evs, ui.SetLang{Lang: []ui.Lang{ui.EN, ui.FR, ui.DE, "xx"}[p%4]})
		default:
			evs = append(evs, ui.Key{Key: fuzzKeys[int(p)%len(fuzzKeys)]})
		}
	}
	return evs
}

// FuzzModel feeds random key and event sequences to two models that differ
// only in the PIN digits typed (a digit d on the PIN screen is d+1 in the
// second). Both must always show the same frame (the PIN never reaches
// View), never panic, render on both LCDs, and forget the PIN as soon as it
// is submitted or the PIN screen is left.
func FuzzModel(f *testing.F) {
	f.Add([]byte("\x01\x00\x00\x01\x0c\x02\x04\x06\x08\x0c"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m1, m2 := ui.New(ui.EN, "1"), ui.New(ui.EN, "1")
		defer func() {
			if img := pixel.Render(m1.View()); img.Bounds().Dx() != pixel.Width {
				t.Fatal("pixel render size")
			}
		}()
		for _, ev := range decode(data) {
			ev2 := ev
			if k, ok := ev.(ui.Key); ok && k.Key.IsDigit() && m1.Screen() == ui.ScreenSignInPIN {
				ev2 = ui.Key{Key: board.Key0 + (k.Key-board.Key0+1)%10}
			}
			var c1, c2 ui.Cmd
			m1, c1 = m1.Update(ev)
			m2, c2 = m2.Update(ev2)
			f1, f2 := m1.View(), m2.View()
			if !reflect.DeepEqual(f1, f2) {
				t.Fatalf("after %#v the frame depends on the PIN digits:\n%+v\n%+v", ev, f1, f2)
			}
			s1, ok1 := c1.(ui.SubmitCredentials)
			s2, ok2 := c2.(ui.SubmitCredentials)
			switch {
			case ok1 != ok2:
				t.Fatalf("commands differ: %#v vs %#v", c1, c2)
			case ok1:
				p := s1.PIN.Reveal()
				if s1.User != s2.User || len(p) < ui.MinPIN || len(p) > ui.MaxPIN || strings.Trim(p, "0123456789") != "" {
					t.Fatalf("bad submit %q/%q", s1.User, p)
				}
				if strings.Contains(f1.Text(), p) && !strings.Contains(s1.User, p) {
					t.Fatalf("submitted PIN %q visible in frame", p)
				}
			case !reflect.DeepEqual(c1, c2):
				t.Fatalf("commands differ: %#v vs %#v", c1, c2)
			}
			n, restZero := ui.PINStateForTest(m1)
			if !restZero || (m1.Screen() != ui.ScreenSignInPIN && n != 0) || (ok1 && n != 0) {
				t.Fatalf("PIN kept: len %d, rest zero %v, screen %v, submitted %v", n, restZero, m1.Screen(), ok1)
			}
			checkFrame(t, f1)
		}
	})
}

func checkFrame(t *testing.T, f ui.Frame) {
	t.Helper()
	for i, l := range f.Lines {
		if i != f.Edit && utf8.RuneCountInString(l) > ui.Cols {
			t.Fatalf("line %d %q longer than %d", i, l, ui.Cols)
		}
	}
	if f.Edit >= len(f.Lines) || f.Highlight >= len(f.Lines) || f.Progress > 100 || f.Progress < ui.NoLine {
		t.Fatalf("bad frame indexes %+v", f)
	}
	if f.Edit >= 0 && f.Screen == ui.ScreenSignInPIN && strings.Trim(f.Lines[f.Edit], ui.Bullet) != "" {
		t.Fatalf("PIN line shows %q", f.Lines[f.Edit])
	}
	for _, r := range text.Render(f) {
		if len(r) != text.Cols {
			t.Fatalf("text row %q", r)
		}
	}
}
