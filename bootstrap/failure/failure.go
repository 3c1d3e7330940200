// Package failure is the user-safe error vocabulary of the sign-in stages.
//
// A stage that fails in a way the phone's user or a field technician should
// see returns (or wraps) an *Error carrying a Code. The LCD text for a code
// (a short cause and a fix, in en/fr/de) comes from the ui message catalog,
// never from err.Error(); the full detail (Err) goes to logs and diag --json.
// The vocabulary follows the Lync Phone Edition failure table
// (platform-notes.md §4.5).
package failure

import (
	"errors"
	"fmt"
)

// Code identifies a user-visible failure. The string form ("E201") is what
// the LCD, diag --json and the tether show.
type Code string

// Stage names, as used in diag and the phonesim JSON report.
const (
	StageNetwork      = "network"
	StageDiscover     = "discover"
	StageTime         = "time"
	StageChain        = "chain"
	StageTicket       = "ticket"
	StageCert         = "cert"
	StageRegister     = "register"
	StageProvisioning = "provisioning"
	StageTether       = "tether"
	StageDevice       = "device"
)

// The codes. Keep them stable: field techs read them out over the phone.
const (
	// Network (1xx).
	NetworkDown  Code = "E101" // no link or no IPv4 address
	DHCPNoAnswer Code = "E102" // DHCPINFORM got no answer

	// Discovery (2xx).
	CertServiceNotFound Code = "E201" // "Unable to locate the certificate web service"
	Opt43Truncated      Code = "E202" // option 43 cut short (Cisco 180-hex-digit limit)
	Opt120Invalid       Code = "E203" // option 120 malformed or an IP list only
	RegistrarNotFound   Code = "E204" // no registrar from DHCP, DNS or config
	UntrustedDomain     Code = "E205" // SRV/A target outside the SIP domain (CU7 strict rule)
	DNSFailed           Code = "E206" // resolver unreachable / SERVFAIL

	// Time (3xx).
	TimeNotSet   Code = "E301" // no NTP answer and no plausible restored time
	NTPBadAnswer Code = "E302" // kiss-of-death, stratum 0/16, absurd root distance

	// Certificate chain (4xx).
	ChainDownload  Code = "E401" // "Error downloading certificate chain from OCS Registrar"
	ChainUntrusted Code = "E402" // "cannot verify the web services certificate"

	// Web ticket / PIN (5xx).
	TicketUnavailable Code = "E501" // web ticket service down / no response
	PINInvalid        Code = "E502" // wrong extension or PIN
	PINLocked         Code = "E503" // "Account locked — contact your administrator"
	CredentialsNeeded Code = "E504" // the pool wants the PIN again

	// Certificate provisioning (6xx).
	CertPublishFailed Code = "E601" // "data store unavailable": GetAndPublishCert ErrorInfo
	CertRejected      Code = "E602" // certificate does not match key / expired / wrong issuer
	CertServiceError  Code = "E603" // malformed or failed CertProv answer
	StorageFailed     Code = "E604" // flash write failed

	// Registration (7xx).
	RegistrarUnreachable Code = "E701" // "Unable to contact Registrar for authentication"
	HandshakeFailed      Code = "E702" // ms-diagnostics 1000 "Final handshake failed"
	AuthRejected         Code = "E703" // no usable auth scheme / certificate refused or revoked
	BadSignature         Code = "E704" // server signature (rspauth) did not verify
	RedirectLoop         Code = "E705" // too many 301 redirects
	RegistrarBusy        Code = "E706" // 503 from every registrar

	// Provisioning (8xx).
	ProvisioningFailed Code = "E801" // in-band provisioning unusable

	// Device (9xx).
	NotImplemented Code = "E901" // stage not built in this firmware
	Internal       Code = "E902" // unexpected internal error
)

// Error is a user-safe stage failure: a Code for the LCD, the stage, and the
// full cause for logs and diag.
type Error struct {
	Stage string
	Code  Code
	Err   error
}

// New returns an *Error for stage with code, wrapping err.
func New(stage string, code Code, err error) *Error {
	return &Error{Stage: stage, Code: code, Err: err}
}

// Errorf is New with a formatted cause; %w wraps as with fmt.Errorf.
func Errorf(stage string, code Code, format string, args ...any) *Error {
	return &Error{Stage: stage, Code: code, Err: fmt.Errorf(format, args...)}
}

func (e *Error) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("%s: %s", e.Stage, e.Code)
	}
	return fmt.Sprintf("%s: %s: %v", e.Stage, e.Code, e.Err)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Detail returns the cause text ("" if none), for diag and logs.
func (e *Error) Detail() string {
	if e.Err == nil {
		return ""
	}
	return e.Err.Error()
}

// As returns the first *Error in err's chain, or nil.
func As(err error) *Error {
	var fe *Error
	if errors.As(err, &fe) {
		return fe
	}
	return nil
}

// CodeOf returns the code of err, or Internal for an error without one, or
// "" for nil.
func CodeOf(err error) Code {
	if err == nil {
		return ""
	}
	if fe := As(err); fe != nil {
		return fe.Code
	}
	return Internal
}

// Retryable reports whether retrying (with backoff) may succeed without a
// change by the user. PIN problems and lockouts are not retried automatically.
func Retryable(c Code) bool {
	switch c {
	case PINInvalid, PINLocked, CredentialsNeeded, NotImplemented:
		return false
	}
	return true
}
