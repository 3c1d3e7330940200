package certstore

import (
	"bytes"
	"errors"
	"sync"
	"testing"

	"github.com/deskphone/deskphone/board/sim"
)

func mustSlots(t *testing.T) *Slots {
	t.Helper()
	_, s := newTestSlots(t)
	return s
}

func TestLayout(t *testing.T) {
	f := sim.NewFlash(1<<20, 4096)
	cert, roots, state := Layout(f)
	want := [3]Region{{0, 512 << 10}, {512 << 10, 256 << 10}, {768 << 10, 256 << 10}}
	if got := [3]Region{cert, roots, state}; got != want {
		t.Fatalf("Layout = %+v, want %+v", got, want)
	}
	for _, r := range []Region{cert, roots, state} {
		if _, err := OpenSlots(f, r); err != nil {
			t.Errorf("OpenSlots(%+v): %v", r, err)
		}
	}
}

func TestStoreSaveLoadClear(t *testing.T) {
	p := newPKI(t, "pool.example.test")
	f := sim.NewFlash(testFlashSize, testEraseSize)
	certR, _, _ := Layout(f)
	open := func() *Store {
		s, err := OpenSlots(f, certR)
		if err != nil {
			t.Fatal(err)
		}
		return Open(s, testLogger(t))
	}
	st := open()
	if _, err := st.Load(); !errors.Is(err, ErrNotExist) {
		t.Fatalf("Load on empty flash: %v", err)
	}
	// A key generated before the PIN was typed survives a reboot.
	pending := &Record{PendingKey: rsaKey(t, 2), SIPURI: "sip:alice@example.test"}
	if err := st.Save(pending); err != nil {
		t.Fatal(err)
	}
	got, err := open().Load()
	if err != nil || !recordsEqual(got, pending) || got.Cert != nil {
		t.Fatalf("Load pending-only = %v, %v", got, err)
	}
	full := testRecord(t, 0, p)
	if err := st.Save(full); err != nil {
		t.Fatal(err)
	}
	got, err = open().Load()
	if err != nil || !recordsEqual(got, full) {
		t.Fatalf("Load full = %v, %v", got, err)
	}
	if err := got.Check(t0, 0); err != nil {
		t.Fatalf("loaded record Check: %v", err)
	}
	if err := st.Save(&Record{SIPURI: "no key"}); !errors.Is(err, ErrBadRecord) {
		t.Fatalf("Save of keyless record: %v", err)
	}
	if err := st.Clear(); err != nil {
		t.Fatal(err)
	}
	if _, err := open().Load(); !errors.Is(err, ErrNotExist) {
		t.Fatalf("Load after Clear: %v", err)
	}
}

func TestStoreSameRecordNotRewritten(t *testing.T) {
	p := newPKI(t, "pool.example.test")
	f, s := newTestSlots(t)
	st := Open(s, testLogger(t))
	r := testRecord(t, 0, p)
	if err := st.Save(r); err != nil {
		t.Fatal(err)
	}
	bytesBefore, opsBefore := f.BytesWritten(), f.Ops()
	if err := st.Save(r); err != nil {
		t.Fatal(err)
	}
	if f.BytesWritten() != bytesBefore || f.Ops() != opsBefore {
		t.Fatalf("second Save of the same record wrote %d bytes in %d ops",
			f.BytesWritten()-bytesBefore, f.Ops()-opsBefore)
	}
}

// sweepResult counts the crash points of a power-cut sweep.
type sweepResult struct {
	bytePoints, opPoints int
	sawOld, sawNew       int
}

// powerCutSweep runs op on a copy of the flash image img once per crash
// point: power lost after every byte offset of the bytes op writes or
// erases, and before every one of its operations. After each cut the flash is
// powered on and a fresh Store opened on it must load exactly wantOld or
// wantNew (nil: ErrNotExist), never anything else and never an error.
func powerCutSweep(t *testing.T, img []byte, op func(*Store) error, wantOld, wantNew []byte) sweepResult {
	t.Helper()
	// Only region A holds data; the rest of img is erased already.
	certR, _, _ := Layout(sim.NewFlash(int64(len(img)), testEraseSize))
	data := img[certR.Off : certR.Off+certR.Size]
	newFlash := func() (*sim.Flash, *Store) {
		f := sim.NewFlash(int64(len(img)), testEraseSize)
		if _, err := f.WriteAt(data, certR.Off); err != nil {
			t.Fatal(err)
		}
		s, err := OpenSlots(f, certR)
		if err != nil {
			t.Fatal(err)
		}
		return f, Open(s, nil)
	}
	// Dry run: how many bytes and operations does op take?
	f, st := newFlash()
	b0, o0 := f.BytesWritten(), f.Ops()
	if err := op(st); err != nil {
		t.Fatalf("op without power cut: %v", err)
	}
	totalBytes, totalOps := f.BytesWritten()-b0, f.Ops()-o0
	if got := reopen(t, f); !bytes.Equal(got, wantNew) {
		t.Fatal("op without power cut did not yield the new state")
	}

	var res sweepResult
	check := func(f *sim.Flash, what string, n int64) {
		f.PowerOn()
		got := reopen(t, f)
		switch {
		case bytes.Equal(got, wantOld):
			res.sawOld++
		case bytes.Equal(got, wantNew):
			res.sawNew++
		default:
			t.Fatalf("power cut %s %d: store holds neither the old nor the new record", what, n)
		}
	}
	for n := range totalBytes {
		f, st := newFlash()
		f.CutAfterBytes(n)
		if err := op(st); !errors.Is(err, sim.ErrPowerCut) {
			t.Fatalf("cut after %d bytes: op err = %v, want power cut", n, err)
		}
		check(f, "after byte", n)
		res.bytePoints++
	}
	for k := range totalOps {
		f, st := newFlash()
		f.CutAfterOps(k)
		if err := op(st); !errors.Is(err, sim.ErrPowerCut) {
			t.Fatalf("cut after %d ops: op err = %v, want power cut", k, err)
		}
		check(f, "after op", int64(k))
		res.opPoints++
	}
	return res
}

// memoDecode is decodeRecord memoized by payload: a sweep decodes the same
// two payloads thousands of times, and RSA key parsing dominates. Each
// distinct payload is still decoded for real once. It returns the record
// and, through encodings, the canonical re-encoding of each record.
var (
	memoMu    sync.Mutex
	memo      = map[string]*Record{}
	encodings = map[*Record][]byte{}
)

func memoDecode(b []byte) (*Record, error) {
	memoMu.Lock()
	defer memoMu.Unlock()
	if r, ok := memo[string(b)]; ok {
		return r, nil
	}
	r, err := decodeRecord(b)
	if err != nil {
		return nil, err
	}
	enc, err := encodeRecord(r)
	if err != nil {
		return nil, err
	}
	memo[string(b)], encodings[r] = r, enc
	return r, nil
}

// reopen opens a fresh Slots and Store on f (a reboot) and returns the
// encoding of the record Load returns, nil for ErrNotExist; any other error
// fails the test.
func reopen(t *testing.T, f *sim.Flash) []byte {
	t.Helper()
	certR, _, _ := Layout(f)
	s, err := OpenSlots(f, certR)
	if err != nil {
		t.Fatal(err)
	}
	st := Open(s, nil)
	st.decode = memoDecode
	r, err := st.Load()
	if errors.Is(err, ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatalf("Load after power cut: %v", err)
	}
	memoMu.Lock()
	defer memoMu.Unlock()
	return encodings[r]
}

func mustEncode(t *testing.T, r *Record) []byte {
	t.Helper()
	b, err := encodeRecord(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestStorePowerCut sweeps every crash point of Save and Clear, starting
// from a flash whose both slots hold records (so the inactive slot has an
// older, valid record that must never come back).
func TestStorePowerCut(t *testing.T) {
	if testing.Short() {
		t.Skip("power-cut sweep skipped in -short mode")
	}
	p := newPKI(t, "pool.example.test")
	older := testRecord(t, 0, p)
	old := testRecord(t, 1, p)
	old.PendingKey = rsaKey(t, 2)
	newer := testRecord(t, 2, p)
	newer.Chain = append(newer.Chain, p.root)

	// 32 KiB of flash: region A is 16 KiB, two 8 KiB slots.
	f := sim.NewFlash(8*testEraseSize, testEraseSize)
	certR, _, _ := Layout(f)
	s, err := OpenSlots(f, certR)
	if err != nil {
		t.Fatal(err)
	}
	st := Open(s, nil)
	for _, r := range []*Record{older, old} {
		if err := st.Save(r); err != nil {
			t.Fatal(err)
		}
	}
	img := f.Snapshot()

	var total int
	for _, tt := range []struct {
		name    string
		op      func(*Store) error
		wantNew []byte
	}{
		{"save", func(st *Store) error { return st.Save(newer) }, mustEncode(t, newer)},
		{"clear", func(st *Store) error { return st.Clear() }, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := powerCutSweep(t, img, tt.op, mustEncode(t, old), tt.wantNew)
			n := res.bytePoints + res.opPoints
			total += n
			t.Logf("%s: %d crash points (%d byte offsets, %d operations): old %d, new %d",
				tt.name, n, res.bytePoints, res.opPoints, res.sawOld, res.sawNew)
			if res.sawOld == 0 {
				t.Error("no crash point left the old record")
			}
		})
	}
	t.Logf("power-cut sweep: %d crash points in total", total)
}
