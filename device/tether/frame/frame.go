// Package frame is the framing layer of the deskphone tether protocol v1
// (docs/tether-protocol.md): each frame is COBS(payload ‖ CRC-32C(payload))
// followed by a single 0x00 delimiter.
//
// COBS (Consistent Overhead Byte Stuffing) removes every 0x00 from the
// encoded bytes, so 0x00 only ever marks a frame boundary and a receiver
// regains sync at the next delimiter after any garbage, loss or truncation.
// The checksum is CRC-32C (Castagnoli, polynomial 0x1EDC6F41, as in iSCSI and
// ext4), stored little-endian after the payload.
//
// # References
//
//   - S. Cheshire, M. Baker, "Consistent Overhead Byte Stuffing",
//     IEEE/ACM Transactions on Networking 7(2), 1999.
//   - RFC 3720 §12.1 (CRC-32C).
package frame

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
)

// Delimiter ends every frame. It never occurs inside an encoded frame.
const Delimiter = 0x00

// MaxPayload is the largest payload (decoded, without the CRC) a frame may
// carry: 64 KiB.
const MaxPayload = 64 << 10

// crcLen is the size of the CRC-32C trailer.
const crcLen = 4

// MaxEncoded is the largest encoded frame, without its delimiter.
const MaxEncoded = MaxPayload + crcLen + (MaxPayload+crcLen)/254 + 1

// Frame errors. A Decoder returns them (wrapped) for one bad frame and stays
// in sync; Recoverable reports whether an error is one of them.
var (
	// ErrBadFrame means the COBS encoding is invalid or the frame is
	// shorter than its CRC.
	ErrBadFrame = errors.New("frame: malformed frame")
	// ErrBadCRC means the CRC-32C does not match the payload.
	ErrBadCRC = errors.New("frame: crc mismatch")
	// ErrTooLarge means the frame exceeds MaxPayload.
	ErrTooLarge = errors.New("frame: frame too large")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Recoverable reports whether err concerns a single bad frame (the stream is
// still usable) rather than the underlying reader.
func Recoverable(err error) bool {
	return errors.Is(err, ErrBadFrame) || errors.Is(err, ErrBadCRC) || errors.Is(err, ErrTooLarge)
}

// EncodedLen returns the encoded size of a payload of n bytes, delimiter
// included.
func EncodedLen(n int) int {
	m := n + crcLen
	return m + m/254 + 1 + 1
}

// Append appends the encoded frame for payload (delimiter included) to dst.
func Append(dst, payload []byte) ([]byte, error) {
	if len(payload) > MaxPayload {
		return dst, ErrTooLarge
	}
	var trailer [crcLen]byte
	binary.LittleEndian.PutUint32(trailer[:], crc32.Checksum(payload, castagnoli))
	if need := len(dst) + EncodedLen(len(payload)); cap(dst) < need {
		grown := make([]byte, len(dst), need)
		copy(grown, dst)
		dst = grown
	}
	e := encoder{out: dst}
	e.start()
	e.write(payload)
	e.write(trailer[:])
	return append(e.finish(), Delimiter), nil
}

// Encode returns the encoded frame for payload, delimiter included.
func Encode(payload []byte) ([]byte, error) {
	return Append(nil, payload)
}

// encoder is a COBS encoder writing into out.
type encoder struct {
	out  []byte
	code int // index of the pending code byte
}

func (e *encoder) start() {
	e.code = len(e.out)
	e.out = append(e.out, 1)
}

func (e *encoder) write(p []byte) {
	for len(p) > 0 {
		room := 0xFF - int(e.out[e.code]) // bytes left in this block
		run := bytes.IndexByte(p, 0)
		if run < 0 {
			run = len(p)
		}
		if run > room {
			run = room
		}
		e.out = append(e.out, p[:run]...)
		e.out[e.code] += byte(run)
		p = p[run:]
		switch {
		case e.out[e.code] == 0xFF:
			e.start()
		case len(p) > 0 && p[0] == 0:
			e.start()
			p = p[1:]
		}
	}
}

func (e *encoder) finish() []byte { return e.out }

// Decode decodes one encoded frame (without its delimiter) into its payload,
// checking the CRC. The payload is appended to dst[:0] and returned.
func Decode(dst, enc []byte) ([]byte, error) {
	if len(enc) > MaxEncoded {
		return dst[:0], ErrTooLarge
	}
	out := dst[:0]
	for i := 0; i < len(enc); {
		code := int(enc[i])
		if code == 0 {
			return out, ErrBadFrame
		}
		i++
		end := i + code - 1
		if end > len(enc) {
			return out, ErrBadFrame
		}
		for _, b := range enc[i:end] {
			if b == 0 {
				return out, ErrBadFrame
			}
		}
		out = append(out, enc[i:end]...)
		i = end
		if code < 0xFF && i < len(enc) {
			out = append(out, 0)
		}
	}
	if len(out) < crcLen {
		return out, ErrBadFrame
	}
	n := len(out) - crcLen
	if n > MaxPayload {
		return out, ErrTooLarge
	}
	if binary.LittleEndian.Uint32(out[n:]) != crc32.Checksum(out[:n], castagnoli) {
		return out[:n], ErrBadCRC
	}
	return out[:n], nil
}
