package ui

import (
	"fmt"
	"strings"
	"time"

	"github.com/deskphone/deskphone/board"
	"github.com/deskphone/deskphone/bootstrap/failure"
)

// Input limits of the sign-in screens.
const (
	MaxUser = 20 // phone number or extension, including a leading '+'
	MaxPIN  = 24 // the largest PIN policy allows (Set-CsPinPolicy)
	MinPIN  = 4  // the smallest PIN policy allows
)

// Bullet is the mask character shown for each typed PIN digit.
const Bullet = "•"

// maxTickStep is the largest Tick interval counted against the retry
// countdown; a bigger step is a wall-clock jump (NTP), not elapsed time.
const maxTickStep = time.Minute

// Model is the state of the phone's screens. It is a value: Update returns a
// new Model and never changes the receiver. The zero Model is not useful;
// call New.
type Model struct {
	lang     Lang
	firmware string
	screen   Screen // the base screen, under the confirm overlay
	progress int
	detail   string
	now      time.Time
	top      int // scroll position of the base screen

	// Sign-in.
	user     string
	reason   failure.Code
	pin      [MaxPIN]byte // fixed array: no shared backing store to leak
	pinLen   int
	pinShort bool

	// Error screen.
	fail      Failure
	retryLeft time.Duration

	// Idle screen.
	reg Registered

	// Confirmation overlay.
	confirming bool
	confirm    Confirm
}

// New returns a model showing the boot screen in lang (English if lang is
// not supported) with the firmware version.
func New(lang Lang, firmwareVersion string) Model {
	if !lang.valid() {
		lang = EN
	}
	return Model{lang: lang, firmware: firmwareVersion, screen: ScreenBoot, progress: NoLine}
}

// Screen returns the screen shown: ScreenConfirm while the confirmation
// overlay is up, else the current screen.
func (m Model) Screen() Screen {
	if m.confirming {
		return ScreenConfirm
	}
	return m.screen
}

// Lang returns the current language.
func (m Model) Lang() Lang { return m.lang }

// Update applies ev and returns the new model and a command for the agent
// (nil, SubmitCredentials, ConfirmAnswer or RetryNow).
func (m Model) Update(ev Event) (Model, Cmd) {
	switch ev := ev.(type) {
	case Show:
		return m.show(ev), nil
	case Key:
		return m.key(ev.Key)
	case Failure:
		m.enter(ScreenError)
		m.fail = ev
		if m.fail.Code == "" {
			m.fail.Code = failure.Internal
		}
		m.retryLeft = max(ev.RetryIn, 0)
		return m, nil
	case AskCredentials:
		m.enter(ScreenSignInUser)
		m.user = sanitizeUser(ev.User)
		m.reason = ev.Reason
		return m, nil
	case Registered:
		m.enter(ScreenRegistered)
		m.reg = ev
		return m, nil
	case Tick:
		if !m.now.IsZero() {
			if d := ev.Now.Sub(m.now); d > 0 && d <= maxTickStep {
				m.retryLeft = max(m.retryLeft-d, 0)
			}
		}
		m.now = ev.Now
		return m, nil
	case Confirm:
		m.clearPIN() // the user retypes it after the overlay
		m.confirming = true
		m.confirm = ev
		return m, nil
	case ConfirmDone:
		m.confirming = false
		return m, nil
	case SetLang:
		if ev.Lang.valid() {
			m.lang = ev.Lang
		}
		return m, nil
	}
	return m, nil
}

// enter switches the base screen, forgetting the PIN and the scroll position.
func (m *Model) enter(s Screen) {
	m.clearPIN()
	m.screen = s
	m.top = 0
	m.progress = NoLine
	m.detail = ""
}

// clearPIN zeroes the PIN digits.
func (m *Model) clearPIN() {
	m.pin = [MaxPIN]byte{}
	m.pinLen = 0
	m.pinShort = false
}

func (m Model) show(ev Show) Model {
	switch {
	case ev.Screen.isProgress():
		m.enter(ev.Screen)
		m.progress = ev.Progress
		if m.progress < 0 {
			m.progress = NoLine
		}
		m.progress = min(m.progress, 100)
		m.detail = ev.Detail
	case ev.Screen == ScreenSignInUser || ev.Screen == ScreenSignInPIN:
		m.enter(ScreenSignInUser)
		m.reason = ""
	case ev.Screen == ScreenRegistered:
		m.enter(ScreenRegistered)
	}
	return m
}

func (m Model) key(k board.Key) (Model, Cmd) {
	if m.confirming {
		switch k {
		case board.KeyOK:
			m.confirming = false
			return m, ConfirmAnswer{OK: true}
		case board.KeyBack:
			m.confirming = false
			return m, ConfirmAnswer{OK: false}
		}
		return m, nil
	}
	switch m.screen {
	case ScreenSignInUser:
		return m.userKey(k), nil
	case ScreenSignInPIN:
		return m.pinKey(k)
	case ScreenError:
		if k == board.KeyOK {
			return m, RetryNow{}
		}
	}
	switch k {
	case board.KeyUp:
		m.top = max(m.top-1, 0)
	case board.KeyDown:
		// The smallest renderer (20×4 with softkeys) shows 2 body rows.
		m.top = max(min(m.top+1, len(m.baseFrame().Lines)-2), 0)
	}
	return m, nil
}

func (m Model) userKey(k board.Key) Model {
	n := len(m.user) // ASCII only: digits and '+'
	switch {
	case k.IsDigit():
		if n < MaxUser {
			m.user += string(rune(k))
		}
	case k == board.KeyStar:
		if n == 0 {
			m.user = "+"
		}
	case k == board.KeyBack:
		if n > 0 {
			m.user = m.user[:n-1]
		}
	case k == board.KeyOK:
		if strings.TrimPrefix(m.user, "+") != "" {
			m.screen = ScreenSignInPIN
			m.clearPIN()
		}
	}
	return m
}

func (m Model) pinKey(k board.Key) (Model, Cmd) {
	switch {
	case k.IsDigit():
		if m.pinLen < MaxPIN {
			m.pin[m.pinLen] = byte(k)
			m.pinLen++
		}
		m.pinShort = false
	case k == board.KeyBack:
		m.pinShort = false
		if m.pinLen == 0 {
			m.screen = ScreenSignInUser
			return m, nil
		}
		m.pinLen--
		m.pin[m.pinLen] = 0
	case k == board.KeyOK:
		if m.pinLen < MinPIN {
			m.pinShort = true
			return m, nil
		}
		cmd := SubmitCredentials{User: m.user, PIN: PIN(m.pin[:m.pinLen])}
		m.enter(ScreenSigningIn)
		m.reason = ""
		return m, cmd
	}
	return m, nil
}

// sanitizeUser keeps what the keypad could have typed: an optional leading
// '+' and digits, at most MaxUser.
func sanitizeUser(s string) string {
	var b strings.Builder
	for i, r := range s {
		if (r >= '0' && r <= '9') || (r == '+' && i == 0) {
			if b.Len() == MaxUser {
				break
			}
			b.WriteRune(r)
		}
	}
	return b.String()
}

// View returns the frame to draw. It never contains the PIN digits.
func (m Model) View() Frame {
	if m.confirming {
		return m.confirmFrame()
	}
	return m.baseFrame()
}

func (m Model) baseFrame() Frame {
	f := Frame{Screen: m.screen, Edit: NoLine, Highlight: NoLine, Progress: NoLine, Top: m.top}
	t := func(id msg, args ...any) string { return text(m.lang, id, args...) }
	progress := func(title, body msg) {
		f.Title = t(title)
		f.Lines = Wrap(t(body), Cols)
		f.Progress = m.progress
	}
	switch m.screen {
	case ScreenBoot:
		progress(msgBootTitle, msgBootBody)
		f.Lines = append(f.Lines, Clip(t(msgFirmware, m.firmware), Cols))
	case ScreenNetwork:
		progress(msgNetworkTitle, msgNetworkBody)
	case ScreenLocating:
		progress(msgLocatingTitle, msgLocatingBody)
	case ScreenSettingTime:
		progress(msgTimeTitle, msgTimeBody)
	case ScreenChain:
		progress(msgChainTitle, msgChainBody)
	case ScreenSigningIn:
		progress(msgSigningInTitle, msgSigningInBody)
	case ScreenSignInUser:
		f.Title = t(msgSignInTitle)
		if m.reason != "" {
			// At most two lines, so that the input stays on the 3-row body.
			cause, _ := Message(m.lang, m.reason)
			f.Lines = Wrap(cause, Cols)
			if len(f.Lines) > 2 {
				f.Lines = []string{f.Lines[0], Clip(strings.Join(f.Lines[1:], " "), Cols)}
			}
		} else {
			f.Lines = Wrap(t(msgUserHint), Cols)
		}
		f.Edit = len(f.Lines)
		f.Lines = append(f.Lines, m.user)
		if m.user != "" {
			f.Softkeys = [2]string{t(keyDelete), t(keyNext)}
		}
	case ScreenSignInPIN:
		f.Title = t(msgSignInTitle)
		if m.pinShort {
			f.Lines = Wrap(t(msgPINTooShort), Cols)
		} else {
			f.Lines = Wrap(t(msgPINFor, m.user), Cols)
		}
		f.Edit = len(f.Lines)
		f.Lines = append(f.Lines, strings.Repeat(Bullet, m.pinLen))
		f.Softkeys = [2]string{t(keyBack), t(keySignIn)}
		if m.pinLen > 0 {
			f.Softkeys[0] = t(keyDelete)
		}
	case ScreenRegistered:
		f.Title = t(msgRegisteredTitle)
		if !m.now.IsZero() {
			f.Status = m.now.Format("15:04")
		}
		ext := ""
		if m.reg.Extension != "" {
			ext = t(msgExtension, m.reg.Extension)
		}
		for _, l := range []string{m.reg.User, ext, m.reg.Registrar} {
			if l != "" {
				f.Lines = append(f.Lines, Clip(l, Cols))
			}
		}
	case ScreenError:
		f.Title = t(msgErrorTitle, m.fail.Code)
		f.Status = countdown(m.retryLeft)
		cause, fix := Message(m.lang, m.fail.Code)
		f.Lines = append(Wrap(cause, Cols), Wrap(fix, Cols)...)
		if m.fail.Attempt > 0 {
			f.Lines = append(f.Lines, t(msgAttempt, m.fail.Attempt))
		}
		f.Softkeys = [2]string{"", t(keyRetry)}
	}
	if m.detail != "" && m.screen.isProgress() {
		f.Lines = append(f.Lines, Clip(m.detail, Cols))
	}
	return f
}

func (m Model) confirmFrame() Frame {
	t := func(id msg, args ...any) string { return text(m.lang, id, args...) }
	action := m.confirm.Action
	if id, ok := actionMsgs[action]; ok {
		action = t(id)
	}
	code := m.confirm.Code
	if len(code) == 6 {
		code = code[:3] + " " + code[3:]
	}
	f := Frame{Screen: ScreenConfirm, Title: t(msgConfirmTitle), Edit: NoLine, Progress: NoLine}
	f.Lines = Wrap(action, Cols)
	f.Highlight = len(f.Lines)
	f.Lines = append(f.Lines, Clip(t(msgConfirmCode, code), Cols))
	f.Lines = append(f.Lines, Wrap(t(msgConfirmHint), Cols)...)
	f.Softkeys = [2]string{t(keyCancel), t(keyOK)}
	return f
}

// countdown formats the time left before a retry: "42s", "4:05", "1h05";
// "" when d is 0.
func countdown(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	s := int((d + time.Second - 1) / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%d:%02d", s/60, s%60)
	}
	return fmt.Sprintf("%dh%02d", s/3600, s/60%60)
}
