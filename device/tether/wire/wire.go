// Package wire holds the message envelope and the JSON bodies of the
// deskphone tether protocol v1 (docs/tether-protocol.md), shared by the
// device-side server (device/tether) and the host client
// (tools/tetherclient). Frames carry one Message each (device/tether/frame).
package wire

import (
	"encoding/json"
	"fmt"
)

// Version is the protocol version this package speaks.
const Version = 1

// Message types.
const (
	TypeReq   = "req"
	TypeResp  = "resp"
	TypeEvent = "event"
	TypeError = "error"
)

// Commands (Message.Cmd of requests and their responses).
const (
	CmdHello       = "hello"
	CmdCancel      = "cancel"
	CmdStatus      = "status"
	CmdLogs        = "logs"
	CmdConfigGet   = "config-get"
	CmdConfigSet   = "config-set"
	CmdRootsList   = "roots-list"
	CmdRootsAdd    = "roots-add"
	CmdRootsRemove = "roots-remove"
	CmdSignIn      = "signin"
	CmdCSR         = "csr"
	CmdInstallCert = "install-cert"
	CmdDiag        = "diag"
	CmdReset       = "reset"
	CmdReboot      = "reboot"
)

// Events (Message.Cmd of events).
const (
	// EventConfirm carries a Confirm body: the phone now shows the code and
	// waits for OK.
	EventConfirm = "confirm"
	// EventLog carries a LogLine (logs command).
	EventLog = "log"
	// EventDiag carries one stage report (diag command), raw JSON.
	EventDiag = "diag"
	// EventState carries a Status; sent with id 0 when the device state
	// changes.
	EventState = "state"
)

// Error codes (Error.Code).
const (
	ErrBadFrame            = "bad-frame"
	ErrBadCRC              = "bad-crc"
	ErrTooLarge            = "too-large"
	ErrBadMessage          = "bad-message"
	ErrUnsupportedVersion  = "unsupported-version"
	ErrUnknownCommand      = "unknown-command"
	ErrUnsupported         = "unsupported"
	ErrBadRequest          = "bad-request"
	ErrBusy                = "busy"
	ErrConfirmationDenied  = "confirmation-denied"
	ErrConfirmationTimeout = "confirmation-timeout"
	ErrRateLimited         = "rate-limited"
	ErrCanceled            = "canceled"
	ErrTimeout             = "timeout"
	ErrFailed              = "failed"
	ErrInternal            = "internal"
)

// Message is the envelope of every frame.
type Message struct {
	V    int             `json:"v"`
	ID   uint64          `json:"id"`
	Type string          `json:"type"`
	Cmd  string          `json:"cmd,omitempty"`
	Body json.RawMessage `json:"body,omitempty"`
}

// Error is the body of an error message.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message,omitempty"`
	// RetryAfterMS is set with rate-limited: milliseconds until the lockout
	// ends.
	RetryAfterMS int64 `json:"retry_after_ms,omitempty"`
	// Failure is set with failed when the device reported a stage failure.
	Failure *ErrorInfo `json:"failure,omitempty"`
}

// Error implements error.
func (e *Error) Error() string {
	if e.Message == "" {
		return "tether: " + e.Code
	}
	return fmt.Sprintf("tether: %s: %s", e.Code, e.Message)
}

// HelloReq is the body of a hello request.
type HelloReq struct {
	Versions []int  `json:"versions"`
	Client   string `json:"client,omitempty"`
}

// Hello is the body of the hello response: who the device is and what it
// can do.
type Hello struct {
	Version      int      `json:"version"`
	Model        string   `json:"model"`
	Firmware     string   `json:"firmware"`
	Serial       string   `json:"serial"`
	DeviceID     string   `json:"device_id,omitempty"`
	Capabilities []string `json:"capabilities"`
	MaxPayload   int      `json:"max_payload"`
}

// ErrorInfo is a user-safe stage failure (bootstrap/failure vocabulary).
type ErrorInfo struct {
	Stage string `json:"stage"`
	Code  string `json:"code"`
	Cause string `json:"cause"`
	Fix   string `json:"fix"`
}

// Status is the body of the status response and of state events; its JSON
// is the `tether status --json` contract.
type Status struct {
	State        string     `json:"state"`
	SIPURI       string     `json:"sip_uri"`
	Registrar    string     `json:"registrar"`
	CertNotAfter string     `json:"cert_not_after"`
	Firmware     string     `json:"firmware"`
	LastError    *ErrorInfo `json:"last_error"`
}

// RootInfo describes one trusted root certificate.
type RootInfo struct {
	// Fingerprint is the lowercase hex SHA-256 of the DER certificate.
	Fingerprint string `json:"fingerprint"`
	Subject     string `json:"subject"`
	NotAfter    string `json:"not_after"`
	// Source is "bundled" (shipped with the firmware) or "site" (added).
	Source string `json:"source"`
}

// Confirm is the body of a confirm event.
type Confirm struct {
	Action    string `json:"action"`
	Code      string `json:"code"`
	TimeoutMS int64  `json:"timeout_ms"`
}

// CancelReq is the body of a cancel request.
type CancelReq struct {
	Target uint64 `json:"target"`
}

// LogsReq is the body of a logs request.
type LogsReq struct {
	Follow bool `json:"follow"`
}

// LogLine is the body of a log event.
type LogLine struct {
	Line string `json:"line"`
}

// ConfigGetReq is the body of a config-get request; an empty Key means all.
type ConfigGetReq struct {
	Key string `json:"key,omitempty"`
}

// ConfigGetResp is the body of a config-get response.
type ConfigGetResp struct {
	Values map[string]string `json:"values"`
}

// ConfigSetReq is the body of a config-set request.
type ConfigSetReq struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// RootsResp is the body of a roots-list response.
type RootsResp struct {
	Roots []RootInfo `json:"roots"`
}

// RootAddReq is the body of a roots-add request (encoding/json base64).
type RootAddReq struct {
	DER []byte `json:"der"`
}

// RootRemoveReq is the body of a roots-remove request.
type RootRemoveReq struct {
	Fingerprint string `json:"fingerprint"`
}

// SignInReq is the body of a signin request. The PIN travels in the clear
// on the USB cable; the device never logs or echoes it.
type SignInReq struct {
	User string `json:"user"`
	PIN  string `json:"pin"`
}

// CSRReq is the body of a csr request: User is the sign-in address the
// certificate is for ("" = the phone's current identity).
type CSRReq struct {
	User string `json:"user,omitempty"`
}

// CSRResp is the body of a csr response.
type CSRResp struct {
	CSR    []byte `json:"csr"`
	SIPURI string `json:"sip_uri"`
}

// InstallCertReq is the body of an install-cert request.
type InstallCertReq struct {
	Cert  []byte   `json:"cert"`
	Chain [][]byte `json:"chain,omitempty"`
}

// ConfigKeys are the configuration keys the tether may read and write.
var ConfigKeys = []string{"registrar", "certprov_url", "sip_domain", "trusted_domains", "ntp_servers", "language"}

// ConfirmedKeys are the configuration keys whose change needs confirmation
// on the phone (they widen or move trust).
var ConfirmedKeys = []string{"registrar", "certprov_url", "trusted_domains"}
