package webticket

import (
	"crypto/hmac"
	"crypto/sha1"
)

// PSHA1 is the TLS 1.0 P_hash with HMAC-SHA1 (RFC 2246 §5), as WS-Trust 1.3
// uses it for the computed key (CK/PSHA1): PSHA1(client entropy, server
// entropy, 32) is the web ticket's proof key (signin-protocols.md §4.4, §6.7).
func PSHA1(secret, seed []byte, n int) []byte {
	out := make([]byte, 0, n+sha1.Size)
	a := hmacSHA1(secret, seed) // A(1)
	for len(out) < n {
		out = append(out, hmacSHA1(secret, a, seed)...)
		a = hmacSHA1(secret, a)
	}
	return out[:n]
}

func hmacSHA1(key []byte, data ...[]byte) []byte {
	m := hmac.New(sha1.New, key)
	for _, d := range data {
		m.Write(d)
	}
	return m.Sum(nil)
}
