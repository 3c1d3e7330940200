package tlsdsk

import (
	"encoding/binary"
	"errors"
)

const (
	recordTypeChangeCipherSpec = 20
	recordTypeAlert            = 21
	recordTypeHandshake        = 22

	maxPlaintext = 1 << 14 // TLS record fragment limit

	typeServerHello = 2
	typeCertificate = 11
)

// records calls f for each complete TLS record in b (type, fragment) and reports whether b
// was a whole number of records.
func records(b []byte, f func(typ byte, frag []byte) bool) bool {
	for len(b) > 0 {
		if len(b) < 5 {
			return false
		}
		n := int(binary.BigEndian.Uint16(b[3:5]))
		if len(b) < 5+n {
			return false
		}
		if !f(b[0], b[5:5+n]) {
			return true
		}
		b = b[5+n:]
	}
	return true
}

// coalesceHandshake merges adjacent plaintext handshake records of a leg into
// one record, the way SChannel and OpenSSL send a flight and the layout
// signin-protocols.md §1.3 and §2.3 describe (ServerHello…ServerHelloDone in
// one record; Certificate, ClientKeyExchange, CertificateVerify in one
// record). crypto/tls writes one record per handshake message, and
// pidgin-sipe's TLS-DSK parser rejects a record that holds only the empty
// ServerHelloDone. Records after a ChangeCipherSpec are encrypted and are
// copied unchanged, as is anything that is not a whole number of records.
func coalesceHandshake(b []byte) []byte {
	var out []byte
	open := -1 // offset in out of the plaintext handshake record being extended, -1 if none
	plaintext := true
	for rest := b; len(rest) > 0; {
		if len(rest) < 5 || len(rest) < 5+int(binary.BigEndian.Uint16(rest[3:5])) {
			return b
		}
		n := int(binary.BigEndian.Uint16(rest[3:5]))
		hdr, frag := rest[:5], rest[5:5+n]
		rest = rest[5+n:]
		if hdr[0] == recordTypeChangeCipherSpec {
			plaintext = false
		}
		if !plaintext || hdr[0] != recordTypeHandshake {
			open = -1
			out = append(append(out, hdr...), frag...)
			continue
		}
		if open >= 0 && [2]byte(out[open+1:open+3]) == [2]byte(hdr[1:3]) {
			if m := int(binary.BigEndian.Uint16(out[open+3 : open+5])); m+n <= maxPlaintext {
				binary.BigEndian.PutUint16(out[open+3:open+5], uint16(m+n))
				out = append(out, frag...)
				continue
			}
		}
		open = len(out)
		out = append(append(out, hdr...), frag...)
	}
	return out
}

// handshakeMessages returns the plaintext handshake messages in a leg (type, body),
// reassembled across records; it stops at the first non-handshake record.
func handshakeMessages(leg []byte) (map[byte][]byte, error) {
	var hs []byte
	records(leg, func(typ byte, frag []byte) bool {
		if typ != recordTypeHandshake {
			return false
		}
		hs = append(hs, frag...)
		return true
	})
	msgs := make(map[byte][]byte)
	for len(hs) >= 4 {
		n := int(hs[1])<<16 | int(hs[2])<<8 | int(hs[3])
		if len(hs) < 4+n {
			return msgs, errors.New("truncated handshake message")
		}
		if _, dup := msgs[hs[0]]; !dup {
			msgs[hs[0]] = hs[4 : 4+n]
		}
		hs = hs[4+n:]
	}
	if len(msgs) == 0 {
		return nil, errors.New("no handshake messages")
	}
	return msgs, nil
}

// serverRandom returns the random of the ServerHello in a server leg.
func serverRandom(leg []byte) ([]byte, error) {
	msgs, err := handshakeMessages(leg)
	if err != nil {
		return nil, err
	}
	sh, ok := msgs[typeServerHello]
	if !ok || len(sh) < 2+32 {
		return nil, errors.New("no server hello")
	}
	return append([]byte(nil), sh[2:34]...), nil
}

// certificateChain returns the DER certificates of the (TLS ≤ 1.2) Certificate message in
// a leg.
func certificateChain(leg []byte) ([][]byte, error) {
	msgs, err := handshakeMessages(leg)
	if err != nil {
		return nil, err
	}
	body, ok := msgs[typeCertificate]
	if !ok || len(body) < 3 {
		return nil, errors.New("no certificate message")
	}
	n := int(body[0])<<16 | int(body[1])<<8 | int(body[2])
	body = body[3:]
	if n != len(body) {
		return nil, errors.New("bad certificate list length")
	}
	var chain [][]byte
	for len(body) > 0 {
		if len(body) < 3 {
			return nil, errors.New("truncated certificate")
		}
		m := int(body[0])<<16 | int(body[1])<<8 | int(body[2])
		if len(body) < 3+m {
			return nil, errors.New("truncated certificate")
		}
		chain = append(chain, body[3:3+m])
		body = body[3+m:]
	}
	return chain, nil
}

// plainAlert returns the description of the first plaintext alert record in b.
func plainAlert(b []byte) (byte, bool) {
	var desc byte
	var found bool
	records(b, func(typ byte, frag []byte) bool {
		if typ == recordTypeAlert && len(frag) == 2 {
			desc, found = frag[1], true
			return false
		}
		return true
	})
	return desc, found
}
