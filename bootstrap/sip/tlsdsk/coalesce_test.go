package tlsdsk

import (
	"bytes"
	"testing"
)

func rec(typ byte, ver uint16, frag ...byte) []byte {
	return append([]byte{typ, byte(ver >> 8), byte(ver), byte(len(frag) >> 8), byte(len(frag))}, frag...)
}

func cat(bs ...[]byte) []byte { return bytes.Join(bs, nil) }

func TestCoalesceHandshake(t *testing.T) {
	big := bytes.Repeat([]byte{0xAB}, maxPlaintext-2)
	for _, tt := range []struct {
		name    string
		in, out []byte
	}{
		{"empty", nil, nil},
		{"single", rec(22, 0x301, 1, 2), rec(22, 0x301, 1, 2)},
		{"server flight", cat(rec(22, 0x301, 2, 0, 0, 1, 9), rec(22, 0x301, 11, 0, 0, 0), rec(22, 0x301, 14, 0, 0, 0)),
			rec(22, 0x301, 2, 0, 0, 1, 9, 11, 0, 0, 0, 14, 0, 0, 0)},
		{"encrypted finished kept apart", cat(rec(22, 0x301, 11), rec(22, 0x301, 16), rec(20, 0x301, 1), rec(22, 0x301, 0xEE, 0xEE)),
			cat(rec(22, 0x301, 11, 16), rec(20, 0x301, 1), rec(22, 0x301, 0xEE, 0xEE))},
		{"after ccs nothing merges", cat(rec(20, 0x301, 1), rec(22, 0x301, 1), rec(22, 0x301, 2)),
			cat(rec(20, 0x301, 1), rec(22, 0x301, 1), rec(22, 0x301, 2))},
		{"alert splits", cat(rec(22, 0x301, 1), rec(21, 0x301, 2, 40), rec(22, 0x301, 3)),
			cat(rec(22, 0x301, 1), rec(21, 0x301, 2, 40), rec(22, 0x301, 3))},
		{"version change splits", cat(rec(22, 0x301, 1), rec(22, 0x303, 2)), cat(rec(22, 0x301, 1), rec(22, 0x303, 2))},
		{"size limit", cat(rec(22, 0x301, big...), rec(22, 0x301, 1, 2, 3)), cat(rec(22, 0x301, big...), rec(22, 0x301, 1, 2, 3))},
		{"truncated unchanged", cat(rec(22, 0x301, 1), []byte{22, 3, 1, 0, 9, 1}), cat(rec(22, 0x301, 1), []byte{22, 3, 1, 0, 9, 1})},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := coalesceHandshake(tt.in); !bytes.Equal(got, tt.out) {
				t.Errorf("coalesceHandshake(% x)\n got % x\nwant % x", tt.in, got, tt.out)
			}
		})
	}
}
