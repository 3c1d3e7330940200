package ui

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/deskphone/deskphone/board"
	"github.com/deskphone/deskphone/bootstrap/failure"
)

// allKeys is every key the keypad can send, plus KeyNone and an unknown one.
var allKeys = []board.Key{
	board.Key0, board.Key1, board.Key2, board.Key3, board.Key4, board.Key5, board.Key6, board.Key7,
	board.Key8, board.Key9, board.KeyStar, board.KeyHash, board.KeyOK, board.KeyBack, board.KeyUp,
	board.KeyDown, board.KeyNone, board.Key('x'),
}

// press sends keys written as phonesim's bytes: digits, '*', '#', 'O' (OK),
// 'B' (Back), 'U', 'D'; it returns the last non-nil Cmd.
func press(t *testing.T, m Model, keys string) (Model, Cmd) {
	t.Helper()
	var last Cmd
	for i := range len(keys) {
		var cmd Cmd
		m, cmd = m.Update(Key{board.Key(keys[i])})
		if cmd != nil {
			last = cmd
		}
	}
	return m, last
}

func userModel(t *testing.T, typed string) Model {
	m, _ := New(EN, "1.0").Update(AskCredentials{})
	m, _ = press(t, m, typed)
	return m
}

func pinModel(t *testing.T, user, pin string) Model {
	m, _ := press(t, userModel(t, user), "O"+pin)
	if m.Screen() != ScreenSignInPIN {
		t.Fatalf("setup: screen %v, want sign-in-pin", m.Screen())
	}
	return m
}

// TestKeys is the exhaustive key table: every key on every kind of screen
// state. A key not listed for a state must leave the model unchanged and
// return no command.
func TestKeys(t *testing.T) {
	type want struct {
		screen Screen
		cmd    Cmd
		check  func(t *testing.T, m Model)
	}
	userIs := func(s string) func(*testing.T, Model) {
		return func(t *testing.T, m Model) {
			if m.user != s {
				t.Errorf("user = %q, want %q", m.user, s)
			}
		}
	}
	pinIs := func(s string) func(*testing.T, Model) {
		return func(t *testing.T, m Model) {
			if got := string(m.pin[:m.pinLen]); got != s {
				t.Errorf("pin = %q, want %q", got, s)
			}
			for i := m.pinLen; i < MaxPIN; i++ {
				if m.pin[i] != 0 {
					t.Fatalf("pin[%d] = %q after the end, want 0", i, m.pin[i])
				}
			}
		}
	}
	digitsAppend := func(base string, scr Screen, is func(string) func(*testing.T, Model)) map[board.Key]want {
		w := map[board.Key]want{}
		for k := board.Key0; k <= board.Key9; k++ {
			w[k] = want{scr, nil, is(base + string(rune(k)))}
		}
		return w
	}
	errModel, _ := New(EN, "1").Update(Failure{Code: failure.ChainUntrusted, Attempt: 2})
	confirmOnPIN, _ := pinModel(t, "1001", "24").Update(Confirm{Action: ActionReset, Code: "123456"})
	long := strings.Repeat("1", MaxUser)
	longPIN := strings.Repeat("9", MaxPIN)
	submitted := SubmitCredentials{User: "1001", PIN: "2468"}

	states := []struct {
		name  string
		model Model
		keys  map[board.Key]want
	}{
		{"boot", New(EN, "1"), nil},
		{"progress", func() Model { m, _ := New(EN, "1").Update(Show{Screen: ScreenChain, Progress: 40}); return m }(), nil},
		{"registered", func() Model { m, _ := New(EN, "1").Update(Registered{User: "a", Extension: "1"}); return m }(), nil},
		{"user empty", userModel(t, ""), func() map[board.Key]want {
			w := digitsAppend("", ScreenSignInUser, userIs)
			w[board.KeyStar] = want{ScreenSignInUser, nil, userIs("+")}
			return w
		}()},
		{"user plus only", userModel(t, "*"), func() map[board.Key]want {
			w := digitsAppend("+", ScreenSignInUser, userIs)
			w[board.KeyBack] = want{ScreenSignInUser, nil, userIs("")}
			return w
		}()},
		{"user typed", userModel(t, "1001"), func() map[board.Key]want {
			w := digitsAppend("1001", ScreenSignInUser, userIs)
			w[board.KeyBack] = want{ScreenSignInUser, nil, userIs("100")}
			w[board.KeyOK] = want{ScreenSignInPIN, nil, userIs("1001")}
			return w
		}()},
		{"user phone", userModel(t, "*1425"), func() map[board.Key]want {
			w := digitsAppend("+1425", ScreenSignInUser, userIs)
			w[board.KeyBack] = want{ScreenSignInUser, nil, userIs("+142")}
			w[board.KeyOK] = want{ScreenSignInPIN, nil, userIs("+1425")}
			return w
		}()},
		{"user full", userModel(t, long), map[board.Key]want{
			board.KeyBack: {ScreenSignInUser, nil, userIs(long[1:])},
			board.KeyOK:   {ScreenSignInPIN, nil, userIs(long)},
		}},
		{"pin empty", pinModel(t, "1001", ""), func() map[board.Key]want {
			w := digitsAppend("", ScreenSignInPIN, pinIs)
			w[board.KeyBack] = want{ScreenSignInUser, nil, userIs("1001")}
			w[board.KeyOK] = want{ScreenSignInPIN, nil, func(t *testing.T, m Model) {
				if !m.pinShort {
					t.Error("no too-short hint")
				}
			}}
			return w
		}()},
		{"pin short", pinModel(t, "1001", "246"), func() map[board.Key]want {
			w := digitsAppend("246", ScreenSignInPIN, pinIs)
			w[board.KeyBack] = want{ScreenSignInPIN, nil, pinIs("24")}
			w[board.KeyOK] = want{ScreenSignInPIN, nil, func(t *testing.T, m Model) {
				pinIs("246")(t, m)
				if !m.pinShort {
					t.Error("no too-short hint")
				}
			}}
			return w
		}()},
		{"pin ok", pinModel(t, "1001", "2468"), func() map[board.Key]want {
			w := digitsAppend("2468", ScreenSignInPIN, pinIs)
			w[board.KeyBack] = want{ScreenSignInPIN, nil, pinIs("246")}
			w[board.KeyOK] = want{ScreenSigningIn, submitted, pinIs("")}
			return w
		}()},
		{"pin full", pinModel(t, "1001", longPIN), map[board.Key]want{
			board.KeyBack: {ScreenSignInPIN, nil, pinIs(longPIN[1:])},
			board.KeyOK:   {ScreenSigningIn, SubmitCredentials{User: "1001", PIN: PIN(longPIN)}, pinIs("")},
		}},
		{"error", errModel, map[board.Key]want{
			board.KeyOK: {ScreenError, RetryNow{}, nil},
			board.KeyDown: {ScreenError, nil, func(t *testing.T, m Model) {
				if m.top != 1 {
					t.Errorf("top = %d, want 1", m.top)
				}
			}},
		}},
		{"confirm over pin", confirmOnPIN, map[board.Key]want{
			board.KeyOK:   {ScreenSignInPIN, ConfirmAnswer{OK: true}, pinIs("")},
			board.KeyBack: {ScreenSignInPIN, ConfirmAnswer{OK: false}, pinIs("")},
		}},
	}
	for _, st := range states {
		for _, k := range allKeys {
			t.Run(st.name+"/"+k.String(), func(t *testing.T) {
				before := st.model
				got, cmd := st.model.Update(Key{k})
				if before != st.model {
					t.Fatal("Update changed its receiver")
				}
				w, ok := st.keys[k]
				if !ok {
					if got != st.model || cmd != nil {
						t.Errorf("key %v changed the model or returned %#v; want no effect", k, cmd)
					}
					return
				}
				if got.Screen() != w.screen {
					t.Errorf("screen = %v, want %v", got.Screen(), w.screen)
				}
				if !reflect.DeepEqual(cmd, w.cmd) {
					t.Errorf("cmd = %#v, want %#v", cmd, w.cmd)
				}
				if w.check != nil {
					w.check(t, got)
				}
			})
		}
	}
}

func TestSignInFlow(t *testing.T) {
	m := New(FR, "1.0")
	m, _ = m.Update(AskCredentials{User: "1001", Reason: failure.PINInvalid})
	if f := m.View(); f.Lines[0] != "Poste ou code PIN" || f.Lines[f.Edit] != "1001" {
		t.Fatalf("reason frame = %q", f.Lines)
	}
	m, _ = press(t, m, "O135")
	m, cmd := press(t, m, "O") // too short
	if cmd != nil || !strings.Contains(m.View().Text(), "Au moins 4") {
		t.Fatalf("short PIN: cmd %v, frame %q", cmd, m.View().Lines)
	}
	m, _ = press(t, m, "BBBB") // delete 3 digits, then back to the user entry
	if m.Screen() != ScreenSignInUser || m.user != "1001" {
		t.Fatalf("after back: screen %v user %q", m.Screen(), m.user)
	}
	m, cmd = press(t, m, "BBBB*14255550101O13579O")
	want := SubmitCredentials{User: "+14255550101", PIN: "13579"}
	if cmd != want {
		t.Fatalf("cmd = %#v, want %#v", cmd, want)
	}
	if m.pinLen != 0 || m.pin != [MaxPIN]byte{} || m.Screen() != ScreenSigningIn {
		t.Fatalf("after submit: pinLen %d, pin %q, screen %v", m.pinLen, m.pin, m.Screen())
	}
	if got := cmd.(SubmitCredentials).PIN.Reveal(); got != "13579" {
		t.Errorf("Reveal = %q", got)
	}
}

func TestPINNeverInView(t *testing.T) {
	m := pinModel(t, "1001", "97531")
	f := m.View()
	if strings.Contains(f.Text(), "97531") || f.Lines[f.Edit] != strings.Repeat(Bullet, 5) {
		t.Fatalf("frame shows %q", f.Lines)
	}
	if f.Softkeys[0] != "Delete" {
		t.Errorf("softkeys = %q", f.Softkeys)
	}
}

func TestPINLeavesMemory(t *testing.T) {
	for _, tt := range []struct {
		name string
		ev   Event
	}{
		{"failure", Failure{Code: failure.NetworkDown}},
		{"show", Show{Screen: ScreenNetwork}},
		{"ask again", AskCredentials{User: "1"}},
		{"registered", Registered{User: "a"}},
		{"confirm overlay", Confirm{Action: ActionReset, Code: "111111"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := pinModel(t, "1001", "8642").Update(tt.ev)
			if m.pinLen != 0 || m.pin != [MaxPIN]byte{} {
				t.Errorf("PIN still in the model: %q", m.pin[:m.pinLen])
			}
		})
	}
	// Events that do not leave the PIN screen keep it.
	for _, ev := range []Event{Tick{Now: time.Unix(1, 0)}, SetLang{Lang: DE}, ConfirmDone{}, Show{Screen: ScreenError}} {
		m, _ := pinModel(t, "1001", "8642").Update(ev)
		if m.pinLen != 4 {
			t.Errorf("%T cleared the PIN", ev)
		}
	}
}

func TestPINRedacted(t *testing.T) {
	p := PIN("24680")
	cmd := SubmitCredentials{User: "1001", PIN: p}
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	log.Info("submit", "pin", p, "cmd", cmd)
	log.Info("submit", slog.Any("cmd", cmd))
	jsonCmd, err := json.Marshal(cmd)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	out = append(out, buf.String(), string(jsonCmd))
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%d", "%x", "%X", "%10s", "%T %v"} {
		out = append(out, fmt.Sprintf(verb, p), fmt.Sprintf(verb, cmd))
	}
	for _, s := range out {
		if strings.Contains(s, "24680") || strings.Contains(s, fmt.Sprintf("%x", "24680")) {
			t.Errorf("PIN leaked: %s", s)
		}
	}
	if p.String() != "REDACTED" || p.LogValue().String() != "REDACTED" || p.Reveal() != "24680" {
		t.Error("PIN methods")
	}
}

func TestErrorScreen(t *testing.T) {
	m := New(EN, "1")
	m, _ = m.Update(Tick{Now: time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)})
	m, _ = m.Update(Failure{Stage: failure.StageRegister, Code: failure.RegistrarUnreachable, RetryIn: 30 * time.Second, Attempt: 3})
	f := m.View()
	if f.Title != "Error E701" || f.Status != "30s" || f.Softkeys[1] != "Retry" {
		t.Fatalf("frame = %+v", f)
	}
	wantLines := []string{"Unable to contact", "Registrar for", "authentication", "Check the network,", "then sign in again", "Attempt 3"}
	if !reflect.DeepEqual(f.Lines, wantLines) {
		t.Errorf("lines = %q, want %q", f.Lines, wantLines)
	}
	for i, tt := range []struct {
		step time.Duration
		want string
	}{
		{time.Second, "29s"}, {500 * time.Millisecond, "29s"}, {600 * time.Millisecond, "28s"},
		{2 * time.Hour, "28s"}, // clock step: ignored
		{-time.Hour, "28s"},    // backwards: ignored
		{27 * time.Second, "1s"}, {time.Second, ""}, {time.Second, ""},
	} {
		m, _ = m.Update(Tick{Now: m.now.Add(tt.step)})
		if got := m.View().Status; got != tt.want {
			t.Errorf("tick %d (+%v): status %q, want %q", i, tt.step, got, tt.want)
		}
	}
	// Scrolling stops where the smallest LCD still shows two lines.
	m, _ = press(t, m, "DDDDDDDDDD")
	if m.top != len(wantLines)-2 {
		t.Errorf("top = %d after scrolling down, want %d", m.top, len(wantLines)-2)
	}
	m, _ = press(t, m, "UUUUUUUUUUUU")
	if m.top != 0 {
		t.Errorf("top = %d after scrolling up, want 0", m.top)
	}
	m, _ = m.Update(Failure{})
	if m.View().Title != "Error E902" {
		t.Errorf("empty code: title %q", m.View().Title)
	}
}

func TestCountdown(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{
		{0, ""}, {-time.Second, ""}, {time.Millisecond, "1s"}, {59 * time.Second, "59s"},
		{60 * time.Second, "1:00"}, {245 * time.Second, "4:05"}, {time.Hour + 5*time.Minute, "1h05"},
	} {
		if got := countdown(tt.d); got != tt.want {
			t.Errorf("countdown(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestShowAndOtherScreens(t *testing.T) {
	m := New(Lang("xx"), "2.1.0")
	if m.Lang() != EN || m.Screen() != ScreenBoot {
		t.Fatalf("New: lang %q screen %v", m.Lang(), m.Screen())
	}
	if f := m.View(); f.Title != "deskphone" || f.Lines[len(f.Lines)-1] != "Firmware 2.1.0" || f.Progress != NoLine {
		t.Errorf("boot frame = %+v", f)
	}
	for _, tt := range []struct {
		name       string
		ev         Event
		wantScreen Screen
		wantProg   int
	}{
		{"progress", Show{Screen: ScreenLocating, Progress: 20, Detail: "pool.example.test"}, ScreenLocating, 20},
		{"negative progress", Show{Screen: ScreenNetwork, Progress: -7}, ScreenNetwork, NoLine},
		{"progress over 100", Show{Screen: ScreenSigningIn, Progress: 250}, ScreenSigningIn, 100},
		{"sign-in via show", Show{Screen: ScreenSignInPIN}, ScreenSignInUser, NoLine},
		{"registered via show", Show{Screen: ScreenRegistered}, ScreenRegistered, NoLine},
		{"error via show ignored", Show{Screen: ScreenError}, ScreenBoot, NoLine},
		{"confirm via show ignored", Show{Screen: ScreenConfirm}, ScreenBoot, NoLine},
		{"bad screen ignored", Show{Screen: Screen(99)}, ScreenBoot, NoLine},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, cmd := m.Update(tt.ev)
			if got.Screen() != tt.wantScreen || got.View().Progress != tt.wantProg || cmd != nil {
				t.Errorf("screen %v progress %d cmd %v; want %v %d", got.Screen(), got.View().Progress, cmd, tt.wantScreen, tt.wantProg)
			}
		})
	}
	m, _ = m.Update(Show{Screen: ScreenLocating, Detail: "a-very-long-server-name.example.test"})
	if l := m.View().Lines; l[len(l)-1] != "a-very-long-serve…" {
		t.Errorf("detail line = %q", l[len(l)-1])
	}
	m, _ = m.Update(Registered{User: "alice@example.test", Extension: "1001", Registrar: "pool.example.test"})
	m, _ = m.Update(Tick{Now: time.Date(2026, 5, 1, 9, 5, 0, 0, time.UTC)})
	m, _ = m.Update(SetLang{Lang: DE})
	f := m.View()
	want := Frame{Screen: ScreenRegistered, Title: "Angemeldet", Status: "09:05",
		Lines: []string{"alice@example.test", "Durchwahl 1001", "pool.example.test"},
		Edit:  NoLine, Highlight: NoLine, Progress: NoLine}
	if !reflect.DeepEqual(f, want) {
		t.Errorf("registered frame\n got %+v\nwant %+v", f, want)
	}
	m, _ = m.Update(SetLang{Lang: "xx"})
	if m.Lang() != DE {
		t.Errorf("bad SetLang changed lang to %q", m.Lang())
	}
}

func TestConfirmOverlay(t *testing.T) {
	m, _ := New(EN, "1").Update(Show{Screen: ScreenSigningIn, Progress: 50})
	m, _ = m.Update(Confirm{Action: ActionRootAdd, Code: "482913"})
	f := m.View()
	if m.Screen() != ScreenConfirm || f.Lines[f.Highlight] != "Code 482 913" || f.Lines[0] != "Add a root CA" {
		t.Fatalf("confirm frame = %+v", f)
	}
	// The agent moves on underneath; the overlay stays.
	m, _ = m.Update(Show{Screen: ScreenSigningIn, Progress: 80})
	if m.Screen() != ScreenConfirm {
		t.Fatal("overlay lost")
	}
	m, _ = m.Update(ConfirmDone{})
	if m.Screen() != ScreenSigningIn || m.View().Progress != 80 {
		t.Errorf("after done: %v %d", m.Screen(), m.View().Progress)
	}
	m, _ = m.Update(Confirm{Action: "free text action", Code: "12"})
	if f := m.View(); f.Lines[0] != "free text action" || f.Lines[1] != "Code 12" {
		t.Errorf("free action lines = %q", f.Lines)
	}
}

func TestSanitizeUser(t *testing.T) {
	for in, want := range map[string]string{
		"1001": "1001", "+14255550101": "+14255550101", "a1b2": "12", "1+2": "12",
		strings.Repeat("7", 30): strings.Repeat("7", MaxUser), "alice@example.test": "",
	} {
		if got := sanitizeUser(in); got != want {
			t.Errorf("sanitizeUser(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestScreenNames(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range Screens() {
		n := s.String()
		if n == "" || seen[n] || strings.ToLower(n) != n || strings.Contains(n, " ") {
			t.Errorf("screen %d name %q", s, n)
		}
		seen[n] = true
	}
	if len(seen) != 11 || Screen(42).String() != "screen(42)" {
		t.Errorf("got %d names", len(seen))
	}
}

func TestWindow(t *testing.T) {
	lines := []string{"a", "b", "c", "d", "e"}
	for _, tt := range []struct {
		top, edit, rows int
		first, end      int
	}{
		{0, NoLine, 3, 0, 3}, {1, NoLine, 3, 1, 4}, {4, NoLine, 3, 2, 5}, {9, NoLine, 2, 3, 5},
		{0, 4, 3, 2, 5}, {4, 0, 2, 0, 2}, {0, NoLine, 9, 0, 5}, {-3, NoLine, 2, 0, 2}, {0, NoLine, 0, 0, 0},
	} {
		f := Frame{Lines: lines, Top: tt.top, Edit: tt.edit}
		if first, end := f.Window(tt.rows); first != tt.first || end != tt.end {
			t.Errorf("Window(top %d edit %d rows %d) = %d,%d; want %d,%d", tt.top, tt.edit, tt.rows, first, end, tt.first, tt.end)
		}
	}
}

func TestWrapClipTail(t *testing.T) {
	for _, tt := range []struct {
		in    string
		width int
		want  []string
	}{
		{"", 5, nil},
		{"abc def ghi", 7, []string{"abc def", "ghi"}},
		{"abcdefghij", 4, []string{"abcd", "efgh", "ij"}},
		{"ab abcdefgh", 4, []string{"ab", "abcd", "efgh"}},
		{"one\ntwo", 10, []string{"one", "two"}},
		{"PC\u00a0?", 3, []string{"PC\u00a0", "?"}},
		{"Téléchargement des certificats", 18, []string{"Téléchargement des", "certificats"}},
	} {
		if got := Wrap(tt.in, tt.width); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Wrap(%q, %d) = %q, want %q", tt.in, tt.width, got, tt.want)
		}
	}
	if got := Clip("abcdef", 4); got != "abc…" {
		t.Errorf("Clip = %q", got)
	}
	if got := Tail("abcdef", 4); got != "…def" {
		t.Errorf("Tail = %q", got)
	}
	if Clip("x", 0) != "" || Tail("abc", 3) != "abc" {
		t.Error("Clip/Tail edge cases")
	}
	if got := ASCII("Échec — Straße • Grüße ok\u00a0?☃"); got != "Echec - Strasse * Gruesse ok ??" {
		t.Errorf("ASCII = %q", got)
	}
}
