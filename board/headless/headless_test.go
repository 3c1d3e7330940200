package headless

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/deskphone/deskphone/board/boardtest"
)

func TestConformance(t *testing.T) {
	b, err := Open(Options{})
	if err != nil {
		t.Fatal(err)
	}
	boardtest.Run(t, b, boardtest.Options{Destructive: true})
}

func TestImagePersists(t *testing.T) {
	p := filepath.Join(t.TempDir(), "flash.img")
	f, err := OpenImage(p, 8192, 4096)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{0x0F, 0xF0}, 10); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{0xFF, 0x3C}, 10); err != nil { // AND: cannot set bits
		t.Fatal(err)
	}
	f.Close()
	g, err := OpenImage(p, 8192, 4096)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	b := make([]byte, 2)
	g.ReadAt(b, 10)
	if b[0] != 0x0F || b[1] != 0x30 {
		t.Fatalf("got % x", b)
	}
	if err := g.Erase(1, 4096); err == nil {
		t.Fatal("unaligned erase accepted")
	}
	if _, err := OpenImage(p, 4096, 4096); err == nil {
		t.Fatal("size mismatch accepted")
	}
	_ = context.Background()
	c := &Clock{}
	want := time.Now().Add(48 * time.Hour)
	c.Set(want)
	if d := c.Now().Sub(want); d < 0 || d > time.Second {
		t.Fatalf("clock offset wrong: %v", d)
	}
}
