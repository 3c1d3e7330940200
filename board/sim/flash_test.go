package sim

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestFlashEraseAndWrite(t *testing.T) {
	f := NewFlash(16, 4)
	if f.Size() != 16 || f.EraseSize() != 4 {
		t.Fatalf("geometry = %d/%d", f.Size(), f.EraseSize())
	}
	if got := f.Snapshot(); !bytes.Equal(got, bytes.Repeat([]byte{0xFF}, 16)) {
		t.Fatalf("new flash not erased: % x", got)
	}
	// AND semantics: 0xF0 then 0x3C gives 0x30; writing 0xFF changes nothing.
	for _, b := range []byte{0xF0, 0x3C, 0xFF} {
		if n, err := f.WriteAt([]byte{b}, 5); n != 1 || err != nil {
			t.Fatalf("WriteAt = %d, %v", n, err)
		}
	}
	got := make([]byte, 1)
	if _, err := f.ReadAt(got, 5); err != nil || got[0] != 0x30 {
		t.Fatalf("after AND writes: %#x, %v; want 0x30", got[0], err)
	}
	if err := f.Erase(4, 4); err != nil {
		t.Fatal(err)
	}
	if _, err := f.ReadAt(got, 5); err != nil || got[0] != 0xFF {
		t.Fatalf("after erase: %#x, %v", got[0], err)
	}
	if f.Ops() != 4 || f.BytesWritten() != 7 {
		t.Errorf("Ops=%d BytesWritten=%d, want 4 and 7", f.Ops(), f.BytesWritten())
	}
}

func TestFlashErrors(t *testing.T) {
	f := NewFlash(16, 4)
	buf := make([]byte, 4)
	for _, tt := range []struct {
		name string
		err  error
		want error
	}{
		{"erase unaligned off", f.Erase(2, 4), ErrUnaligned},
		{"erase unaligned len", f.Erase(4, 2), ErrUnaligned},
		{"erase past end", f.Erase(12, 8), ErrOutOfRange},
		{"erase negative", f.Erase(-4, 4), ErrOutOfRange},
		{"write past end", second(f.WriteAt(buf, 14)), ErrOutOfRange},
		{"write negative", second(f.WriteAt(buf, -1)), ErrOutOfRange},
		{"read negative", second(f.ReadAt(buf, -1)), ErrOutOfRange},
		{"read at end", second(f.ReadAt(buf, 16)), io.EOF},
		{"read across end", second(f.ReadAt(buf, 14)), io.EOF},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if !errors.Is(tt.err, tt.want) {
				t.Errorf("err = %v, want %v", tt.err, tt.want)
			}
		})
	}
	if got := f.Snapshot(); !bytes.Equal(got, bytes.Repeat([]byte{0xFF}, 16)) {
		t.Errorf("rejected operations changed the flash: % x", got)
	}
	if f.Ops() != 0 {
		t.Errorf("rejected operations counted: %d", f.Ops())
	}
}

func second(_ int, err error) error { return err }

func TestFlashCutAfterBytes(t *testing.T) {
	for _, tt := range []struct {
		name  string
		cut   int64
		wantN int
		want  []byte
	}{
		{"cut before first byte", 0, 0, []byte{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}},
		{"cut mid write", 3, 3, []byte{0x01, 0x02, 0x03, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}},
		{"cut at last byte", 5, 5, []byte{0x01, 0x02, 0x03, 0x04, 0x05, 0xFF, 0xFF, 0xFF}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := NewFlash(8, 4)
			f.CutAfterBytes(tt.cut)
			n, err := f.WriteAt([]byte{1, 2, 3, 4, 5, 6}, 0)
			if n != tt.wantN || !errors.Is(err, ErrPowerCut) {
				t.Fatalf("WriteAt = %d, %v; want %d, ErrPowerCut", n, err, tt.wantN)
			}
			if got := f.Snapshot(); !bytes.Equal(got, tt.want) {
				t.Errorf("contents % x, want % x", got, tt.want)
			}
			assertDead(t, f)
			f.PowerOn()
			if f.PoweredOff() {
				t.Fatal("still off after PowerOn")
			}
			if _, err := f.WriteAt([]byte{0}, 7); err != nil {
				t.Errorf("write after PowerOn: %v", err)
			}
		})
	}
}

func TestFlashCutExactFitCompletes(t *testing.T) {
	f := NewFlash(8, 4)
	f.CutAfterBytes(4)
	if n, err := f.WriteAt([]byte{0, 0, 0, 0}, 0); n != 4 || err != nil {
		t.Fatalf("write within budget = %d, %v", n, err)
	}
	if n, err := f.WriteAt([]byte{0}, 4); n != 0 || !errors.Is(err, ErrPowerCut) {
		t.Fatalf("write past budget = %d, %v", n, err)
	}
}

func TestFlashCutMidErase(t *testing.T) {
	f := NewFlash(16, 4)
	if _, err := f.WriteAt(make([]byte, 16), 0); err != nil {
		t.Fatal(err)
	}
	f.CutAfterBytes(6)
	if err := f.Erase(4, 8); !errors.Is(err, ErrPowerCut) {
		t.Fatalf("Erase = %v, want ErrPowerCut", err)
	}
	want := []byte{0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0}
	if got := f.Snapshot(); !bytes.Equal(got, want) {
		t.Errorf("after cut erase: % x, want % x", got, want)
	}
	assertDead(t, f)
}

func TestFlashCutAfterOps(t *testing.T) {
	f := NewFlash(8, 4)
	f.CutAfterOps(2)
	if _, err := f.WriteAt([]byte{0x0F}, 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Erase(4, 4); err != nil {
		t.Fatal(err)
	}
	if n, err := f.WriteAt([]byte{0x00}, 1); n != 0 || !errors.Is(err, ErrPowerCut) {
		t.Fatalf("third op = %d, %v; want 0, ErrPowerCut", n, err)
	}
	if got := f.Snapshot(); got[1] != 0xFF {
		t.Errorf("cut op applied: % x", got)
	}
	if f.Ops() != 2 {
		t.Errorf("Ops = %d, want 2", f.Ops())
	}
	assertDead(t, f)
	f.PowerOn()
	if err := f.Erase(0, 4); err != nil {
		t.Errorf("after PowerOn: %v", err)
	}
}

func TestFlashDisarm(t *testing.T) {
	f := NewFlash(8, 4)
	f.CutAfterBytes(0)
	f.CutAfterBytes(-1)
	f.CutAfterOps(0)
	f.CutAfterOps(-5)
	if _, err := f.WriteAt([]byte{1, 2}, 0); err != nil {
		t.Fatal(err)
	}
}

// TestFlashSweep shows the intended use: a workload (erase then write) run
// with a cut at every byte leaves the erase partly done, or the write a
// prefix, and the run that fits completes.
func TestFlashSweep(t *testing.T) {
	payload := []byte{0x11, 0x22, 0x33, 0x44}
	work := func(f *Flash) error {
		if err := f.Erase(0, 4); err != nil {
			return err
		}
		_, err := f.WriteAt(payload, 0)
		return err
	}
	for cut := int64(0); cut <= 8; cut++ {
		f := NewFlash(4, 4)
		if _, err := f.WriteAt([]byte{0, 0, 0, 0}, 0); err != nil {
			t.Fatal(err)
		}
		f.CutAfterBytes(cut)
		err := work(f)
		want := make([]byte, 4)
		switch {
		case cut < 4: // mid erase
			copy(want, bytes.Repeat([]byte{0xFF}, int(cut)))
		default: // erase done, write prefix
			copy(want, bytes.Repeat([]byte{0xFF}, 4))
			copy(want, payload[:cut-4])
		}
		if (err == nil) != (cut == 8) || (err != nil && !errors.Is(err, ErrPowerCut)) {
			t.Errorf("cut %d: err = %v", cut, err)
		}
		if got := f.Snapshot(); !bytes.Equal(got, want) {
			t.Errorf("cut %d: % x, want % x", cut, got, want)
		}
	}
}

func TestFlashFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flash.img")
	f, err := OpenFlashFile(path, 8192, 4096)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() != 8192 || st.Mode().Perm() != 0o600 {
		t.Errorf("image size %d mode %v", st.Size(), st.Mode().Perm())
	}
	if _, err := f.WriteAt([]byte("hello"), 4096); err != nil {
		t.Fatal(err)
	}
	f.CutAfterBytes(2)
	if n, err := f.WriteAt([]byte{0, 0, 0}, 0); n != 2 || !errors.Is(err, ErrPowerCut) {
		t.Fatalf("cut write = %d, %v", n, err)
	}
	if err := f.Sync(); !errors.Is(err, ErrPowerCut) {
		t.Errorf("Sync while off = %v", err)
	}
	f.PowerOn()
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.ReadAt(make([]byte, 1), 0); !errors.Is(err, ErrClosed) {
		t.Errorf("read after close = %v", err)
	}

	// Warm boot: the image keeps what the first run left, cut write included.
	g, err := OpenFlashFile(path, 8192, 4096)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	got := make([]byte, 5)
	if _, err := g.ReadAt(got, 4096); err != nil || string(got) != "hello" {
		t.Errorf("reopened: %q, %v", got, err)
	}
	if _, err := g.ReadAt(got[:3], 0); err != nil || !bytes.Equal(got[:3], []byte{0, 0, 0xFF}) {
		t.Errorf("reopened cut range: % x, %v", got[:3], err)
	}
	if err := g.Erase(4096, 4096); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(raw[4096:], bytes.Repeat([]byte{0xFF}, 4096)) {
		t.Error("erase not written through to the image")
	}
}

func TestOpenFlashFileErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "flash.img")
	if err := os.WriteFile(path, make([]byte, 100), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenFlashFile(path, 8192, 4096); err == nil {
		t.Error("size mismatch accepted")
	}
	if _, err := OpenFlashFile(filepath.Join(dir, "x.img"), 8192, 3000); err == nil {
		t.Error("bad geometry accepted")
	}
	if _, err := OpenFlashFile(filepath.Join(dir, "missing", "x.img"), 8192, 4096); err == nil {
		t.Error("missing directory accepted")
	}
}

func TestNewFlashPanicsOnBadGeometry(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	NewFlash(10, 4)
}

func assertDead(t *testing.T, f *Flash) {
	t.Helper()
	if !f.PoweredOff() {
		t.Error("PoweredOff = false after cut")
	}
	if _, err := f.ReadAt(make([]byte, 1), 0); !errors.Is(err, ErrPowerCut) {
		t.Errorf("ReadAt while off = %v", err)
	}
	if _, err := f.WriteAt([]byte{0}, 0); !errors.Is(err, ErrPowerCut) {
		t.Errorf("WriteAt while off = %v", err)
	}
	if err := f.Erase(0, f.EraseSize()); !errors.Is(err, ErrPowerCut) {
		t.Errorf("Erase while off = %v", err)
	}
	if err := f.Sync(); !errors.Is(err, ErrPowerCut) {
		t.Errorf("Sync while off = %v", err)
	}
}
