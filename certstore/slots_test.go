package certstore

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/deskphone/deskphone/board/sim"
)

func TestDecodeSlot(t *testing.T) {
	good := encodeSlot(7, 0, []byte("hello"))
	flip := func(i int, bit byte) []byte {
		b := bytes.Clone(good)
		b[i] ^= bit
		return b
	}
	withLen := func(n uint32) []byte {
		b := bytes.Clone(good)
		b[16], b[17], b[18], b[19] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
		return b
	}
	erased := bytes.Repeat([]byte{0xFF}, 64)
	garbage := make([]byte, 64)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range garbage {
		garbage[i] = byte(r.Uint32())
	}
	tomb := encodeSlot(9, flagTombstone, nil)
	badTomb := append(header{flags: flagTombstone, seq: 9, length: 1}.marshal(), 'x')

	for _, tt := range []struct {
		name    string
		img     []byte
		wantErr error
		seq     uint64
		payload string
	}{
		{name: "good", img: good, seq: 7, payload: "hello"},
		{name: "good with trailing erased bytes", img: append(bytes.Clone(good), 0xFF, 0xFF), seq: 7, payload: "hello"},
		{name: "empty payload", img: encodeSlot(1, 0, nil), seq: 1},
		{name: "tombstone", img: tomb, seq: 9},
		{name: "erased", img: erased, wantErr: errMagic},
		{name: "zeros", img: make([]byte, 64), wantErr: errMagic},
		{name: "garbage", img: garbage, wantErr: errMagic},
		{name: "short", img: good[:10], wantErr: errShort},
		{name: "nil", img: nil, wantErr: errShort},
		{name: "magic bit flip", img: flip(0, 0x01), wantErr: errMagic},
		{name: "version", img: flip(4, 0x02), wantErr: errVersion},
		{name: "unknown flag", img: flip(5, 0x80), wantErr: errFlags},
		{name: "reserved", img: flip(6, 0x01), wantErr: errReserved},
		{name: "seq bit flip", img: flip(15, 0x01), wantErr: errCRC},
		{name: "length bit flip down", img: flip(19, 0x01), wantErr: errCRC},
		{name: "crc bit flip", img: flip(23, 0x10), wantErr: errCRC},
		{name: "payload bit flip", img: flip(headerSize+2, 0x04), wantErr: errCRC},
		{name: "length past slot", img: withLen(6), wantErr: errLength},
		{name: "length huge", img: withLen(math.MaxUint32), wantErr: errLength},
		{name: "tombstone with payload", img: badTomb, wantErr: errLength},
		{name: "truncated payload", img: good[:len(good)-1], wantErr: errLength},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h, p, err := decodeSlot(tt.img)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("decodeSlot: err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if h.seq != tt.seq || string(p) != tt.payload {
				t.Errorf("decodeSlot = seq %d payload %q, want %d %q", h.seq, p, tt.seq, tt.payload)
			}
		})
	}
}

func TestPick(t *testing.T) {
	for _, tt := range []struct {
		name string
		seq  [2]uint64
		ok   [2]bool
		want int
	}{
		{name: "none valid", ok: [2]bool{false, false}, want: -1},
		{name: "only 0", seq: [2]uint64{5, 9}, ok: [2]bool{true, false}, want: 0},
		{name: "only 1", seq: [2]uint64{5, 9}, ok: [2]bool{false, true}, want: 1},
		{name: "both, 1 newer", seq: [2]uint64{5, 6}, ok: [2]bool{true, true}, want: 1},
		{name: "both, 0 newer", seq: [2]uint64{8, 7}, ok: [2]bool{true, true}, want: 0},
		{name: "equal seq prefers 0", seq: [2]uint64{3, 3}, ok: [2]bool{true, true}, want: 0},
		{name: "wrap: 0 after max", seq: [2]uint64{math.MaxUint64, 0}, ok: [2]bool{true, true}, want: 1},
		{name: "wrap: max before 0", seq: [2]uint64{0, math.MaxUint64}, ok: [2]bool{true, true}, want: 0},
		{name: "signed boundary", seq: [2]uint64{math.MaxInt64, math.MaxInt64 + 1}, ok: [2]bool{true, true}, want: 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := [2]header{{seq: tt.seq[0]}, {seq: tt.seq[1]}}
			if got := pick(h, tt.ok); got != tt.want {
				t.Errorf("pick = %d, want %d", got, tt.want)
			}
		})
	}
}

const (
	testEraseSize = 4096
	testFlashSize = 16 * testEraseSize
)

func newTestSlots(t *testing.T) (*sim.Flash, *Slots) {
	t.Helper()
	f := sim.NewFlash(testFlashSize, testEraseSize)
	s, err := NewSlots(f, 0, 4*testEraseSize)
	if err != nil {
		t.Fatal(err)
	}
	return f, s
}

func TestNewSlotsGeometry(t *testing.T) {
	f := sim.NewFlash(testFlashSize, testEraseSize)
	for _, tt := range []struct {
		name      string
		off, size int64
		ok        bool
	}{
		{"two blocks", 0, 2 * testEraseSize, true},
		{"region C", 12 * testEraseSize, 4 * testEraseSize, true},
		{"whole", 0, testFlashSize, true},
		{"odd blocks", 0, 3 * testEraseSize, false},
		{"unaligned off", 100, 2 * testEraseSize, false},
		{"past end", 15 * testEraseSize, 2 * testEraseSize, false},
		{"negative", -testEraseSize, 2 * testEraseSize, false},
		{"zero", 0, 0, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewSlots(f, tt.off, tt.size)
			if (err == nil) != tt.ok {
				t.Errorf("NewSlots(%d, %d) err = %v, want ok=%v", tt.off, tt.size, err, tt.ok)
			}
		})
	}
}

func TestSlotsReadWrite(t *testing.T) {
	f, s := newTestSlots(t)
	if _, err := s.Read(); !errors.Is(err, ErrNotExist) {
		t.Fatalf("Read on erased flash: %v, want ErrNotExist", err)
	}
	for i, want := range []string{"one", "two", "three", ""} {
		if err := s.Write([]byte(want)); err != nil {
			t.Fatalf("Write %d: %v", i, err)
		}
		got, err := s.Read()
		if err != nil || string(got) != want {
			t.Fatalf("Read after write %d = %q, %v; want %q", i, got, err, want)
		}
		// A fresh Slots on the same flash (a reboot) sees the same.
		s2, _ := NewSlots(f, 0, 4*testEraseSize)
		if got, err := s2.Read(); err != nil || string(got) != want {
			t.Fatalf("Read after reopen %d = %q, %v; want %q", i, got, err, want)
		}
	}
	if err := s.Delete(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Read(); !errors.Is(err, ErrNotExist) {
		t.Fatalf("Read after Delete: %v, want ErrNotExist", err)
	}
	before := f.BytesWritten()
	if err := s.Delete(); err != nil {
		t.Fatal(err)
	}
	if f.BytesWritten() != before {
		t.Error("second Delete wrote to flash")
	}
	if err := s.Write([]byte("back")); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Read(); err != nil || string(got) != "back" {
		t.Fatalf("Read after Delete+Write = %q, %v", got, err)
	}
}

func TestSlotsTooLarge(t *testing.T) {
	_, s := newTestSlots(t)
	if err := s.Write(make([]byte, s.MaxPayload())); err != nil {
		t.Fatalf("Write of MaxPayload: %v", err)
	}
	if err := s.Write(make([]byte, s.MaxPayload()+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Write past MaxPayload: %v, want ErrTooLarge", err)
	}
	if _, err := s.WriteIfChanged(make([]byte, s.MaxPayload()+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("WriteIfChanged past MaxPayload: %v, want ErrTooLarge", err)
	}
}

func TestSlotsWriteIfChanged(t *testing.T) {
	f, s := newTestSlots(t)
	for i, tt := range []struct {
		payload string
		wrote   bool
	}{
		{"a", true}, {"a", false}, {"b", true}, {"b", false}, {"a", true},
	} {
		before := f.BytesWritten()
		wrote, err := s.WriteIfChanged([]byte(tt.payload))
		if err != nil || wrote != tt.wrote {
			t.Fatalf("step %d: WriteIfChanged(%q) = %v, %v; want %v", i, tt.payload, wrote, err, tt.wrote)
		}
		if !tt.wrote && f.BytesWritten() != before {
			t.Fatalf("step %d: skipped write still touched flash", i)
		}
	}
}

// TestSlotsNeverEraseActive checks that a write leaves the active slot's
// bytes untouched.
func TestSlotsNeverEraseActive(t *testing.T) {
	f, s := newTestSlots(t)
	for i := range 6 {
		snap := f.Snapshot()
		h, ok, _, err := s.scanLocked()
		if err != nil {
			t.Fatal(err)
		}
		active := pick(h, ok)
		if err := s.Write(bytes.Repeat([]byte{byte(i)}, 5000)); err != nil {
			t.Fatal(err)
		}
		if active < 0 {
			continue
		}
		lo, hi := s.slotOff(active), s.slotOff(active)+s.slotSize
		if !bytes.Equal(snap[lo:hi], f.Snapshot()[lo:hi]) {
			t.Fatalf("write %d changed the active slot %d", i, active)
		}
	}
}

func TestSlotsGarbageAndErased(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, tt := range []struct {
		name string
		fill func(f *sim.Flash)
	}{
		{"erased", func(*sim.Flash) {}},
		{"zeros", func(f *sim.Flash) { f.WriteAt(make([]byte, testFlashSize), 0) }},
		{"random", func(f *sim.Flash) {
			b := make([]byte, testFlashSize)
			for i := range b {
				b[i] = byte(r.Uint32())
			}
			f.WriteAt(b, 0)
		}},
		{"magic and junk", func(f *sim.Flash) {
			b := bytes.Repeat(append(slotMagic[:], 1, 0, 0, 0, 0xFF, 0xFF), testFlashSize/10)
			f.WriteAt(b, 0)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := sim.NewFlash(testFlashSize, testEraseSize)
			tt.fill(f)
			s, err := NewSlots(f, 0, 4*testEraseSize)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Read(); !errors.Is(err, ErrNotExist) {
				t.Fatalf("Read: %v, want ErrNotExist", err)
			}
			st := Open(s, testLogger(t))
			if _, err := st.Load(); !errors.Is(err, ErrNotExist) {
				t.Fatalf("Load: %v, want ErrNotExist", err)
			}
			// And the area is usable afterwards.
			if err := s.Write([]byte("fresh")); err != nil {
				t.Fatal(err)
			}
			if got, err := s.Read(); err != nil || string(got) != "fresh" {
				t.Fatalf("Read after Write = %q, %v", got, err)
			}
		})
	}
}

// TestSlotsSeqWrap starts from a slot at seq 2^64-1 and checks the next
// write (seq 0) wins.
func TestSlotsSeqWrap(t *testing.T) {
	f, s := newTestSlots(t)
	if _, err := f.WriteAt(encodeSlot(math.MaxUint64, 0, []byte("old")), s.slotOff(1)); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Read(); err != nil || string(got) != "old" {
		t.Fatalf("Read = %q, %v", got, err)
	}
	if err := s.Write([]byte("new")); err != nil {
		t.Fatal(err)
	}
	h, ok, _, _ := s.scanLocked()
	if !ok[0] || h[0].seq != 0 {
		t.Fatalf("slot 0 = %+v ok=%v, want seq 0", h[0], ok[0])
	}
	if got, err := s.Read(); err != nil || string(got) != "new" {
		t.Fatalf("Read after wrap = %q, %v", got, err)
	}
}

// TestSlotsTornInactive: whatever a torn write leaves in the inactive slot,
// the active one still wins.
func TestSlotsTornInactive(t *testing.T) {
	f, s := newTestSlots(t)
	if err := s.Write([]byte("old-1")); err != nil {
		t.Fatal(err)
	}
	if err := s.Write([]byte("old-2")); err != nil {
		t.Fatal(err)
	}
	payload := bytes.Repeat([]byte("n"), 300)
	base := f.BytesWritten()
	f.CutAfterBytes(testEraseSize + 100) // erase done, payload torn
	if err := s.Write(payload); !errors.Is(err, sim.ErrPowerCut) {
		t.Fatalf("Write: %v, want power cut", err)
	}
	f.PowerOn()
	if f.BytesWritten()-base != testEraseSize+100 {
		t.Fatalf("wrote %d bytes", f.BytesWritten()-base)
	}
	s2, _ := NewSlots(f, 0, 4*testEraseSize)
	if got, err := s2.Read(); err != nil || string(got) != "old-2" {
		t.Fatalf("Read after torn write = %q, %v; want old-2", got, err)
	}
}
