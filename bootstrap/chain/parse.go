package chain

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/smallstep/pkcs7"
)

// maxCerts bounds the certificates accepted from one download.
const maxCerts = 16

// errNoCerts means the document held no certificate.
var errNoCerts = errors.New("no certificates")

// ParseChain decodes a downloaded certificate chain: a certs-only PKCS#7
// SignedData in DER (the simulated pool's format), a PEM bundle of
// CERTIFICATE and/or PKCS7 blocks, or bare concatenated DER certificates.
// It returns the certificates in document order and rejects empty
// documents, trailing garbage and more than 16 certificates.
func ParseChain(b []byte) (certs []*x509.Certificate, err error) {
	// The PKCS#7 parser is third-party code fed with network input: a panic
	// in it is a download error, not a crash of the agent.
	defer func() {
		if r := recover(); r != nil {
			certs, err = nil, fmt.Errorf("chain: parse: malformed document (%v)", r)
		}
	}()
	trimmed := bytes.TrimSpace(b)
	if bytes.HasPrefix(trimmed, []byte("-----BEGIN ")) {
		certs, err = parsePEM(trimmed)
	} else {
		certs, err = parseDER(b)
	}
	if err != nil {
		return nil, fmt.Errorf("chain: parse: %w", err)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("chain: parse: %w", errNoCerts)
	}
	if len(certs) > maxCerts {
		return nil, fmt.Errorf("chain: parse: %d certificates (max %d)", len(certs), maxCerts)
	}
	return certs, nil
}

func parseDER(b []byte) ([]*x509.Certificate, error) {
	if len(b) == 0 {
		return nil, errNoCerts
	}
	p7, err := pkcs7.Parse(b)
	if err == nil {
		return p7.Certificates, nil
	}
	// Not PKCS#7: maybe bare DER certificates (application/pkix-cert).
	if certs, cerr := x509.ParseCertificates(b); cerr == nil {
		return certs, nil
	}
	return nil, fmt.Errorf("pkcs7: %w", err)
}

func parsePEM(b []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	rest := b
	for len(bytes.TrimSpace(rest)) > 0 {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			return nil, errors.New("pem: trailing data")
		}
		switch blk.Type {
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("pem certificate %d: %w", len(certs), err)
			}
			certs = append(certs, c)
		case "PKCS7", "CMS":
			p7, err := pkcs7.Parse(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("pem pkcs7: %w", err)
			}
			certs = append(certs, p7.Certificates...)
		default:
			return nil, fmt.Errorf("pem: unexpected block %q", blk.Type)
		}
		if len(certs) > maxCerts {
			return nil, fmt.Errorf("%d certificates (max %d)", len(certs), maxCerts)
		}
	}
	return certs, nil
}
