// Package directory is labpool's user directory: users with their PIN
// (salted hash), password (NT hash for NTLM plus a salted hash for Basic),
// the PIN lockout state, and the certificates published for each user's
// devices. State is one versioned JSON file written atomically; it is
// reloaded when another process (the labpool CLI) changes it.
//
// PIN policy follows CsPinPolicy (platform-notes.md §4.2): failures inside a
// 30-minute window count towards a local limit that locks PIN sign-in for
// an hour; a global counter that only an admin Unlock resets locks it for
// good; a success resets the local counter.
package directory

import (
	"bytes"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf16"

	//lint:ignore SA1019 NTLM's NT hash is MD4 by definition (MS-NLMP).
	"golang.org/x/crypto/md4"

	"github.com/deskphone/deskphone/device/atomicfile"
)

// FileName is the state file inside the state directory.
const FileName = "directory.json"

const fileVersion = 1

// Errors.
var (
	ErrNotFound     = errors.New("directory: no such user")
	ErrExists       = errors.New("directory: user exists")
	ErrBadPIN       = errors.New("directory: wrong extension or pin")
	ErrPINLocked    = errors.New("directory: pin locked")
	ErrBadPassword  = errors.New("directory: wrong login or password")
	ErrNotPublished = errors.New("directory: certificate not published for this user")
	ErrRevoked      = errors.New("directory: certificate revoked")
	ErrExpired      = errors.New("directory: certificate expired")
)

// User is a directory entry.
type User struct {
	// SIPURI is "sip:user@domain".
	SIPURI    string `json:"sip_uri"`
	Extension string `json:"extension,omitempty"`
	Phone     string `json:"phone,omitempty"`
	// Login is DOMAIN\user.
	Login string `json:"login,omitempty"`
	// Home is the home pool FQDN ("" = this pool).
	Home string `json:"home,omitempty"`
}

// Cert is a published user certificate.
type Cert struct {
	DeviceID  string    `json:"device_id"`
	Serial    string    `json:"serial"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	Published time.Time `json:"published"`
	Revoked   bool      `json:"revoked,omitempty"`
	DER       []byte    `json:"der"`
}

// PINPolicy is the lockout policy. Zero limits mean "by PIN length" (4
// digits: 10 local / 100 global; 5–6: 25 / 1000; more: 25 / 5000).
type PINPolicy struct {
	MaxLocal, MaxGlobal int
	Window, Lockout     time.Duration
}

// DefaultPINPolicy is CsPinPolicy's default.
var DefaultPINPolicy = PINPolicy{Window: 30 * time.Minute, Lockout: time.Hour}

func (p PINPolicy) limits(pinLen int) (local, global int) {
	local, global = 25, 1000
	switch {
	case pinLen <= 4:
		local, global = 10, 100
	case pinLen > 6:
		global = 5000
	}
	if p.MaxLocal > 0 {
		local = p.MaxLocal
	}
	if p.MaxGlobal > 0 {
		global = p.MaxGlobal
	}
	return local, global
}

type record struct {
	User
	PINLen  int    `json:"pin_len"`
	PINSalt []byte `json:"pin_salt"`
	PINHash []byte `json:"pin_hash"`
	NTHash  []byte `json:"nt_hash,omitempty"`
	PWSalt  []byte `json:"pw_salt,omitempty"`
	PWHash  []byte `json:"pw_hash,omitempty"`

	LocalFails  int       `json:"local_fails,omitempty"`
	WindowStart time.Time `json:"window_start,omitzero"`
	LockedUntil time.Time `json:"locked_until,omitzero"`
	GlobalFails int       `json:"global_fails,omitempty"`
	AdminLocked bool      `json:"admin_locked,omitempty"`

	Certs []Cert `json:"certs,omitempty"`
}

type file struct {
	Version int       `json:"version"`
	Users   []*record `json:"users"`
}

// Directory is the user store. It is safe for concurrent use.
type Directory struct {
	mu     sync.Mutex
	path   string // "" = in memory
	now    func() time.Time
	policy PINPolicy
	logger *slog.Logger
	users  []*record
	seen   fileStamp
}

type fileStamp struct {
	mod  time.Time
	size int64
}

// Option configures a Directory.
type Option func(*Directory)

// WithClock sets the clock used by the PIN policy and certificate checks.
func WithClock(now func() time.Time) Option { return func(d *Directory) { d.now = now } }

// WithPINPolicy overrides the PIN lockout policy.
func WithPINPolicy(p PINPolicy) Option { return func(d *Directory) { d.policy = p } }

// Open loads the directory from stateDir/directory.json (creating an empty
// one if absent). An empty stateDir keeps the directory in memory only.
func Open(stateDir string, logger *slog.Logger, opts ...Option) (*Directory, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	d := &Directory{now: time.Now, policy: DefaultPINPolicy, logger: logger.With("component", "directory")}
	for _, o := range opts {
		o(d)
	}
	if d.policy.Window <= 0 {
		d.policy.Window = DefaultPINPolicy.Window
	}
	if d.policy.Lockout <= 0 {
		d.policy.Lockout = DefaultPINPolicy.Lockout
	}
	if stateDir == "" {
		return d, nil
	}
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, fmt.Errorf("directory: open: %w", err)
	}
	d.path = filepath.Join(stateDir, FileName)
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.reloadLocked(); err != nil {
		return nil, err
	}
	return d, nil
}

// reloadLocked rereads the file if it changed since we last read or wrote it.
func (d *Directory) reloadLocked() error {
	if d.path == "" {
		return nil
	}
	st, err := os.Stat(d.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("directory: stat: %w", err)
	}
	stamp := fileStamp{st.ModTime(), st.Size()}
	if stamp == d.seen {
		return nil
	}
	b, err := os.ReadFile(d.path)
	if err != nil {
		return fmt.Errorf("directory: read: %w", err)
	}
	var v struct {
		Version int `json:"version"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("directory: %s: %w", d.path, err)
	}
	switch v.Version {
	case fileVersion:
	default:
		return fmt.Errorf("directory: %s: version %d, want %d", d.path, v.Version, fileVersion)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var f file
	if err := dec.Decode(&f); err != nil {
		return fmt.Errorf("directory: %s: %w", d.path, err)
	}
	d.users, d.seen = f.Users, stamp
	return nil
}

func (d *Directory) saveLocked() error {
	if d.path == "" {
		return nil
	}
	b, err := json.Marshal(file{Version: fileVersion, Users: d.users})
	if err != nil {
		return fmt.Errorf("directory: save: %w", err)
	}
	if old, err := os.ReadFile(d.path); err == nil && bytes.Equal(old, b) {
		return nil
	}
	if err := atomicfile.WriteFile(d.path, b, 0o600); err != nil {
		return fmt.Errorf("directory: save: %w", err)
	}
	if st, err := os.Stat(d.path); err == nil {
		d.seen = fileStamp{st.ModTime(), st.Size()}
	}
	return nil
}

// NormalizeSIP returns "sip:" + the URI without its scheme, lowercased.
func NormalizeSIP(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 4 && strings.EqualFold(s[:4], "sip:") {
		s = s[4:]
	}
	return "sip:" + strings.ToLower(s)
}

func normPhone(s string) string {
	s = strings.TrimPrefix(strings.TrimSpace(s), "tel:")
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' || r == '(' || r == ')' || r == '.' {
			return -1
		}
		return r
	}, s)
}

// Add creates a user. pin must be 4–24 digits; password may be empty (no
// password sign-in). Secrets are stored only as hashes.
func (d *Directory) Add(u User, pin, password string) error {
	u.SIPURI = NormalizeSIP(u.SIPURI)
	if !strings.Contains(u.SIPURI, "@") || strings.HasSuffix(u.SIPURI, "@") || u.SIPURI == "sip:" {
		return fmt.Errorf("directory: add: bad sip uri %q", u.SIPURI)
	}
	if len(pin) < 4 || len(pin) > 24 || strings.IndexFunc(pin, func(r rune) bool { return !unicode.IsDigit(r) || r > '9' }) >= 0 {
		return errors.New("directory: add: pin must be 4 to 24 digits")
	}
	u.Phone = normPhone(u.Phone)
	r := &record{User: u, PINLen: len(pin), PINSalt: salt()}
	r.PINHash = slowHash(pin, r.PINSalt)
	if password != "" {
		r.NTHash = NTHash(password)
		r.PWSalt = salt()
		r.PWHash = slowHash(password, r.PWSalt)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.reloadLocked(); err != nil {
		return err
	}
	for _, o := range d.users {
		switch {
		case o.SIPURI == u.SIPURI:
			return fmt.Errorf("%w: %s", ErrExists, u.SIPURI)
		case u.Extension != "" && o.Extension == u.Extension:
			return fmt.Errorf("%w: extension %s", ErrExists, u.Extension)
		case u.Login != "" && strings.EqualFold(o.Login, u.Login):
			return fmt.Errorf("%w: login %s", ErrExists, u.Login)
		}
	}
	d.users = append(d.users, r)
	d.logger.Info("user added", "sip_uri", u.SIPURI, "extension", u.Extension)
	return d.saveLocked()
}

// AddDemoUsers adds the demo users of cli-contract.md (alice and bob at
// example.test) unless they exist.
func (d *Directory) AddDemoUsers() error {
	for _, du := range []struct {
		u        User
		pin, pwd string
	}{
		{User{SIPURI: "sip:alice@example.test", Extension: "1001", Phone: "+14255550101", Login: `EXAMPLE\alice`}, "24680", "Alice-2468"},
		{User{SIPURI: "sip:bob@example.test", Extension: "1002", Phone: "+14255550102", Login: `EXAMPLE\bob`}, "13579", "Bob-1357"},
	} {
		if _, ok := d.LookupBySIP(du.u.SIPURI); ok {
			continue
		}
		if err := d.Add(du.u, du.pin, du.pwd); err != nil {
			return err
		}
	}
	return nil
}

// Users returns every user.
func (d *Directory) Users() []User {
	d.mu.Lock()
	defer d.mu.Unlock()
	_ = d.reloadLocked()
	out := make([]User, 0, len(d.users))
	for _, r := range d.users {
		out = append(out, r.User)
	}
	return out
}

func (d *Directory) find(match func(*record) bool) *record {
	_ = d.reloadLocked()
	for _, r := range d.users {
		if match(r) {
			return r
		}
	}
	return nil
}

func (d *Directory) lookup(match func(*record) bool) (User, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if r := d.find(match); r != nil {
		return r.User, true
	}
	return User{}, false
}

// LookupByPhoneOrExt finds a user by extension or phone number.
func (d *Directory) LookupByPhoneOrExt(s string) (User, bool) {
	p := normPhone(s)
	return d.lookup(func(r *record) bool { return p != "" && (r.Extension == p || r.Phone == p) })
}

// LookupBySIP finds a user by SIP URI (with or without "sip:").
func (d *Directory) LookupBySIP(uri string) (User, bool) {
	u := NormalizeSIP(uri)
	return d.lookup(func(r *record) bool { return r.SIPURI == u })
}

// LookupByLogin finds a user by DOMAIN\user (case-insensitive).
func (d *Directory) LookupByLogin(login string) (User, bool) {
	return d.lookup(func(r *record) bool { return r.Login != "" && strings.EqualFold(r.Login, login) })
}

// CheckPIN authenticates phone number or extension + PIN under the PIN
// policy. It returns ErrBadPIN (also for an unknown user) or ErrPINLocked.
// When several users share a phone number, the PIN tells them apart.
func (d *Directory) CheckPIN(phoneOrExt, pin string) (User, error) {
	p := normPhone(phoneOrExt)
	d.mu.Lock()
	defer d.mu.Unlock()
	_ = d.reloadLocked()
	var cands []*record
	for _, r := range d.users {
		if p != "" && (r.Extension == p || r.Phone == p) {
			cands = append(cands, r)
		}
	}
	if len(cands) == 0 {
		return User{}, ErrBadPIN
	}
	// Extension matches are unique; prefer one whose PIN verifies.
	r := cands[0]
	for _, c := range cands {
		if verifySlow(pin, c.PINSalt, c.PINHash) {
			r = c
			break
		}
	}
	now := d.now()
	if r.AdminLocked || now.Before(r.LockedUntil) {
		return User{}, ErrPINLocked
	}
	if !r.LockedUntil.IsZero() { // a lockout ended: the local counter starts again
		r.LockedUntil, r.LocalFails, r.WindowStart = time.Time{}, 0, time.Time{}
	}
	if verifySlow(pin, r.PINSalt, r.PINHash) {
		changed := r.LocalFails != 0
		r.LocalFails, r.WindowStart = 0, time.Time{}
		if changed {
			_ = d.saveLocked()
		}
		return r.User, nil
	}
	if r.WindowStart.IsZero() || now.Sub(r.WindowStart) >= d.policy.Window {
		r.WindowStart, r.LocalFails = now, 0
	}
	r.LocalFails++
	r.GlobalFails++
	local, global := d.policy.limits(r.PINLen)
	err := ErrBadPIN
	switch {
	case r.GlobalFails >= global:
		r.AdminLocked = true
		err = ErrPINLocked
		d.logger.Warn("pin locked until admin unlock", "sip_uri", r.SIPURI, "global_fails", r.GlobalFails)
	case r.LocalFails >= local:
		r.LockedUntil = now.Add(d.policy.Lockout)
		err = ErrPINLocked
		d.logger.Warn("pin locked", "sip_uri", r.SIPURI, "until", r.LockedUntil)
	}
	if serr := d.saveLocked(); serr != nil {
		return User{}, serr
	}
	return User{}, err
}

// Unlock clears a user's PIN lockout and both failure counters (admin).
func (d *Directory) Unlock(sipURI string) error {
	u := NormalizeSIP(sipURI)
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.find(func(r *record) bool { return r.SIPURI == u })
	if r == nil {
		return fmt.Errorf("%w: %s", ErrNotFound, u)
	}
	r.AdminLocked, r.LockedUntil, r.LocalFails, r.GlobalFails, r.WindowStart = false, time.Time{}, 0, 0, time.Time{}
	d.logger.Info("pin unlocked", "sip_uri", u)
	return d.saveLocked()
}

// CheckPassword authenticates DOMAIN\user + password (HTTP Basic).
func (d *Directory) CheckPassword(login, password string) (User, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.find(func(r *record) bool { return r.Login != "" && strings.EqualFold(r.Login, login) })
	if r == nil || len(r.PWHash) == 0 || !verifySlow(password, r.PWSalt, r.PWHash) {
		return User{}, ErrBadPassword
	}
	return r.User, nil
}

// NTHashOf returns the NT hash of the user with login DOMAIN\user, for
// NTLMv2 verification.
func (d *Directory) NTHashOf(login string) (User, []byte, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.find(func(r *record) bool { return r.Login != "" && strings.EqualFold(r.Login, login) })
	if r == nil || len(r.NTHash) == 0 {
		return User{}, nil, ErrBadPassword
	}
	return r.User, slices.Clone(r.NTHash), nil
}

// Publish stores cert as the certificate of sipURI's device deviceID,
// replacing that device's previous one.
func (d *Directory) Publish(sipURI, deviceID string, cert *x509.Certificate) error {
	u := NormalizeSIP(sipURI)
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.find(func(r *record) bool { return r.SIPURI == u })
	if r == nil {
		return fmt.Errorf("%w: %s", ErrNotFound, u)
	}
	r.Certs = slices.DeleteFunc(r.Certs, func(c Cert) bool { return strings.EqualFold(c.DeviceID, deviceID) })
	r.Certs = append(r.Certs, Cert{DeviceID: deviceID, Serial: cert.SerialNumber.String(), NotBefore: cert.NotBefore,
		NotAfter: cert.NotAfter, Published: d.now(), DER: cert.Raw})
	return d.saveLocked()
}

// Published returns the certificates published for sipURI.
func (d *Directory) Published(sipURI string) []Cert {
	u := NormalizeSIP(sipURI)
	d.mu.Lock()
	defer d.mu.Unlock()
	if r := d.find(func(r *record) bool { return r.SIPURI == u }); r != nil {
		return slices.Clone(r.Certs)
	}
	return nil
}

// Revoke revokes sipURI's certificates for deviceID ("" = every device)
// and returns how many were revoked.
func (d *Directory) Revoke(sipURI, deviceID string) (int, error) {
	u := NormalizeSIP(sipURI)
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.find(func(r *record) bool { return r.SIPURI == u })
	if r == nil {
		return 0, fmt.Errorf("%w: %s", ErrNotFound, u)
	}
	n := 0
	for i := range r.Certs {
		if !r.Certs[i].Revoked && (deviceID == "" || strings.EqualFold(r.Certs[i].DeviceID, deviceID)) {
			r.Certs[i].Revoked = true
			n++
		}
	}
	if n > 0 {
		d.logger.Info("certificates revoked", "sip_uri", u, "device_id", deviceID, "count", n)
	}
	return n, d.saveLocked()
}

// CheckClientCert reports whether cert is published, unrevoked and current
// for sipURI (what the SIP registrar checks after TLS-DSK).
func (d *Directory) CheckClientCert(sipURI string, cert *x509.Certificate) error {
	u := NormalizeSIP(sipURI)
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.find(func(r *record) bool { return r.SIPURI == u })
	if r == nil {
		return fmt.Errorf("%w: %s", ErrNotFound, u)
	}
	for _, c := range r.Certs {
		if !bytes.Equal(c.DER, cert.Raw) {
			continue
		}
		if c.Revoked {
			return ErrRevoked
		}
		if now := d.now(); now.After(c.NotAfter) || now.Before(c.NotBefore) {
			return ErrExpired
		}
		return nil
	}
	return ErrNotPublished
}

// NTHash is MD4(UTF-16LE(password)), the NTLM password hash.
func NTHash(password string) []byte {
	u := utf16.Encode([]rune(password))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		b[2*i], b[2*i+1] = byte(c), byte(c>>8)
	}
	h := md4.New()
	h.Write(b)
	return h.Sum(nil)
}

func salt() []byte {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return b
}

const hashIter = 4096

func slowHash(secret string, salt []byte) []byte {
	k, err := pbkdf2.Key(sha256.New, secret, salt, hashIter, 32)
	if err != nil {
		panic(err) // only for invalid parameters
	}
	return k
}

func verifySlow(secret string, salt, want []byte) bool {
	return len(want) > 0 && subtle.ConstantTimeCompare(slowHash(secret, salt), want) == 1
}
