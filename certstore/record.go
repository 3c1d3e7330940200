package certstore

import (
	"bytes"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"
)

// Errors of Record.Check and of record decoding.
var (
	ErrNoCertificate = errors.New("certstore: no certificate")
	ErrNoKey         = errors.New("certstore: no private key")
	ErrKeyMismatch   = errors.New("certstore: private key does not match certificate")
	ErrExpired       = errors.New("certstore: certificate expired")
	ErrNotYetValid   = errors.New("certstore: certificate not yet valid")
	ErrExpiringSoon  = errors.New("certstore: certificate expires too soon")
	ErrBadRecord     = errors.New("certstore: malformed record")
)

// recordVersion is the current Record encoding version.
const recordVersion = 1

// maxChain bounds the issuing chain kept with a record.
const maxChain = 8

// Record is the phone's sign-in identity: the key pair, the certificate
// CertProv issued for it and who it belongs to.
type Record struct {
	// Key is the private key of Cert (RSA 2048 for TLS-DSK); stored as
	// PKCS#8 and never exported in any other form.
	Key crypto.Signer
	// Cert is the certificate CertProv issued (may be nil while only a
	// PendingKey exists).
	Cert *x509.Certificate
	// Chain is the issuing chain from CertProv (may be empty).
	Chain []*x509.Certificate
	// SIPURI, DeviceID, Epid and Pool identify the sign-in.
	SIPURI, DeviceID, Epid, Pool string
	// NotAfter is the certificate's expiry as recorded at enrolment.
	NotAfter time.Time
	// PendingKey is a pre-generated key for the next enrolment (may be nil).
	// A record may hold only a PendingKey, so that a key generated before
	// the PIN was typed survives a reboot.
	PendingKey crypto.Signer
}

// recordJSON is the version 1 encoding of a Record.
type recordJSON struct {
	Version    int       `json:"version"`
	Key        []byte    `json:"key,omitempty"`
	Cert       []byte    `json:"cert,omitempty"`
	Chain      [][]byte  `json:"chain,omitempty"`
	SIPURI     string    `json:"sip_uri,omitempty"`
	DeviceID   string    `json:"device_id,omitempty"`
	Epid       string    `json:"epid,omitempty"`
	Pool       string    `json:"pool,omitempty"`
	NotAfter   time.Time `json:"not_after,omitzero"`
	PendingKey []byte    `json:"pending_key,omitempty"`
}

func (r *Record) validate() error {
	switch {
	case r.Key == nil && r.PendingKey == nil:
		return fmt.Errorf("%w: neither key nor pending key", ErrBadRecord)
	case r.Cert != nil && r.Key == nil:
		return fmt.Errorf("%w: certificate without key", ErrBadRecord)
	case r.Cert == nil && len(r.Chain) > 0:
		return fmt.Errorf("%w: chain without certificate", ErrBadRecord)
	case len(r.Chain) > maxChain:
		return fmt.Errorf("%w: chain of %d certificates (max %d)", ErrBadRecord, len(r.Chain), maxChain)
	}
	for i, c := range r.Chain {
		if c == nil {
			return fmt.Errorf("%w: chain[%d] is nil", ErrBadRecord, i)
		}
	}
	return nil
}

// encodeRecord returns the flash encoding of r.
func encodeRecord(r *Record) ([]byte, error) {
	if err := r.validate(); err != nil {
		return nil, err
	}
	j := recordJSON{
		Version:  recordVersion,
		SIPURI:   r.SIPURI,
		DeviceID: r.DeviceID,
		Epid:     r.Epid,
		Pool:     r.Pool,
	}
	if !r.NotAfter.IsZero() {
		j.NotAfter = r.NotAfter.UTC()
	}
	var err error
	if r.Key != nil {
		if j.Key, err = x509.MarshalPKCS8PrivateKey(r.Key); err != nil {
			return nil, fmt.Errorf("certstore: encode key: %w", err)
		}
	}
	if r.PendingKey != nil {
		if j.PendingKey, err = x509.MarshalPKCS8PrivateKey(r.PendingKey); err != nil {
			return nil, fmt.Errorf("certstore: encode pending key: %w", err)
		}
	}
	if r.Cert != nil {
		j.Cert = r.Cert.Raw
	}
	for _, c := range r.Chain {
		j.Chain = append(j.Chain, c.Raw)
	}
	b, err := json.Marshal(j)
	if err != nil {
		return nil, fmt.Errorf("certstore: encode record: %w", err)
	}
	return b, nil
}

// decodeStrict decodes b into v with unknown fields and trailing data as
// errors.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("trailing data")
	}
	return nil
}

// peekVersion reads the "version" field of a versioned JSON document.
func peekVersion(b []byte) (int, error) {
	var v struct {
		Version *int `json:"version"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return 0, err
	}
	if v.Version == nil {
		return 0, errors.New("no version")
	}
	return *v.Version, nil
}

func parseKey(der []byte) (crypto.Signer, error) {
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, err
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("key type %T is not a signer", k)
	}
	return s, nil
}

// decodeRecord decodes the flash encoding of a Record, strictly.
func decodeRecord(b []byte) (*Record, error) {
	v, err := peekVersion(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadRecord, err)
	}
	switch v {
	case recordVersion:
	default:
		return nil, fmt.Errorf("%w: version %d, want %d", ErrBadRecord, v, recordVersion)
	}
	var j recordJSON
	if err := decodeStrict(b, &j); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadRecord, err)
	}
	r := &Record{SIPURI: j.SIPURI, DeviceID: j.DeviceID, Epid: j.Epid, Pool: j.Pool}
	if !j.NotAfter.IsZero() {
		r.NotAfter = j.NotAfter.UTC()
		if y := r.NotAfter.Year(); y < 1 || y > 9999 {
			return nil, fmt.Errorf("%w: not_after year %d out of range", ErrBadRecord, y)
		}
	}
	if j.Key != nil {
		if r.Key, err = parseKey(j.Key); err != nil {
			return nil, fmt.Errorf("%w: key: %w", ErrBadRecord, err)
		}
	}
	if j.PendingKey != nil {
		if r.PendingKey, err = parseKey(j.PendingKey); err != nil {
			return nil, fmt.Errorf("%w: pending key: %w", ErrBadRecord, err)
		}
	}
	if j.Cert != nil {
		if r.Cert, err = x509.ParseCertificate(j.Cert); err != nil {
			return nil, fmt.Errorf("%w: certificate: %w", ErrBadRecord, err)
		}
	}
	if len(j.Chain) > maxChain {
		return nil, fmt.Errorf("%w: chain of %d certificates (max %d)", ErrBadRecord, len(j.Chain), maxChain)
	}
	for i, der := range j.Chain {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("%w: chain[%d]: %w", ErrBadRecord, i, err)
		}
		r.Chain = append(r.Chain, c)
	}
	if err := r.validate(); err != nil {
		return nil, err
	}
	return r, nil
}

// TLSCertificate returns the certificate, its chain and key for crypto/tls
// (Leaf set). It is the zero tls.Certificate when the record has no
// certificate yet.
func (r *Record) TLSCertificate() tls.Certificate {
	if r.Cert == nil || r.Key == nil {
		return tls.Certificate{}
	}
	der := [][]byte{r.Cert.Raw}
	for _, c := range r.Chain {
		der = append(der, c.Raw)
	}
	return tls.Certificate{Certificate: der, PrivateKey: r.Key, Leaf: r.Cert}
}

// Check reports whether the record is usable for sign-in at now: it has a
// key and certificate that match, the certificate is valid at now and stays
// valid for at least minRemaining (SIPE requires more than 1 h before each
// TLS-DSK attempt).
func (r *Record) Check(now time.Time, minRemaining time.Duration) error {
	if r.Cert == nil {
		return ErrNoCertificate
	}
	if r.Key == nil {
		return ErrNoKey
	}
	pub, ok := r.Key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(r.Cert.PublicKey) {
		return ErrKeyMismatch
	}
	switch {
	case now.Before(r.Cert.NotBefore):
		return fmt.Errorf("%w: valid from %s", ErrNotYetValid, r.Cert.NotBefore.UTC().Format(time.RFC3339))
	case now.After(r.Cert.NotAfter):
		return fmt.Errorf("%w: on %s", ErrExpired, r.Cert.NotAfter.UTC().Format(time.RFC3339))
	case r.Cert.NotAfter.Sub(now) < minRemaining:
		return fmt.Errorf("%w: on %s", ErrExpiringSoon, r.Cert.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

// NeedsRenewal reports whether the certificate should be renewed at now:
// there is none, or it expires within window (Lync clients renew about a
// month before expiry).
func (r *Record) NeedsRenewal(now time.Time, window time.Duration) bool {
	if r.Cert == nil || r.Key == nil {
		return true
	}
	return !now.Add(window).Before(r.Cert.NotAfter)
}

// LogValue implements slog.LogValuer; keys are never logged.
func (r *Record) LogValue() slog.Value {
	if r == nil {
		return slog.StringValue("<nil>")
	}
	redacted := func(k crypto.Signer) string {
		if k == nil {
			return "none"
		}
		return "REDACTED"
	}
	attrs := []slog.Attr{
		slog.String("sip_uri", r.SIPURI),
		slog.String("device_id", r.DeviceID),
		slog.String("epid", r.Epid),
		slog.String("pool", r.Pool),
		slog.String("key", redacted(r.Key)),
		slog.String("pending_key", redacted(r.PendingKey)),
	}
	if r.Cert != nil {
		attrs = append(attrs,
			slog.String("cert_subject", r.Cert.Subject.String()),
			slog.String("cert_issuer", r.Cert.Issuer.String()),
			slog.String("cert_serial", hex.EncodeToString(r.Cert.SerialNumber.Bytes())),
			slog.Time("not_after", r.Cert.NotAfter),
			slog.Int("chain", len(r.Chain)))
	}
	return slog.GroupValue(attrs...)
}
