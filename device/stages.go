package device

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"time"

	"github.com/deskphone/deskphone/bootstrap/discover"
	"github.com/deskphone/deskphone/bootstrap/failure"
	"github.com/deskphone/deskphone/bootstrap/ntp"
	"github.com/deskphone/deskphone/certstore"
)

// The sign-in stages, as the agent sees them. Each is implemented by a
// bootstrap package (see wire.go); tests use fakes. A stage returns a
// *failure.Error (or an error wrapping one) so that the LCD can say what went
// wrong.

// NetworkStage brings the link up and waits for an address.
type NetworkStage interface {
	Up(ctx context.Context) error
}

// DiscoverStage finds the registrar and CertProv URL.
type DiscoverStage interface {
	Discover(ctx context.Context, cached *discover.Endpoint) (discover.Result, error)
}

// TimeStage sets the clock.
type TimeStage interface {
	Sync(ctx context.Context, d discover.Result) (ntp.Result, error)
}

// ChainStage downloads and verifies the web services chain.
type ChainStage interface {
	Establish(ctx context.Context, d discover.Result, trust *certstore.Trust) (*certstore.Trust, error)
}

// EnrollRequest is what enrolment needs: where, whom to trust, who, and the
// key (generated ahead of time).
type EnrollRequest struct {
	Discovery discover.Result
	Trust     *certstore.Trust
	User      string
	PIN       Secret
	// Key returns the enrolment key, waiting for its generation; the stage
	// calls it only when it needs the key (the CSR), after the web ticket.
	Key      func(ctx context.Context) (crypto.Signer, error)
	DeviceID string
}

// Enrollment is the result of a PIN sign-in to CertProv.
type Enrollment struct {
	Cert   *x509.Certificate
	Chain  []*x509.Certificate
	SIPURI string
	Pool   string
	// Phases holds the durations of the sub-steps (webticket, certprov).
	Phases []Phase
}

// EnrollStage exchanges extension/number + PIN for a certificate (web ticket
// by PIN, CSR, GetAndPublishCert).
type EnrollStage interface {
	Enroll(ctx context.Context, req EnrollRequest) (*Enrollment, error)
}

// RegisterRequest is what SIP sign-in needs.
type RegisterRequest struct {
	Discovery discover.Result
	Trust     *certstore.Trust
	Record    *certstore.Record
	Epid      string
}

// SessionInfo describes a registration.
type SessionInfo struct {
	SIPURI    string
	Registrar string // host:port actually registered with
	Auth      string // "TLS-DSK"
	Expires   time.Duration
	// Provisioning holds in-band settings (name → value); nil if none came.
	Provisioning map[string]string
	// Phases holds the durations of register and provisioning.
	Phases []Phase
}

// Session is a live registration.
type Session interface {
	Info() SessionInfo
	// Run keeps the registration alive until ctx ends or it is lost.
	Run(ctx context.Context) error
	Close() error
}

// RegisterStage signs in to the registrar.
type RegisterStage interface {
	Register(ctx context.Context, req RegisterRequest) (Session, error)
}

// ErrNeedCertificate is returned (wrapped) by a RegisterStage when the
// registrar refuses the stored certificate; the agent then enrols again.
var ErrNeedCertificate = errors.New("device: registrar wants a new certificate")

// RenewRequest is what a renewal without the PIN needs: the current
// certificate authenticates to the pool, a new key gets the new certificate.
type RenewRequest struct {
	Discovery discover.Result
	Trust     *certstore.Trust
	Record    *certstore.Record
	NewKey    crypto.Signer
}

// RenewStage renews the certificate with the current one (WebTicketServiceCert).
// A failure.CredentialsNeeded error means the pool wants the PIN.
type RenewStage interface {
	Renew(ctx context.Context, req RenewRequest) (*Enrollment, error)
}

// Stages bundles the stage implementations. A nil stage reports "not
// implemented" honestly.
type Stages struct {
	Network  NetworkStage
	Discover DiscoverStage
	Time     TimeStage
	Chain    ChainStage
	Enroll   EnrollStage
	Register RegisterStage
	Renew    RenewStage
}

// Secret is a PIN or password: it never prints.
type Secret string

// LogValue implements slog.LogValuer.
func (Secret) LogValue() slogValue { return redacted }

// String implements fmt.Stringer.
func (Secret) String() string { return "REDACTED" }

// Reveal returns the secret itself, for the one place that sends it.
func (s Secret) Reveal() string { return string(s) }

func notImplemented(stage string) error {
	return failure.Errorf(stage, failure.NotImplemented, "stage %s is not built into this firmware", stage)
}

// Phase is one timed step of sign-in (phonesim --json "phases").
type Phase struct {
	Name string  `json:"name"`
	MS   float64 `json:"ms"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
