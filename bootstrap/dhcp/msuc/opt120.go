package msuc

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/deskphone/deskphone/bootstrap/failure"
)

// RFC 3361 encodings of option 120.
const (
	EncodingNames byte = 0
	EncodingIPv4  byte = 1
)

// Name limits from RFC 1035 §2.3.4.
const (
	maxLabel = 63
	maxName  = 255 // wire bytes, including length bytes and the root label
)

// SIPServers is a decoded option 120. Exactly one of Names and IPs is set,
// according to Encoding. IPs (encoding 1) is legal RFC 3361 but useless for
// TLS, which needs names: callers should flag it as a warning.
type SIPServers struct {
	Encoding byte
	Names    []string
	IPs      []netip.Addr
}

// DecodeOpt120 decodes an RFC 3361 option 120 value. Errors are
// *failure.Error with code Opt120Invalid wrapping a *DecodeError
// (errors.Is(err, ErrTruncated) or ErrMalformed).
func DecodeOpt120(b []byte) (SIPServers, error) {
	if len(b) == 0 {
		return SIPServers{}, bad120(0, "empty", ErrTruncated)
	}
	s := SIPServers{Encoding: b[0]}
	body := b[1:]
	switch s.Encoding {
	case EncodingNames:
		for off := 0; off < len(body); {
			name, n, err := readName(body, off)
			if err != nil {
				return SIPServers{}, err
			}
			s.Names = append(s.Names, name)
			off += n
		}
		if len(s.Names) == 0 {
			return SIPServers{}, bad120(1, "encoding 0 with no names", ErrTruncated)
		}
	case EncodingIPv4:
		if len(body) == 0 || len(body)%4 != 0 {
			return SIPServers{}, bad120(1, fmt.Sprintf("encoding 1 with %d address bytes, want a multiple of 4", len(body)), ErrTruncated)
		}
		for i := 0; i < len(body); i += 4 {
			s.IPs = append(s.IPs, netip.AddrFrom4([4]byte(body[i:i+4])))
		}
	default:
		return SIPServers{}, bad120(0, fmt.Sprintf("unknown encoding %d", s.Encoding), ErrMalformed)
	}
	return s, nil
}

// readName reads one uncompressed name at body[off:] and returns it in
// dotted form and the number of bytes consumed. off is reported +1 (the
// encoding byte) in errors.
func readName(body []byte, off int) (string, int, error) {
	var sb strings.Builder
	i := off
	for {
		if i >= len(body) {
			return "", 0, bad120(i+1, "name without root label", ErrTruncated)
		}
		l := int(body[i])
		if l == 0 {
			i++
			break
		}
		if l&0xC0 != 0 {
			return "", 0, bad120(i+1, fmt.Sprintf("compression pointer or reserved label type 0x%02x", l), ErrMalformed)
		}
		if i+1+l > len(body) {
			return "", 0, bad120(i+1, fmt.Sprintf("label length %d, %d bytes left", l, len(body)-i-1), ErrTruncated)
		}
		label := body[i+1 : i+1+l]
		if err := checkLabel(label); err != nil {
			return "", 0, bad120(i+1, err.Error(), ErrMalformed)
		}
		if sb.Len() > 0 {
			sb.WriteByte('.')
		}
		sb.Write(label)
		i += 1 + l
		if i-off+1 > maxName {
			return "", 0, bad120(off+1, fmt.Sprintf("name longer than %d bytes", maxName), ErrMalformed)
		}
	}
	if i-off == 1 {
		return "", 0, bad120(off+1, "empty (root) name", ErrMalformed)
	}
	return sb.String(), i - off, nil
}

// checkLabel accepts LDH labels plus '_' (length is checked by the caller's
// 6-bit length field: at most 63).
func checkLabel(l []byte) error {
	for _, c := range l {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return fmt.Errorf("label %q: byte 0x%02x not allowed in a host name", l, c)
		}
	}
	return nil
}

func bad120(off int, why string, kind error) error {
	return failure.New(failure.StageDiscover, failure.Opt120Invalid,
		&DecodeError{Option: 120, Offset: off, Reason: why, Err: kind})
}

// EncodeOpt120Names encodes names with RFC 3361 encoding 0 (no compression).
// A trailing dot is allowed and ignored.
func EncodeOpt120Names(names ...string) ([]byte, error) {
	if len(names) == 0 {
		return nil, fmt.Errorf("msuc: encode option 120: no names")
	}
	b := []byte{EncodingNames}
	for _, name := range names {
		name = strings.TrimSuffix(name, ".")
		if name == "" {
			return nil, fmt.Errorf("msuc: encode option 120: empty name")
		}
		start := len(b)
		for _, label := range strings.Split(name, ".") {
			if len(label) == 0 || len(label) > maxLabel {
				return nil, fmt.Errorf("msuc: encode option 120: %q: label length %d not in 1..%d", name, len(label), maxLabel)
			}
			if err := checkLabel([]byte(label)); err != nil {
				return nil, fmt.Errorf("msuc: encode option 120: %q: %w", name, err)
			}
			b = append(b, byte(len(label)))
			b = append(b, label...)
		}
		b = append(b, 0)
		if len(b)-start > maxName {
			return nil, fmt.Errorf("msuc: encode option 120: %q longer than %d bytes", name, maxName)
		}
	}
	return b, nil
}

// EncodeOpt120IPv4 encodes addresses with RFC 3361 encoding 1.
func EncodeOpt120IPv4(ips ...netip.Addr) ([]byte, error) {
	if len(ips) == 0 {
		return nil, fmt.Errorf("msuc: encode option 120: no addresses")
	}
	b := []byte{EncodingIPv4}
	for _, ip := range ips {
		if !ip.Is4() {
			return nil, fmt.Errorf("msuc: encode option 120: %s is not IPv4", ip)
		}
		a := ip.As4()
		b = append(b, a[:]...)
	}
	return b, nil
}
