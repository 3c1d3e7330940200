package msuc

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// FuzzDecodeOpt43 decodes, re-encodes in both layouts and checks that both
// decode to the same Info.
func FuzzDecodeOpt43(f *testing.F) {
	f.Add(mustHex(f, dhcputil43))
	f.Add(dnsmasqOrder(f))
	f.Add(mustHex(f, dhcputil43)[:60])
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := DecodeOpt43(b)
		if err != nil {
			if !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrMalformed) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		for _, enc := range []func(Info) ([]byte, error){EncodeOpt43, EncodeOpt43Reversed} {
			out, err := enc(info)
			if err != nil {
				t.Fatalf("encode %+v: %v", info, err)
			}
			again, err := DecodeOpt43(out)
			if err != nil {
				t.Fatalf("decode %X: %v", out, err)
			}
			if !reflect.DeepEqual(info, again) {
				t.Fatalf("round trip: %+v != %+v", info, again)
			}
		}
	})
}

// FuzzDecodeOpt120 decodes and re-encodes; the canonical encoding must come
// back byte for byte.
func FuzzDecodeOpt120(f *testing.F) {
	f.Add(mustHex(f, dhcputil120))
	f.Add(mustHex(f, cussen120))
	f.Add(mustHex(f, "01C0000201"))
	f.Add(mustHex(f, "0001610001620163C000"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeOpt120(b)
		if err != nil {
			if !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrMalformed) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		var out []byte
		if s.Encoding == EncodingNames {
			out, err = EncodeOpt120Names(s.Names...)
		} else {
			out, err = EncodeOpt120IPv4(s.IPs...)
		}
		if err != nil {
			t.Fatalf("encode %+v: %v", s, err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("round trip: %X != %X", out, b)
		}
	})
}
