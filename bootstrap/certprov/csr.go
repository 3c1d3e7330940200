package certprov

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"strings"
)

// GenerateKey returns a fresh RSA-2048 key with e = 65537 (§3.4).
func GenerateKey() (*rsa.PrivateKey, error) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("certprov: generate key: %w", err)
	}
	return k, nil
}

// BuildCSR returns a DER PKCS#10 request, version 0, whose subject is only
// CN=<user@domain> (the SIP URI without "sip:") and which carries no
// attributes or extensions (§3.4).
func BuildCSR(key crypto.Signer, sipURI string) ([]byte, error) {
	cn := Entity(sipURI)
	if cn == "" || !strings.Contains(cn, "@") {
		return nil, fmt.Errorf("certprov: build csr: bad sip uri %q", sipURI)
	}
	if key == nil {
		return nil, errors.New("certprov: build csr: nil key")
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject:            pkix.Name{CommonName: cn},
		SignatureAlgorithm: csrSignatureAlgorithm(),
	}, key)
	if err != nil {
		return nil, fmt.Errorf("certprov: build csr: %w", err)
	}
	return der, nil
}

// Entity is the SIP URI without the "sip:" scheme (the CSR CN and the
// GetAndPublishCert Entity attribute).
func Entity(sipURI string) string {
	if len(sipURI) >= 4 && strings.EqualFold(sipURI[:4], "sip:") {
		return sipURI[4:]
	}
	return sipURI
}
