package msuc

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/deskphone/deskphone/bootstrap/failure"
)

// VendorClass is the DHCP option 60 value the phone sends and the responder
// matches (case-sensitive).
const VendorClass = "MS-UC-Client"

// Option 43 sub-option codes for vendor class MS-UC-Client.
const (
	SubUCIdentifier byte = 1
	SubURLScheme    byte = 2
	SubWebFQDN      byte = 3
	SubWebPort      byte = 4
	SubRelPath      byte = 5

	subPad byte = 0x00
	subEnd byte = 0xFF
)

// Defaults used when a sub-option is absent.
const (
	DefaultScheme  = "https"
	DefaultPort    = 443
	DefaultRelPath = "/CertProv/CertProvisioningService.svc"
)

// Sentinel errors, matched with errors.Is through the *DecodeError and
// *failure.Error wrappers.
var (
	// ErrTruncated means a sub-option (or a name in option 120) claims more
	// bytes than the option holds.
	ErrTruncated = errors.New("msuc: truncated")
	// ErrMalformed means the bytes are complete but invalid (bad port,
	// compression pointer, bad label, unknown encoding).
	ErrMalformed = errors.New("msuc: malformed")
)

// DecodeError says where decoding failed. It unwraps to ErrTruncated or
// ErrMalformed.
type DecodeError struct {
	Option int  // 43 or 120
	Sub    byte // sub-option code (option 43) or 0
	Offset int  // byte offset in the option value
	Reason string
	Err    error // ErrTruncated or ErrMalformed
}

func (e *DecodeError) Error() string {
	if e.Option == 43 {
		return fmt.Sprintf("msuc: option 43 sub-option %d at offset %d: %s", e.Sub, e.Offset, e.Reason)
	}
	return fmt.Sprintf("msuc: option %d at offset %d: %s", e.Option, e.Offset, e.Reason)
}

// Unwrap returns ErrTruncated or ErrMalformed.
func (e *DecodeError) Unwrap() error { return e.Err }

// Info is the decoded MS-UC-Client option 43. Absent sub-options are zero
// values; Port is 0 when sub-option 4 is absent (use EffectivePort).
type Info struct {
	UCIdentifier string `json:"uc_identifier,omitempty"`
	Scheme       string `json:"scheme,omitempty"`
	WebFQDN      string `json:"web_fqdn,omitempty"`
	Port         int    `json:"port,omitempty"`
	RelPath      string `json:"rel_path,omitempty"`
}

// EffectivePort is Port, or DefaultPort (443) when sub-option 4 was absent.
func (i Info) EffectivePort() int {
	if i.Port == 0 {
		return DefaultPort
	}
	return i.Port
}

// URL returns <scheme>://<fqdn>:<port><relpath> with the defaults for absent
// scheme, port and path, or "" when the web FQDN is absent.
func (i Info) URL() string {
	if i.WebFQDN == "" {
		return ""
	}
	scheme, path := i.Scheme, i.RelPath
	if scheme == "" {
		scheme = DefaultScheme
	}
	if path == "" {
		path = DefaultRelPath
	}
	if path[0] != '/' {
		path = "/" + path
	}
	return scheme + "://" + i.WebFQDN + ":" + strconv.Itoa(i.EffectivePort()) + path
}

// DecodeOpt43 decodes an MS-UC-Client option 43 value. On a truncated
// sub-option it returns the sub-options read so far and a *failure.Error with
// code Opt43Truncated wrapping a *DecodeError (errors.Is(err, ErrTruncated)).
// A bad port returns a *DecodeError wrapping ErrMalformed. A repeated
// sub-option keeps its first value.
func DecodeOpt43(b []byte) (Info, error) {
	var info Info
	seen := [6]bool{}
	for i := 0; i < len(b); {
		code := b[i]
		switch code {
		case subPad:
			i++
			continue
		case subEnd:
			return info, nil
		}
		if i+1 >= len(b) {
			return info, truncated43(code, i, "no length byte")
		}
		n := int(b[i+1])
		start := i + 2
		if start+n > len(b) {
			return info, truncated43(code, i, fmt.Sprintf("length %d, %d bytes left", n, len(b)-start))
		}
		val := b[start : start+n]
		i = start + n
		if int(code) < len(seen) {
			if seen[code] {
				continue
			}
			seen[code] = true
		}
		switch code {
		case SubUCIdentifier:
			info.UCIdentifier = string(val)
		case SubURLScheme:
			info.Scheme = string(val)
		case SubWebFQDN:
			info.WebFQDN = string(val)
		case SubWebPort:
			p, err := parsePort(val)
			if err != nil {
				return info, &DecodeError{Option: 43, Sub: code, Offset: start - 2, Reason: err.Error(), Err: ErrMalformed}
			}
			info.Port = p
		case SubRelPath:
			info.RelPath = string(val)
		}
	}
	return info, nil
}

func truncated43(code byte, off int, why string) error {
	return failure.New(failure.StageDiscover, failure.Opt43Truncated,
		&DecodeError{Option: 43, Sub: code, Offset: off, Reason: "truncated: " + why, Err: ErrTruncated})
}

// parsePort parses 1–5 ASCII digits in 1..65535.
func parsePort(b []byte) (int, error) {
	if len(b) == 0 || len(b) > 5 {
		return 0, fmt.Errorf("port %q: want 1-5 ascii digits", b)
	}
	p := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("port %q: want ascii digits", b)
		}
		p = p*10 + int(c-'0')
	}
	if p < 1 || p > 65535 {
		return 0, fmt.Errorf("port %q: out of range", b)
	}
	return p, nil
}

// EncodeOpt43 encodes info in the DHCPUtil/Kea layout: sub-options 1..5 in
// order, empty fields omitted, no end byte. Port 0 omits sub-option 4.
func EncodeOpt43(info Info) ([]byte, error) {
	return appendOpt43(nil, info, false)
}

// EncodeOpt43Reversed encodes info the way dnsmasq 2.90 does: sub-options
// 5..1 followed by a 0xFF end byte.
func EncodeOpt43Reversed(info Info) ([]byte, error) {
	return appendOpt43(nil, info, true)
}

func appendOpt43(b []byte, info Info, reversed bool) ([]byte, error) {
	type sub struct {
		code byte
		val  string
	}
	port := ""
	if info.Port != 0 {
		if info.Port < 1 || info.Port > 65535 {
			return nil, fmt.Errorf("msuc: encode option 43: port %d out of range", info.Port)
		}
		port = strconv.Itoa(info.Port)
	}
	subs := []sub{
		{SubUCIdentifier, info.UCIdentifier},
		{SubURLScheme, info.Scheme},
		{SubWebFQDN, info.WebFQDN},
		{SubWebPort, port},
		{SubRelPath, info.RelPath},
	}
	if reversed {
		for i, j := 0, len(subs)-1; i < j; i, j = i+1, j-1 {
			subs[i], subs[j] = subs[j], subs[i]
		}
	}
	for _, s := range subs {
		if s.val == "" {
			continue
		}
		if len(s.val) > 255 {
			return nil, fmt.Errorf("msuc: encode option 43: sub-option %d is %d bytes, max 255", s.code, len(s.val))
		}
		b = append(b, s.code, byte(len(s.val)))
		b = append(b, s.val...)
	}
	if reversed {
		b = append(b, subEnd)
	}
	return b, nil
}
