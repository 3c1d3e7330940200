package chain

import (
	"bytes"
	"encoding/pem"
	"testing"

	"github.com/smallstep/pkcs7"
)

// FuzzParseChain: the chain parser never panics on network input, and what
// it accepts re-encodes (as PKCS#7 and as PEM) to the same certificates.
func FuzzParseChain(f *testing.F) {
	f.Add([]byte("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		certs, err := ParseChain(b)
		if err != nil {
			return
		}
		var der []byte
		var pemBuf bytes.Buffer
		for _, c := range certs {
			der = append(der, c.Raw...)
			pem.Encode(&pemBuf, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
		}
		p7, err := pkcs7.DegenerateCertificate(der)
		if err != nil {
			t.Fatalf("re-encode as pkcs7: %v", err)
		}
		for name, doc := range map[string][]byte{"pkcs7": p7, "pem": pemBuf.Bytes()} {
			again, err := ParseChain(doc)
			if err != nil || len(again) != len(certs) {
				t.Fatalf("%s round trip: %d → %d certificates, %v", name, len(certs), len(again), err)
			}
			for i := range certs {
				if !again[i].Equal(certs[i]) {
					t.Fatalf("%s round trip: certificate %d differs", name, i)
				}
			}
		}
	})
}
