package tlsdsk

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"time"
)

// prepareRoots runs on the first server leg when extra intermediates are configured. It
// builds the path from the server certificate through the server's chain and
// c.cfg.Intermediates to c.cfg.RootCAs, and if one exists, adds that path's
// intermediates to the pool crypto/tls verifies with (crypto/tls only uses the chain
// the server sent). VerifyConnection then checks the chain again against the real roots,
// so trust never ends at an intermediate. A failure here is left to crypto/tls to report.
func (c *Client) prepareRoots(cfg *tls.Config, leg []byte) error {
	raw, err := certificateChain(leg)
	if err != nil {
		return nil
	}
	chains, err := c.verifyChain(raw)
	if err != nil {
		return nil
	}
	pool := c.cfg.RootCAs.Clone()
	for _, chain := range chains {
		for _, ic := range chain[1 : len(chain)-1] {
			pool.AddCert(ic)
		}
	}
	cfg.RootCAs = pool // the handshake goroutine reads it after the next Step's feed
	return nil
}

// verifyChain verifies a server chain (DER, leaf first) against RootCAs with
// Intermediates and the chain's own certificates.
func (c *Client) verifyChain(raw [][]byte) ([][]*x509.Certificate, error) {
	if len(raw) == 0 {
		return nil, fmt.Errorf("no server certificate")
	}
	certs := make([]*x509.Certificate, 0, len(raw))
	for _, r := range raw {
		cert, err := x509.ParseCertificate(r)
		if err != nil {
			return nil, fmt.Errorf("parse server certificate: %w", err)
		}
		certs = append(certs, cert)
	}
	inter := x509.NewCertPool()
	if c.cfg.Intermediates != nil {
		inter = c.cfg.Intermediates.Clone()
	}
	for _, ic := range certs[1:] {
		inter.AddCert(ic)
	}
	now := time.Now()
	if c.cfg.Time != nil {
		now = c.cfg.Time()
	}
	return certs[0].Verify(x509.VerifyOptions{
		Roots:         c.cfg.RootCAs,
		Intermediates: inter,
		DNSName:       c.cfg.ServerName,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
}

func certsOf(certs []*x509.Certificate) [][]byte {
	raw := make([][]byte, len(certs))
	for i, c := range certs {
		raw[i] = c.Raw
	}
	return raw
}
