package webticket

import "log/slog"

// Secret is a PIN or password. It never prints: String, GoString and
// LogValue return "REDACTED"; Reveal returns the value.
type Secret string

// String implements fmt.Stringer.
func (Secret) String() string { return "REDACTED" }

// GoString implements fmt.GoStringer.
func (Secret) GoString() string { return "REDACTED" }

// LogValue implements slog.LogValuer.
func (Secret) LogValue() slog.Value { return slog.StringValue("REDACTED") }

// Reveal returns the secret itself, for the wire only.
func (s Secret) Reveal() string { return string(s) }
