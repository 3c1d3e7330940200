package tlsdsk

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"hash"
)

// eapLabel is the RFC 5216 EAP-TLS label that [MS-SIPAE] 3.2.5.1 uses for the TLS-DSK keys.
const eapLabel = "client EAP encryption"

// pHash is P_hash of RFC 2246 section 5, XORed into out.
func pHash(out, secret, seed []byte, h func() hash.Hash) {
	mac := hmac.New(h, secret)
	mac.Write(seed)
	a := mac.Sum(nil)
	for j := 0; j < len(out); {
		mac.Reset()
		mac.Write(a)
		mac.Write(seed)
		b := mac.Sum(nil)
		for _, v := range b {
			if j == len(out) {
				break
			}
			out[j] ^= v
			j++
		}
		mac.Reset()
		mac.Write(a)
		a = mac.Sum(a[:0])
	}
}

// PRF10 is the TLS 1.0/1.1 PRF (P_MD5 ⊕ P_SHA1 over the two halves of secret), RFC 2246
// section 5. It returns n bytes.
func PRF10(secret []byte, label string, seed []byte, n int) []byte {
	ls := make([]byte, 0, len(label)+len(seed))
	ls = append(append(ls, label...), seed...)
	half := (len(secret) + 1) / 2
	out := make([]byte, n)
	pHash(out, secret[:half], ls, md5.New)
	pHash(out, secret[len(secret)-half:], ls, sha1.New)
	return out
}

// prf12 is the TLS 1.2 PRF with SHA-256 (RFC 5246 section 5), the PRF of every suite
// tlsdsk offers.
func prf12(secret []byte, label string, seed []byte, n int) []byte {
	ls := make([]byte, 0, len(label)+len(seed))
	ls = append(append(ls, label...), seed...)
	out := make([]byte, n)
	pHash(out, secret, ls, sha256.New)
	return out
}

// keyMaterial returns the 128 bytes of PRF(master, "client EAP encryption", cr ‖ sr) for
// the TLS version.
func keyMaterial(version uint16, master, clientRandom, serverRandom []byte) []byte {
	seed := make([]byte, 0, len(clientRandom)+len(serverRandom))
	seed = append(append(seed, clientRandom...), serverRandom...)
	if version >= tls.VersionTLS12 {
		return prf12(master, eapLabel, seed, 128)
	}
	return PRF10(master, eapLabel, seed, 128)
}

// DeriveKeys derives the TLS-DSK client and server signing keys from the master secret:
// PRF(master, "client EAP encryption", client_random ‖ server_random)[64:96] and [96:128],
// with the TLS 1.0/1.1 PRF or, for TLS 1.2, the SHA-256 PRF.
func DeriveKeys(version uint16, master, clientRandom, serverRandom []byte) (client, server []byte) {
	km := keyMaterial(version, master, clientRandom, serverRandom)
	return km[64:96:96], km[96:128:128]
}
