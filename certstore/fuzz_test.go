package certstore

import (
	"bytes"
	"testing"
)

// FuzzDecodeSlot: decoding a slot image never panics, and a decoded slot
// re-encodes to the same bytes.
func FuzzDecodeSlot(f *testing.F) {
	f.Add(encodeSlot(1, 0, []byte("x")))
	f.Fuzz(func(t *testing.T, img []byte) {
		h, payload, err := decodeSlot(img)
		if err != nil {
			return
		}
		if h.tombstone() && len(payload) != 0 {
			t.Fatal("tombstone with payload decoded")
		}
		again := encodeSlot(h.seq, h.flags, payload)
		if !bytes.Equal(again, img[:headerSize+len(payload)]) {
			t.Fatalf("re-encoding differs:\n got %x\nwant %x", again, img[:headerSize+len(payload)])
		}
		if _, err := decodeHeader(img, int64(len(payload))); err != nil {
			t.Fatalf("header no longer decodes with exact room: %v", err)
		}
	})
}

// FuzzDecodeRecord: the record decoder never panics; a decoded record
// encodes, and that encoding is a fixed point (decode → encode → decode →
// encode gives the same bytes).
func FuzzDecodeRecord(f *testing.F) {
	f.Add([]byte(`{"version":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRecord(b)
		if err != nil {
			return
		}
		enc, err := encodeRecord(r)
		if err != nil {
			t.Fatalf("decoded record does not encode: %v", err)
		}
		r2, err := decodeRecord(enc)
		if err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		enc2, err := encodeRecord(r2)
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not a fixed point (err %v)", err)
		}
		_ = r.LogValue().String()
	})
}

// FuzzDecodeRoots: the site-roots decoder never panics and round-trips.
func FuzzDecodeRoots(f *testing.F) {
	f.Add([]byte(`{"version":1,"roots":[]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		cs, err := decodeRoots(b)
		if err != nil {
			return
		}
		cs2, err := decodeRoots(encodeRoots(cs))
		if err != nil || len(cs2) != len(cs) {
			t.Fatalf("round trip: %d → %d roots, %v", len(cs), len(cs2), err)
		}
		for i := range cs {
			if !cs[i].Equal(cs2[i]) {
				t.Fatalf("root %d differs after round trip", i)
			}
		}
	})
}
