package frame

import (
	"bytes"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"io"
	"strings"
	"testing"
)

func TestEncodeVectors(t *testing.T) {
	for _, tt := range []struct {
		name    string
		payload []byte
		want    string // hex, delimiter included
	}{
		{"empty", nil, "010101010100"},
		{"hello", []byte(`{"v":1}`), "0c7b2276223a317dfdbaa3e800"},
		{"zeros", []byte{0, 0}, "010105d27761f100"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Encode(tt.payload)
			if err != nil {
				t.Fatal(err)
			}
			if h := hex.EncodeToString(got); h != tt.want {
				t.Errorf("Encode(%q) = %s, want %s", tt.payload, h, tt.want)
			}
			if bytes.IndexByte(got[:len(got)-1], 0) >= 0 {
				t.Errorf("encoded frame holds a zero before the delimiter: %x", got)
			}
			p, err := Decode(nil, got[:len(got)-1])
			if err != nil || !bytes.Equal(p, tt.payload) && len(tt.payload) > 0 {
				t.Errorf("Decode = %x, %v", p, err)
			}
		})
	}
}

func TestCRC32CCheckValue(t *testing.T) {
	// The standard check value of CRC-32C (RFC 3720 §B.4 style): "123456789".
	if got := crc32.Checksum([]byte("123456789"), castagnoli); got != 0xE3069283 {
		t.Errorf("crc32c check = %08x, want e3069283", got)
	}
}

func TestRoundTripSizes(t *testing.T) {
	for _, n := range []int{0, 1, 3, 4, 250, 251, 253, 254, 255, 508, 509, 1000, MaxPayload - 1, MaxPayload} {
		for _, fill := range []byte{0x00, 0x01, 0xFF} {
			p := bytes.Repeat([]byte{fill}, n)
			for i := 0; i < n; i += 7 {
				p[i] = byte(i)
			}
			enc, err := Encode(p)
			if err != nil {
				t.Fatalf("n=%d: %v", n, err)
			}
			if len(enc) > EncodedLen(n) {
				t.Errorf("n=%d: encoded %d bytes, EncodedLen says %d", n, len(enc), EncodedLen(n))
			}
			got, err := Decode(nil, enc[:len(enc)-1])
			if err != nil || !bytes.Equal(got, p) {
				t.Fatalf("n=%d fill=%x: round trip failed: %v", n, fill, err)
			}
		}
	}
	if _, err := Encode(make([]byte, MaxPayload+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Encode(MaxPayload+1) err = %v, want ErrTooLarge", err)
	}
}

func TestDecodeErrors(t *testing.T) {
	good, _ := Encode([]byte("abc"))
	good = good[:len(good)-1]
	flipped := bytes.Clone(good)
	flipped[2] ^= 0x40
	for _, tt := range []struct {
		name string
		enc  []byte
		want error
	}{
		{"short", []byte{0x02, 0x01}, ErrBadFrame},
		{"code past end", []byte{0x09, 1, 2}, ErrBadFrame},
		{"zero inside", []byte{0x03, 0, 1}, ErrBadFrame},
		{"bad crc", flipped, ErrBadCRC},
		{"truncated", good[:len(good)-1], ErrBadFrame},
		{"too large", bytes.Repeat([]byte{0xFF}, MaxEncoded+1), ErrTooLarge},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(nil, tt.enc)
			if !errors.Is(err, tt.want) {
				t.Errorf("Decode err = %v, want %v", err, tt.want)
			}
			if !Recoverable(err) {
				t.Errorf("Recoverable(%v) = false", err)
			}
		})
	}
}

func mustEncode(t testing.TB, s string) []byte {
	t.Helper()
	b, err := Encode([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecoderResync(t *testing.T) {
	a, b, c := mustEncode(t, "first"), mustEncode(t, "second"), mustEncode(t, "third")
	bad := bytes.Clone(b)
	bad[3] ^= 0x01
	huge := bytes.Repeat([]byte{0x41}, MaxEncoded+10)
	var stream bytes.Buffer
	stream.Write([]byte{0, 0, 0})       // idle fill
	stream.Write(a)                     // good
	stream.Write([]byte("garbage\x00")) // garbage up to a delimiter
	stream.Write(bad)                   // wrong CRC
	stream.Write(huge)                  // oversized, then delimiter
	stream.WriteByte(0)                 //
	stream.Write(b[:4])                 // partial frame, cut ...
	stream.WriteByte(0)                 // ... and flushed by the sender's leading delimiter
	stream.Write(c)                     // good
	stream.Write(b[:3])                 // unterminated tail at EOF

	d := NewDecoder(&stream)
	type result struct {
		payload string
		err     error
	}
	want := []result{
		{"first", nil},
		{"", ErrBadFrame}, // "garbage": 'g' = 0x67 points past the end
		{"", ErrBadCRC},
		{"", ErrTooLarge},
		{"", ErrBadFrame},
		{"third", nil},
		{"", io.EOF},
	}
	for i, w := range want {
		p, err := d.Next()
		switch {
		case w.err == nil && (err != nil || string(p) != w.payload):
			t.Errorf("frame %d: got %q, %v; want %q", i, p, err, w.payload)
		case w.err != nil && !errors.Is(err, w.err):
			t.Errorf("frame %d: err %v, want %v", i, err, w.err)
		}
	}
}

func TestDecoderByteAtATime(t *testing.T) {
	var stream bytes.Buffer
	for _, s := range []string{"one", strings.Repeat("x", 5000), "three"} {
		stream.Write(mustEncode(t, s))
	}
	d := NewDecoder(&oneByteReader{r: &stream})
	for _, want := range []string{"one", strings.Repeat("x", 5000), "three"} {
		p, err := d.Next()
		if err != nil || string(p) != want {
			t.Fatalf("got %d bytes, %v; want %d bytes", len(p), err, len(want))
		}
	}
}

type oneByteReader struct{ r io.Reader }

func (o *oneByteReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	return o.r.Read(p[:1])
}

func TestSplit(t *testing.T) {
	var stream bytes.Buffer
	stream.Write([]byte{0, 0})
	stream.Write(mustEncode(t, "a"))
	stream.Write(mustEncode(t, "b"))
	stream.Write([]byte{5, 1})
	var got []string
	data := stream.Bytes()
	for len(data) > 0 {
		adv, tok, err := Split(data, true)
		if err != nil || adv == 0 {
			t.Fatalf("Split: adv=%d err=%v", adv, err)
		}
		if tok != nil {
			p, err := Decode(nil, tok)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, string(p))
		}
		data = data[adv:]
	}
	if strings.Join(got, ",") != "a,b" {
		t.Errorf("Split frames = %q", got)
	}
}

func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte(`{"v":1,"id":1,"type":"req","cmd":"hello"}`))
	f.Add(bytes.Repeat([]byte{0}, 300))
	f.Fuzz(func(t *testing.T, p []byte) {
		if len(p) > MaxPayload {
			p = p[:MaxPayload]
		}
		enc, err := Encode(p)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.IndexByte(enc[:len(enc)-1], 0) >= 0 || enc[len(enc)-1] != 0 {
			t.Fatalf("bad delimiters in %x", enc)
		}
		got, err := NewDecoder(bytes.NewReader(enc)).Next()
		if err != nil || !bytes.Equal(got, p) {
			t.Fatalf("decode(encode(%x)) = %x, %v", p, got, err)
		}
	})
}

func FuzzDecoder(f *testing.F) {
	f.Add([]byte{0x0c, 0x7b, 0x22, 0x76, 0x22, 0x3a, 0x31, 0x7d, 0xfd, 0xba, 0xa3, 0xe8, 0x00})
	f.Add([]byte("garbage\x00\x05\x00\x01\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		d := NewDecoder(bytes.NewReader(b))
		for {
			p, err := d.Next()
			if err != nil {
				if Recoverable(err) {
					continue
				}
				return
			}
			enc, err := Encode(p)
			if err != nil {
				t.Fatalf("re-encode: %v", err)
			}
			q, err := Decode(nil, enc[:len(enc)-1])
			if err != nil || !bytes.Equal(p, q) {
				t.Fatalf("round trip of decoded frame failed")
			}
		}
	})
}

func benchPayload() []byte {
	p := make([]byte, 1024)
	for i := range p {
		p[i] = byte(i * 7)
	}
	return p
}

func BenchmarkEncode(b *testing.B) {
	p := benchPayload()
	buf := make([]byte, 0, EncodedLen(len(p)))
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = Append(buf[:0], p)
	}
}

func BenchmarkDecoder(b *testing.B) {
	enc, _ := Encode(benchPayload())
	stream := bytes.Repeat(enc, 256)
	r := bytes.NewReader(stream)
	d := NewDecoder(r)
	b.SetBytes(int64(len(benchPayload())))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Next(); err != nil {
			r.Reset(stream)
			if _, err := d.Next(); err != nil {
				b.Fatal(err)
			}
		}
	}
}
