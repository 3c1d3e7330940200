// Package sip signs the phone in to a Lync / Skype for Business registrar: a TLS
// connection to the registrar, the four-leg TLS-DSK REGISTER handshake of
// [MS-SIPAE], signed messages in both directions, the 301 redirect to the
// user's home pool, failover between registrar candidates, in-band
// provisioning (SUBSCRIBE vnd-microsoft-provisioning-v2), the location
// profile (SERVICE), and the keep-alive / refresh loop.
//
// SIP itself (parser, transactions, transport) is github.com/emiago/sipgo;
// this package dials the TLS connection itself (with the injected resolver
// and TLS configuration) and hands it to sipgo, so that it can watch the
// connection and drop it when a server signature fails.
//
// # References
//
//   - signin-protocols.md §1 (MS-SIPAE), §2 (TLS-DSK, signature buffer), §8.1.
//   - platform-notes.md §3.3 (301 redirect), §3.4 (in-band provisioning, REGISTER).
//   - RFC 3261 §10 (REGISTER), RFC 5626 §3.5.1 (CRLF keep-alive), RFC 3265.
package sip

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/deskphone/deskphone/bootstrap/discover"
	"github.com/deskphone/deskphone/bootstrap/sip/inband"
	"github.com/deskphone/deskphone/bootstrap/sip/sipauth"
)

// Defaults.
const (
	DefaultPort         = 5061
	DefaultExpires      = 3600 * time.Second
	DefaultTimeout      = 10 * time.Second
	DefaultMaxRedirects = 3
	DefaultKeepAlive    = 300 * time.Second
	// SchemeTLSDSK is the only scheme implemented; NTLM fits the authenticator
	// interface later.
	SchemeTLSDSK = "TLS-DSK"
)

// Config configures Register.
type Config struct {
	// SIPURI is the user's address of record, e.g. sip:alice@example.test
	// (from the certificate record).
	SIPURI string
	// Registrars are the candidates in order (discover.Result.Candidates).
	Registrars []discover.Endpoint
	// Certificate is the CertProv client certificate and key, used inside
	// TLS-DSK (not for the TLS transport). Empty means "none yet".
	Certificate tls.Certificate
	// TLSConfig returns the transport trust for a registrar FQDN (RootCAs,
	// hostname verification, SNI). Required; verification is never skipped.
	// Its RootCAs also verify the server certificate inside TLS-DSK.
	TLSConfig func(serverName string) *tls.Config
	// Resolver resolves registrar names (the pool DNS). nil means
	// net.DefaultResolver.
	Resolver *net.Resolver
	// Epid is the persisted endpoint id (10 hex); empty makes a fresh one.
	Epid string
	// UserAgent is the User-Agent header, e.g. "deskphone/1.2.3".
	UserAgent string
	// TLSDSKVersion is the TLS version inside TLS-DSK (default TLS 1.0).
	TLSDSKVersion uint16
	// Expires is the registration lifetime asked for (default 1 h).
	Expires time.Duration
	// Timeout bounds each SIP transaction and the TLS connect (default 10 s).
	Timeout time.Duration
	// MaxRedirects bounds the 301s followed (default 3).
	MaxRedirects int
	// Now is the clock for certificate checks (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger

	// noPiggyback turns off ms-piggyback-first-notify (tests of the NOTIFY path).
	noPiggyback bool
}

// Info describes an established registration.
type Info struct {
	SIPURI    string
	Registrar discover.Endpoint
	Auth      string // "TLS-DSK"
	GRUU      string
	Expires   time.Duration
	KeepAlive time.Duration
	Redirects int
	// Provisioning is the in-band provisioning answer; nil if it failed
	// (ProvisioningErr says why; registration still stands).
	Provisioning    *inband.Settings
	LocationProfile *inband.LocationProfile
	ProvisioningErr error
	// Legs is the number of REGISTERs of the last handshake (4 for TLS-DSK).
	Legs int
	// CertNotAfter is the expiry of the client certificate used.
	CertNotAfter time.Time
	// RegisterTime is the time from Register's start to the 200 OK (all
	// attempts and redirects); ProvisioningTime covers SUBSCRIBE + SERVICE.
	RegisterTime     time.Duration
	ProvisioningTime time.Duration
}

// Errors. Register and Run return *failure.Error values wrapping these, so
// errors.Is and errors.As see through both.
var (
	// ErrNeedCertificate means we have no usable client certificate or the
	// registrar refused it; errors.As with *NeedCertificateError gives the
	// sts-uri (the CertProv URL) to get a new one.
	ErrNeedCertificate = errors.New("sip: registrar needs a new client certificate")
	ErrNoScheme        = errors.New("sip: no usable authentication scheme offered")
	ErrBadSignature    = errors.New("sip: server signature did not verify")
	ErrTimeout         = errors.New("sip: registrar did not answer")
	ErrRedirectLoop    = errors.New("sip: too many redirects")
	ErrLost            = errors.New("sip: registration lost")
	ErrUnsigned        = errors.New("sip: unsigned response ignored")
)

// NeedCertificateError carries the sts-uri of the TLS-DSK challenge.
type NeedCertificateError struct {
	STSURI string
	Reason string
}

func (e *NeedCertificateError) Error() string {
	return fmt.Sprintf("sip: registrar needs a new client certificate (%s); sts-uri %q", e.Reason, e.STSURI)
}

// Is makes errors.Is(err, ErrNeedCertificate) true.
func (e *NeedCertificateError) Is(target error) bool { return target == ErrNeedCertificate }

// RetryAfterError is a 503 with Retry-After: do not try again before After.
type RetryAfterError struct {
	After time.Duration
	Err   error
}

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("%v (retry after %s)", e.Err, e.After)
}

// Unwrap returns the cause.
func (e *RetryAfterError) Unwrap() error { return e.Err }

// StatusError is an unexpected final response.
type StatusError struct {
	Code        int
	Reason      string
	Diagnostics *sipauth.Diagnostics // ms-diagnostics, when present
}

func (e *StatusError) Error() string {
	if e.Diagnostics != nil {
		return fmt.Sprintf("sip: %d %s (ms-diagnostics %d %q)", e.Code, e.Reason, e.Diagnostics.Code, e.Diagnostics.Reason)
	}
	return fmt.Sprintf("sip: %d %s", e.Code, e.Reason)
}

func (c *Config) defaults() error {
	if c.SIPURI == "" {
		return errors.New("sip: config: no SIP URI")
	}
	if len(c.Registrars) == 0 {
		return errors.New("sip: config: no registrar")
	}
	if c.TLSConfig == nil {
		return errors.New("sip: config: no TLS configuration")
	}
	if c.Resolver == nil {
		c.Resolver = net.DefaultResolver
	}
	if c.UserAgent == "" {
		c.UserAgent = "deskphone"
	}
	if c.TLSDSKVersion == 0 {
		c.TLSDSKVersion = tls.VersionTLS10
	}
	if c.Expires <= 0 {
		c.Expires = DefaultExpires
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxRedirects <= 0 {
		c.MaxRedirects = DefaultMaxRedirects
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.Logger = c.Logger.With("component", "sip")
	return nil
}
