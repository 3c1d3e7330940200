package device

import (
	"context"
	"reflect"
	"strings"
	"time"

	"github.com/deskphone/deskphone/bootstrap/failure"
	"github.com/deskphone/deskphone/ui"
	"github.com/deskphone/deskphone/ui/pixel"
	"github.com/deskphone/deskphone/ui/text"
)

// uiDriver owns the ui.Model: it feeds it agent events, key presses and
// ticks, renders each new frame to the board's display, and hands the
// model's commands back to the agent. One goroutine; the model stays pure.
type uiDriver struct {
	a       *Agent
	events  chan ui.Event
	confirm chan bool
}

func newUIDriver(a *Agent) *uiDriver {
	return &uiDriver{a: a, events: make(chan ui.Event, 256), confirm: make(chan bool, 1)}
}

func (u *uiDriver) send(ev ui.Event) {
	select {
	case u.events <- ev:
	default:
		// The UI goroutine is gone or stuck; never block the agent on the LCD.
		u.a.log.Debug("ui event dropped")
	}
}

var stateScreens = map[State]ui.Screen{
	Boot: ui.ScreenBoot, Network: ui.ScreenNetwork, Discovering: ui.ScreenLocating,
	TimeSync: ui.ScreenSettingTime, ChainTrust: ui.ScreenChain,
	Provisioning: ui.ScreenSigningIn, Registering: ui.ScreenSigningIn,
}

func (u *uiDriver) state(s State) {
	if sc, ok := stateScreens[s]; ok {
		p := -1
		switch s {
		case Provisioning:
			p = 30
		case Registering:
			p = 70
		}
		u.send(ui.Show{Screen: sc, Progress: p})
	}
}

func (u *uiDriver) boot() {}
func (u *uiDriver) signingIn(progress int) {
	u.send(ui.Show{Screen: ui.ScreenSigningIn, Progress: progress})
}

func (u *uiDriver) askCredentials(user string, reason failure.Code) {
	u.send(ui.AskCredentials{User: user, Reason: reason})
}

func (u *uiDriver) failure(fe *failure.Error, retry bool) {
	if !retry {
		u.send(ui.Failure{Stage: fe.Stage, Code: fe.Code})
	}
}

func (u *uiDriver) retrying(fe *failure.Error, d time.Duration, attempt int) {
	u.send(ui.Failure{Stage: fe.Stage, Code: fe.Code, RetryIn: d, Attempt: attempt})
}

func (u *uiDriver) registered(info SessionInfo) {
	user := strings.TrimPrefix(info.SIPURI, "sip:")
	u.send(ui.Registered{User: user, Extension: u.a.lastUser(), Registrar: info.Registrar})
}

func (u *uiDriver) run(ctx context.Context) error {
	cfg := u.a.Config()
	lang, err := ui.ParseLang(cfg.Language)
	if err != nil {
		lang = ui.EN
	}
	m := ui.New(lang, u.a.opts.Version)
	var keys <-chan boardKeyEvent
	if u.a.b.Keypad != nil {
		keys = u.a.b.Keypad.Events()
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var last ui.Frame
	drawn := false
	for {
		var cmd ui.Cmd
		select {
		case <-ctx.Done():
			return nil
		case ev := <-u.events:
			m, cmd = m.Update(ev)
		case k, ok := <-keys:
			if !ok {
				keys = nil
				continue
			}
			if !k.Down {
				continue
			}
			m, cmd = m.Update(ui.Key{Key: k.Key})
		case now := <-tick.C:
			_ = now
			m, cmd = m.Update(ui.Tick{Now: u.a.b.Clock.Now()})
		}
		u.handle(cmd)
		f := m.View()
		if drawn && reflect.DeepEqual(f, last) {
			continue
		}
		last, drawn = f, true
		u.draw(f)
	}
}

func (u *uiDriver) handle(cmd ui.Cmd) {
	switch c := cmd.(type) {
	case ui.SubmitCredentials:
		u.a.SubmitCredentials(c.User, Secret(c.PIN.Reveal()))
	case ui.ConfirmAnswer:
		select {
		case u.confirm <- c.OK:
		default:
		}
	case ui.RetryNow:
		u.a.RetryNow()
	}
}

func (u *uiDriver) draw(f ui.Frame) {
	d := u.a.b.Display
	switch {
	case d.Pixel != nil:
		if err := pixel.Draw(d.Pixel, pixel.Render(f)); err != nil {
			u.a.log.Debug("lcd draw failed", "err", err)
		}
	case d.Text != nil:
		if err := text.Write(d.Text, text.Render(f)); err != nil {
			u.a.log.Debug("lcd write failed", "err", err)
		}
	}
	if u.a.opts.OnFrame != nil {
		u.a.opts.OnFrame(f)
	}
}

// Confirm shows the tether confirmation screen with code and waits for the
// user's answer (true = OK pressed).
func (a *Agent) Confirm(ctx context.Context, action, code string) (bool, error) {
	select {
	case <-a.ui.confirm:
	default:
	}
	a.ui.send(ui.Confirm{Action: action, Code: code})
	defer a.ui.send(ui.ConfirmDone{})
	select {
	case <-ctx.Done():
		return false, ctx.Err()
	case ok := <-a.ui.confirm:
		return ok, nil
	}
}
