package headless

import (
	"os"
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

func TestClockOffset(t *testing.T) {
	c := &Clock{}
	want := time.Now().Add(48 * time.Hour)
	if err := c.Set(want); err != nil {
		t.Fatal(err)
	}
	if d := c.Now().Sub(want); d < 0 || d > time.Second {
		t.Fatalf("clock offset wrong: %v", d)
	}
}

func TestTemporaryFlashRemoved(t *testing.T) {
	b, err := Open(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Flash.WriteAt([]byte{0}, 0); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "f.img")
	b, err = Open(Options{FlashPath: p})
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	if _, err := os.Stat(p); err != nil {
		t.Fatal("named image must stay")
	}
}
