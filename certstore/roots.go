package certstore

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"golang.org/x/crypto/x509roots/fallback/bundle"
)

// maxSiteRoots bounds the site roots kept in flash.
const maxSiteRoots = 32

// ErrNotCA means a certificate offered as a root is not a CA certificate.
var ErrNotCA = errors.New("certstore: not a CA certificate")

// bundledRoot is one parsed bundled root and its extra NSS constraint (nil
// if unconstrained, e.g. a distrust-after date).
type bundledRoot struct {
	cert       *x509.Certificate
	constraint func([]*x509.Certificate) error
}

// parseBundled parses Mozilla's root set from the x509roots bundle.
func parseBundled() []bundledRoot {
	var out []bundledRoot
	for r := range bundle.Roots() {
		c, err := x509.ParseCertificate(r.Certificate)
		if err != nil {
			// The bundle is generated and tested upstream; a root that does
			// not parse is a broken build.
			panic(fmt.Sprintf("certstore: bundled root does not parse: %v", err))
		}
		out = append(out, bundledRoot{cert: c, constraint: r.Constraint})
	}
	return out
}

// bundled is the parsed bundle, done once.
var bundled = sync.OnceValue(parseBundled)

// bundledPool is the CertPool of the bundled roots (with their constraints),
// built once; callers Clone it before adding to it.
var bundledPool = sync.OnceValue(func() *x509.CertPool {
	p := x509.NewCertPool()
	for _, r := range bundled() {
		if r.constraint == nil {
			p.AddCert(r.cert)
		} else {
			p.AddCertWithConstraint(r.cert, r.constraint)
		}
	}
	return p
})

// Bundled returns Mozilla's root certificates as shipped in
// golang.org/x/crypto/x509roots/fallback (never the system pool). The slice
// is fresh; the certificates are shared and must not be modified. Some roots
// carry extra constraints (distrust-after dates) that Trust applies and this
// list does not show.
func Bundled() []*x509.Certificate {
	b := bundled()
	out := make([]*x509.Certificate, len(b))
	for i, r := range b {
		out[i] = r.cert
	}
	return out
}

// Fingerprint returns the lowercase hex SHA-256 of c's DER, the name
// RootStore.Remove takes.
func Fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

// RootStore keeps the site root certificates (trust anchors added by the
// administrator, e.g. the pool's enterprise CA) in their own Slots area
// (Layout region B). It is safe for concurrent use.
type RootStore struct {
	s      *Slots
	logger *slog.Logger
	mu     sync.Mutex
}

// rootsJSON is the version 1 encoding of the site roots.
type rootsJSON struct {
	Version int      `json:"version"`
	Roots   [][]byte `json:"roots"`
}

// NewRootStore returns the RootStore over s.
func NewRootStore(s *Slots, logger *slog.Logger) *RootStore {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &RootStore{s: s, logger: logger.With("component", "certstore")}
}

// decodeRoots decodes the flash encoding of the site roots, strictly.
func decodeRoots(b []byte) ([]*x509.Certificate, error) {
	v, err := peekVersion(b)
	if err != nil {
		return nil, fmt.Errorf("%w: roots: %w", ErrBadRecord, err)
	}
	if v != recordVersion {
		return nil, fmt.Errorf("%w: roots version %d, want %d", ErrBadRecord, v, recordVersion)
	}
	var j rootsJSON
	if err := decodeStrict(b, &j); err != nil {
		return nil, fmt.Errorf("%w: roots: %w", ErrBadRecord, err)
	}
	if len(j.Roots) > maxSiteRoots {
		return nil, fmt.Errorf("%w: %d roots (max %d)", ErrBadRecord, len(j.Roots), maxSiteRoots)
	}
	out := make([]*x509.Certificate, 0, len(j.Roots))
	for i, der := range j.Roots {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("%w: roots[%d]: %w", ErrBadRecord, i, err)
		}
		out = append(out, c)
	}
	return out, nil
}

func encodeRoots(cs []*x509.Certificate) []byte {
	j := rootsJSON{Version: recordVersion, Roots: [][]byte{}}
	for _, c := range cs {
		j.Roots = append(j.Roots, c.Raw)
	}
	b, err := json.Marshal(j)
	if err != nil {
		panic(err) // [][]byte always marshals
	}
	return b
}

func (rs *RootStore) listLocked() ([]*x509.Certificate, error) {
	b, err := rs.s.Read()
	if errors.Is(err, ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("certstore: list roots: %w", err)
	}
	cs, err := decodeRoots(b)
	if err != nil {
		return nil, fmt.Errorf("certstore: list roots: %w", err)
	}
	return cs, nil
}

// List returns the site roots (none on empty flash).
func (rs *RootStore) List() ([]*x509.Certificate, error) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.listLocked()
}

// Add adds a CA certificate as a site root; adding one already present does
// not write.
func (rs *RootStore) Add(c *x509.Certificate) error {
	if c == nil || !c.BasicConstraintsValid || !c.IsCA {
		return fmt.Errorf("certstore: add root: %w", ErrNotCA)
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	cs, err := rs.listLocked()
	if err != nil {
		return err
	}
	fp := Fingerprint(c)
	for _, have := range cs {
		if Fingerprint(have) == fp {
			return nil
		}
	}
	if len(cs) >= maxSiteRoots {
		return fmt.Errorf("certstore: add root: %d roots already: %w", len(cs), ErrTooLarge)
	}
	if _, err := rs.s.WriteIfChanged(encodeRoots(append(cs, c))); err != nil {
		return fmt.Errorf("certstore: add root: %w", err)
	}
	rs.logger.Info("site root added", "subject", c.Subject.String(), "sha256", fp)
	return nil
}

// Remove removes the site root whose SHA-256 fingerprint (hex, any case) is
// sha256Hex; it returns ErrNotExist when there is none.
func (rs *RootStore) Remove(sha256Hex string) error {
	want := strings.ToLower(strings.TrimSpace(sha256Hex))
	rs.mu.Lock()
	defer rs.mu.Unlock()
	cs, err := rs.listLocked()
	if err != nil {
		return err
	}
	keep := cs[:0:0]
	for _, c := range cs {
		if Fingerprint(c) != want {
			keep = append(keep, c)
		}
	}
	if len(keep) == len(cs) {
		return fmt.Errorf("certstore: remove root %s: %w", want, ErrNotExist)
	}
	if _, err := rs.s.WriteIfChanged(encodeRoots(keep)); err != nil {
		return fmt.Errorf("certstore: remove root: %w", err)
	}
	rs.logger.Info("site root removed", "sha256", want)
	return nil
}
