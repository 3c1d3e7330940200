// Package epid makes SIP endpoint identifiers ([MS-SIPRE] 3.2.4.1 epid) and derives the
// matching +sip.instance UUID the server checks ([MS-SIPAE] 3.3.5.2).
package epid

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"fmt"
)

// New returns a fresh endpoint identifier: 10 lowercase hex characters from crypto/rand,
// the form Microsoft clients use.
func New() string {
	var b [5]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return hex.EncodeToString(b[:])
}

// namespace is the GUID fcacfb03-8a73-46ef-91b1-e5ebeeaba4fe in little-endian Windows layout.
var namespace = [16]byte{0x03, 0xfb, 0xac, 0xfc, 0x73, 0x8a, 0xef, 0x46, 0x91, 0xb1, 0xe5, 0xeb, 0xee, 0xab, 0xa4, 0xfe}

// Instance derives the +sip.instance UUID (lowercase, without the urn:uuid: prefix) from an epid.
// The server rejects a REGISTER whose Contact +sip.instance was not derived this way from
// the From epid.
func Instance(epid string) string {
	h := sha1.New()
	h.Write(namespace[:])
	h.Write([]byte(epid))
	s := h.Sum(nil)[:16]
	tl := binary.LittleEndian.Uint32(s[0:4])
	tm := binary.LittleEndian.Uint16(s[4:6])
	th := binary.LittleEndian.Uint16(s[6:8])&0x0fff | 0x5000
	cs := s[8]&0x3f | 0x80
	return fmt.Sprintf("%08x-%04x-%04x-%02x%02x-%x", tl, tm, th, cs, s[9], s[10:16])
}
