package certstore

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"
)

// ErrUntrusted marks a certificate chain that does not verify through a
// Trust (unknown authority, expired, wrong name or usage); the cause is
// wrapped with it.
var ErrUntrusted = errors.New("certstore: certificate not trusted")

// Trust is an immutable set of trust anchors (the bundled roots, if
// included, plus the site roots) and known intermediates. Intermediates may
// come from anywhere, including a plain-HTTP download, because they can only
// extend a chain to an anchor; anchors never come from downloads, except in
// the opt-in trust_downloaded_root mode (WithAnchors).
type Trust struct {
	includeBundled bool
	anchors        []*x509.Certificate
	inter          []*x509.Certificate
}

// NewTrust returns a Trust anchored at the site roots, plus Mozilla's
// bundled roots when includeBundled.
func NewTrust(site []*x509.Certificate, includeBundled bool) *Trust {
	return &Trust{includeBundled: includeBundled, anchors: appendUnique(nil, site)}
}

// appendUnique appends the non-nil certificates of add not already in dst.
func appendUnique(dst, add []*x509.Certificate) []*x509.Certificate {
	for _, c := range add {
		if c == nil || slices.ContainsFunc(dst, func(d *x509.Certificate) bool { return bytes.Equal(d.Raw, c.Raw) }) {
			continue
		}
		dst = append(dst, c)
	}
	return dst
}

// WithIntermediates returns a copy of t that also knows the intermediates
// cs.
func (t *Trust) WithIntermediates(cs []*x509.Certificate) *Trust {
	n := *t
	n.anchors = slices.Clip(n.anchors)
	n.inter = appendUnique(slices.Clone(t.inter), cs)
	return &n
}

// WithAnchors returns a copy of t that also trusts cs as anchors. Use it
// only for the opt-in trust_downloaded_root mode, which mimics old Lync
// Phone Edition firmware and widens trust to whatever the network served.
func (t *Trust) WithAnchors(cs []*x509.Certificate) *Trust {
	n := *t
	n.inter = slices.Clip(n.inter)
	n.anchors = appendUnique(slices.Clone(t.anchors), cs)
	return &n
}

// Anchors returns the anchors besides the bundled roots (site roots and any
// added with WithAnchors).
func (t *Trust) Anchors() []*x509.Certificate { return slices.Clone(t.anchors) }

// IncludesBundled reports whether the bundled roots are anchors.
func (t *Trust) IncludesBundled() bool { return t.includeBundled }

// Roots returns a fresh pool of the anchors.
func (t *Trust) Roots() *x509.CertPool {
	var p *x509.CertPool
	if t.includeBundled {
		p = bundledPool().Clone()
	} else {
		p = x509.NewCertPool()
	}
	for _, c := range t.anchors {
		p.AddCert(c)
	}
	return p
}

// Intermediates returns a fresh pool of the known intermediates.
func (t *Trust) Intermediates() *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range t.inter {
		p.AddCert(c)
	}
	return p
}

// Verify verifies chain (leaf first, then any intermediates the peer sent)
// to an anchor at now, for dnsName (skipped if empty) and usage
// (x509.ExtKeyUsageAny for any). Errors wrap ErrUntrusted.
func (t *Trust) Verify(chain []*x509.Certificate, dnsName string, now time.Time, usage x509.ExtKeyUsage) error {
	if len(chain) == 0 || chain[0] == nil {
		return fmt.Errorf("certstore: verify: empty chain: %w", ErrUntrusted)
	}
	inter := t.Intermediates()
	for _, c := range chain[1:] {
		if c != nil {
			inter.AddCert(c)
		}
	}
	_, err := chain[0].Verify(x509.VerifyOptions{
		DNSName:       dnsName,
		Roots:         t.Roots(),
		Intermediates: inter,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{usage},
	})
	if err != nil {
		return fmt.Errorf("certstore: verify %q: %w: %w", chain[0].Subject.String(), ErrUntrusted, err)
	}
	return nil
}

// TLSConfig returns a client tls.Config that verifies the server as
// serverName (hostname verification and SNI) through t at now() (time.Now
// if nil). Certificate verification is never skipped: crypto/tls verifies
// against the anchors, and VerifyConnection verifies again with t's
// intermediates, so servers that omit an intermediate t knows still verify.
func (t *Trust) TLSConfig(serverName string, now func() time.Time) *tls.Config {
	if now == nil {
		now = time.Now
	}
	verify := func(chain []*x509.Certificate) error {
		return t.Verify(chain, serverName, now(), x509.ExtKeyUsageServerAuth)
	}
	roots := t.Roots()
	// crypto/tls builds chains only from what the server sent. To use the
	// intermediates t knows, add each to the pool as a conditional end
	// point: its constraint accepts a chain ending in it only if the full
	// chain verifies through t to a real anchor.
	for _, ic := range t.inter {
		roots.AddCertWithConstraint(ic, func(chain []*x509.Certificate) error {
			return verify(append(slices.Clone(chain), ic))
		})
	}
	return &tls.Config{
		ServerName: serverName,
		RootCAs:    roots,
		Time:       now,
		MinVersion: tls.VersionTLS12,
		VerifyConnection: func(cs tls.ConnectionState) error {
			return verify(cs.PeerCertificates)
		},
	}
}

// LogValue implements slog.LogValuer.
func (t *Trust) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Bool("bundled", t.includeBundled),
		slog.Int("anchors", len(t.anchors)),
		slog.Int("intermediates", len(t.inter)))
}
