package ui

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/deskphone/deskphone/board"
	"github.com/deskphone/deskphone/bootstrap/failure"
)

// Event is an input to Model.Update. The set is closed: only the types in
// this package implement it.
type Event interface{ isEvent() }

// Show switches to a progress screen (ScreenBoot, ScreenNetwork,
// ScreenLocating, ScreenSettingTime, ScreenChain, ScreenSigningIn).
// Show{ScreenSignInUser} or Show{ScreenSignInPIN} behaves like
// AskCredentials with the last user; Show{ScreenRegistered} shows the last
// Registered data again. Show{ScreenError} and Show{ScreenConfirm} are
// ignored: use Failure and Confirm, which carry the data.
type Show struct {
	Screen   Screen
	Progress int    // 0..100, or -1 for no progress bar
	Detail   string // e.g. a server name; never a secret
}

// Key is one key press from the keypad.
type Key struct{ Key board.Key }

// Failure shows the error screen for a stage failure. RetryIn > 0 shows a
// countdown to the agent's automatic retry (driven by Tick).
type Failure struct {
	Stage   string
	Code    failure.Code
	RetryIn time.Duration
	Attempt int
}

// AskCredentials starts sign-in: the phone-number/extension entry, prefilled
// with User. Reason ("" or a code such as failure.PINInvalid) is shown above
// the prompt.
type AskCredentials struct {
	User   string
	Reason failure.Code
}

// Registered shows the idle screen.
type Registered struct {
	User      string // SIP URI or display name
	Extension string
	Registrar string
}

// Tick gives the model the wall-clock time (clock on the idle screen, retry
// countdown). Send one about every second.
type Tick struct{ Now time.Time }

// Confirm shows the tether confirmation overlay: Action (one of the Action
// constants, or free text shown as is) and a short Code that the technician
// compares with the one the tether CLI prints.
type Confirm struct {
	Action string
	Code   string
}

// ConfirmDone removes the confirmation overlay (answered elsewhere or timed
// out).
type ConfirmDone struct{}

// SetLang switches the language; an unsupported Lang is ignored.
type SetLang struct{ Lang Lang }

func (Show) isEvent()           {}
func (Key) isEvent()            {}
func (Failure) isEvent()        {}
func (AskCredentials) isEvent() {}
func (Registered) isEvent()     {}
func (Tick) isEvent()           {}
func (Confirm) isEvent()        {}
func (ConfirmDone) isEvent()    {}
func (SetLang) isEvent()        {}

// Cmd is an action the model asks the agent to perform. Update returns nil
// or one of the types in this package.
type Cmd interface{ isCmd() }

// SubmitCredentials asks the agent to sign in with User and PIN. The model
// has already forgotten the PIN when it returns this.
type SubmitCredentials struct {
	User string
	PIN  PIN
}

// ConfirmAnswer is the user's answer on the confirmation overlay.
type ConfirmAnswer struct{ OK bool }

// RetryNow asks the agent to retry the failed stage now (OK on the error
// screen).
type RetryNow struct{}

func (SubmitCredentials) isCmd() {}
func (ConfirmAnswer) isCmd()     {}
func (RetryNow) isCmd()          {}

// PIN is a secret PIN. Every formatting path (fmt verbs, slog, JSON/text
// marshalling) prints "REDACTED"; use Reveal for the raw digits.
type PIN string

const redacted = "REDACTED"

// Reveal returns the raw PIN. Call it only where the PIN is sent to the
// web-ticket service.
func (p PIN) Reveal() string { return string(p) }

// String returns "REDACTED".
func (PIN) String() string { return redacted }

// GoString returns "REDACTED" (for %#v).
func (PIN) GoString() string { return redacted }

// Format writes "REDACTED" for every verb, so that no fmt verb (%d, %x…)
// can print the digits.
func (PIN) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// LogValue implements slog.LogValuer: the PIN logs as "REDACTED".
func (PIN) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText returns "REDACTED", so JSON and text encoders never see the PIN.
func (PIN) MarshalText() ([]byte, error) { return []byte(redacted), nil }

var (
	_ slog.LogValuer = PIN("")
	_ fmt.Formatter  = PIN("")
)
