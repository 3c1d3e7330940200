// Package imageflash is a board.Flash kept in a fixed-size partition image
// file, for boards without an MTD partition (an SD card, a lab box): NOR
// semantics (writes AND into the stored bytes, erase sets 0xFF) with an fsync
// after every write and erase, so that an operation that returned is
// durable, as on real flash.
package imageflash

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/deskphone/deskphone/board"
)

// Flash is a partition image file with NOR semantics.
type Flash struct {
	mu        sync.Mutex
	f         *os.File
	size      int64
	eraseSize int64
}

var (
	_ board.Flash  = (*Flash)(nil)
	_ board.Syncer = (*Flash)(nil)
)

// Open opens the image at path, creating it erased (0xFF, mode
// 0600, file and directory fsynced) if absent. An existing image of another
// size is an error.
func Open(path string, size, eraseSize int64) (*Flash, error) {
	if eraseSize <= 0 || size <= 0 || size%eraseSize != 0 {
		return nil, fmt.Errorf("imageflash: bad geometry size=%d erase_size=%d", size, eraseSize)
	}
	_, err := os.Stat(path)
	create := errors.Is(err, fs.ErrNotExist)
	if err != nil && !create {
		return nil, fmt.Errorf("imageflash: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("imageflash: %w", err)
	}
	fl := &Flash{f: f, size: size, eraseSize: eraseSize}
	if create {
		if err := fl.fillLocked(0, size); err != nil {
			f.Close()
			return nil, err
		}
		if err := syncDir(filepath.Dir(path)); err != nil {
			f.Close()
			return nil, err
		}
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("imageflash: %w", err)
	}
	if st.Size() != size {
		f.Close()
		return nil, fmt.Errorf("imageflash %s is %d bytes, want %d", path, st.Size(), size)
	}
	return fl, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("imageflash: sync dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("imageflash: sync dir: %w", err)
	}
	return nil
}

// Size implements board.Flash.
func (fl *Flash) Size() int64 { return fl.size }

// EraseSize implements board.Flash.
func (fl *Flash) EraseSize() int64 { return fl.eraseSize }

// ReadAt implements board.Flash.
func (fl *Flash) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("imageflash: read at %d: out of range", off)
	}
	if off >= fl.size {
		return 0, io.EOF
	}
	q := p
	if int64(len(q)) > fl.size-off {
		q = q[:fl.size-off]
	}
	n, err := fl.f.ReadAt(q, off)
	if err != nil {
		return n, fmt.Errorf("imageflash: read at %d: %w", off, err)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// WriteAt implements board.Flash: the bytes are ANDed into the image, then
// the file is fsynced.
func (fl *Flash) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off > fl.size || int64(len(p)) > fl.size-off {
		return 0, fmt.Errorf("imageflash: write %d bytes at %d: out of range", len(p), off)
	}
	fl.mu.Lock()
	defer fl.mu.Unlock()
	cur := make([]byte, len(p))
	if _, err := fl.f.ReadAt(cur, off); err != nil {
		return 0, fmt.Errorf("imageflash: write at %d: %w", off, err)
	}
	for i := range cur {
		cur[i] &= p[i]
	}
	if _, err := fl.f.WriteAt(cur, off); err != nil {
		return 0, fmt.Errorf("imageflash: write at %d: %w", off, err)
	}
	if err := fl.f.Sync(); err != nil {
		return 0, fmt.Errorf("imageflash: sync: %w", err)
	}
	return len(p), nil
}

// Erase implements board.Flash.
func (fl *Flash) Erase(off, n int64) error {
	if off < 0 || n < 0 || off > fl.size || n > fl.size-off {
		return fmt.Errorf("imageflash: erase %d bytes at %d: out of range", n, off)
	}
	if off%fl.eraseSize != 0 || n%fl.eraseSize != 0 {
		return fmt.Errorf("imageflash: erase %d bytes at %d: not aligned to %d", n, off, fl.eraseSize)
	}
	fl.mu.Lock()
	defer fl.mu.Unlock()
	return fl.fillLocked(off, n)
}

func (fl *Flash) fillLocked(off, n int64) error {
	blk := make([]byte, min(n, 64<<10))
	for i := range blk {
		blk[i] = 0xFF
	}
	for done := int64(0); done < n; {
		chunk := blk[:min(int64(len(blk)), n-done)]
		if _, err := fl.f.WriteAt(chunk, off+done); err != nil {
			return fmt.Errorf("imageflash: erase at %d: %w", off+done, err)
		}
		done += int64(len(chunk))
	}
	if err := fl.f.Sync(); err != nil {
		return fmt.Errorf("imageflash: sync: %w", err)
	}
	return nil
}

// Sync implements board.Syncer.
func (fl *Flash) Sync() error {
	if err := fl.f.Sync(); err != nil {
		return fmt.Errorf("imageflash: sync: %w", err)
	}
	return nil
}

// Close closes the image.
func (fl *Flash) Close() error { return fl.f.Close() }
