package tether

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/deskphone/deskphone/device/tether/wire"
)

// Status is the device state shown by `tether status` (JSON: the
// cli-contract fields).
type Status = wire.Status

// ErrorInfo is a user-safe stage failure: stage, code (E5xx…), cause and fix.
type ErrorInfo = wire.ErrorInfo

// Hello identifies the device. Info.Hello fills Model, Firmware, Serial and
// DeviceID; the server fills Version, Capabilities and MaxPayload.
type Hello = wire.Hello

// RootInfo describes one trusted root certificate.
type RootInfo = wire.RootInfo

// ErrInvalid is returned (wrapped) by Device methods for a bad argument (an
// unknown key, a malformed certificate, an unknown fingerprint); the host
// sees a bad-request error.
var ErrInvalid = errors.New("tether: invalid argument")

// Secret is a PIN. It never prints: String, GoString, Format and LogValue
// give "REDACTED" and MarshalJSON gives "\"REDACTED\""; Reveal returns the
// value.
type Secret string

// String implements fmt.Stringer.
func (Secret) String() string { return "REDACTED" }

// GoString implements fmt.GoStringer.
func (Secret) GoString() string { return "REDACTED" }

// Format implements fmt.Formatter, so no verb reveals the value.
func (Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte("REDACTED")) }

// LogValue implements slog.LogValuer.
func (Secret) LogValue() slog.Value { return slog.StringValue("REDACTED") }

// MarshalJSON implements json.Marshaler.
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"REDACTED"`), nil }

// Reveal returns the secret itself, for the sign-in flow only.
func (s Secret) Reveal() string { return string(s) }

// Info is the read-only view of the device.
type Info interface {
	// Hello returns the model, firmware, serial number and device ID.
	Hello() Hello
	// Status returns the current state.
	Status() Status
	// Logs calls fn with each line of the log ring buffer, oldest first,
	// then, if follow, with each new line until ctx is done. It returns
	// fn's first error, or ctx.Err() when following ends.
	Logs(ctx context.Context, follow bool, fn func(line string) error) error
	// Diag runs the diagnostic stages and calls fn with each stage report
	// (the `phoned diag` JSON object) as it completes.
	Diag(ctx context.Context, fn func(report json.RawMessage) error) error
}

// Config reads and overrides configuration keys (wire.ConfigKeys) at the
// "tether override" precedence level.
type Config interface {
	// ConfigGet returns the value of key, or of every key for "".
	ConfigGet(key string) (map[string]string, error)
	// ConfigSet sets key; it returns an ErrInvalid error for a bad value.
	ConfigSet(key, value string) error
}

// Trust manages the site root certificates.
type Trust interface {
	// Roots lists the bundled and site roots.
	Roots() ([]RootInfo, error)
	// AddRoot adds a site root (one DER certificate).
	AddRoot(der []byte) error
	// RemoveRoot removes a site root by SHA-256 fingerprint (lowercase hex).
	RemoveRoot(fingerprint string) error
}

// Identity drives sign-in and the phone's certificate.
type Identity interface {
	// SignIn runs the normal PIN sign-in flow for user (extension or
	// phone number); it returns when signed in or failed (a
	// *failure.Error for a stage failure). pin must never be logged.
	SignIn(ctx context.Context, user string, pin Secret) error
	// CSR makes a PKCS#10 request (fresh key pair, kept pending until
	// InstallCert) for user (the sign-in address, user@domain; "" = the
	// current identity) and returns its DER and the SIP URI it is for.
	CSR(ctx context.Context, user string) (csrDER []byte, sipURI string, err error)
	// InstallCert installs the certificate issued for the pending CSR with
	// its chain, then signs in with it.
	InstallCert(ctx context.Context, certDER []byte, chainDER [][]byte) error
	// Reset forgets the identity (certificate, key, sign-in) and the
	// tether overrides.
	Reset(ctx context.Context) error
	// Reboot schedules a reboot; it must return before rebooting so that
	// the answer reaches the host.
	Reboot(ctx context.Context) error
}

// Confirmer asks the user of the phone to approve an action.
type Confirmer interface {
	// Confirm shows the confirmation screen for action with the 6-digit
	// code and returns true when the user pressed OK, false when the user
	// pressed Back. It returns ctx.Err() when ctx ends first.
	Confirm(ctx context.Context, action, code string) (bool, error)
}

// Watcher is optional: it reports state changes, which the server pushes to
// the host as state events.
type Watcher interface {
	// WatchStatus calls fn with each new Status until ctx is done.
	WatchStatus(ctx context.Context, fn func(Status)) error
}

// Device bundles what the server needs from the agent. A nil interface
// disables its commands (the host gets an unsupported error, and the hello
// capabilities omit them). Commands needing confirmation are refused when
// Confirmer is nil.
type Device struct {
	Info
	Config
	Trust
	Identity
	Confirmer
	Watcher
}

// Actions named in Confirmer.Confirm and confirm events.
const (
	ActionRootsAdd    = "roots-add"
	ActionRootsRemove = "roots-remove"
	ActionInstallCert = "install-cert"
	ActionReset       = "reset"
	// ActionConfigSet is followed by ":" and the key, e.g.
	// "config-set:registrar".
	ActionConfigSet = "config-set"
)
