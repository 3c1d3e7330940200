package imageflash

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestImage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flash.img")
	f, err := Open(path, 8192, 4096)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{0xF0}, 10); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{0x3C}, 10); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []error{f.Erase(1, 4096), f.Erase(4096, 8192), second(f.WriteAt([]byte{1, 2}, 8191))} {
		if bad == nil {
			t.Error("bad range accepted")
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	g, err := Open(path, 8192, 4096)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	b := make([]byte, 2)
	if _, err := g.ReadAt(b, 10); err != nil || b[0] != 0x30 || b[1] != 0xFF {
		t.Errorf("reopened: % x, %v", b, err)
	}
	if n, err := g.ReadAt(make([]byte, 10), 8190); n != 2 || !errors.Is(err, io.EOF) {
		t.Errorf("read across end = %d, %v", n, err)
	}
	if _, err := Open(path, 4096, 4096); err == nil {
		t.Error("size mismatch accepted")
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("image mode %v, %v", st.Mode().Perm(), err)
	}
}

func second(_ int, err error) error { return err }
