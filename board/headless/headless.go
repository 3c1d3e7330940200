// Package headless is the board of a phone agent with no LCD and no keypad:
// a lab box, a container, or the firmware's own self-test. Flash is a
// fixed-size partition image (a file with fsync discipline, or RAM), the
// clock is the system clock (settimeofday needs CAP_SYS_TIME), and the
// tether is an optional serial device opened by the caller.
package headless

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/deskphone/deskphone/board"
)

// Options configures a headless board.
type Options struct {
	// FlashPath is the partition image; "" keeps flash in RAM.
	FlashPath string
	// FlashSize and EraseSize default to 256 KiB and 4 KiB.
	FlashSize, EraseSize int64
	// SetClock allows Clock.Set to call settimeofday; otherwise Set keeps an
	// offset in memory (the system clock is left alone).
	SetClock bool
}

// Open returns a headless board.
func Open(o Options) (*board.Board, error) {
	if o.FlashSize == 0 {
		o.FlashSize = 256 << 10
	}
	if o.EraseSize == 0 {
		o.EraseSize = 4 << 10
	}
	f, err := OpenImage(o.FlashPath, o.FlashSize, o.EraseSize)
	if err != nil {
		return nil, err
	}
	return &board.Board{
		Name:  "headless",
		Flash: f,
		Clock: &Clock{System: o.SetClock},
		Close: f.Close,
	}, nil
}

// Image is a flash partition kept in a file (or RAM) with NOR semantics:
// Erase sets erase blocks to 0xFF, WriteAt ANDs bits into erased bytes.
type Image struct {
	mu        sync.Mutex
	data      []byte
	file      *os.File
	eraseSize int64
}

var (
	_ board.Flash  = (*Image)(nil)
	_ board.Syncer = (*Image)(nil)
)

// OpenImage opens (or creates, 0xFF-filled, mode 0600) a partition image of
// size bytes at path; "" keeps it in RAM.
func OpenImage(path string, size, eraseSize int64) (*Image, error) {
	if size <= 0 || eraseSize <= 0 || size%eraseSize != 0 {
		return nil, fmt.Errorf("headless: flash size %d not a multiple of erase size %d", size, eraseSize)
	}
	img := &Image{data: make([]byte, size), eraseSize: eraseSize}
	for i := range img.data {
		img.data[i] = 0xFF
	}
	if path == "" {
		return img, nil
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("headless: flash image: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	switch st.Size() {
	case 0:
		if _, err := f.WriteAt(img.data, 0); err != nil {
			f.Close()
			return nil, fmt.Errorf("headless: init flash image: %w", err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, err
		}
	case size:
		if _, err := f.ReadAt(img.data, 0); err != nil {
			f.Close()
			return nil, fmt.Errorf("headless: read flash image: %w", err)
		}
	default:
		f.Close()
		return nil, fmt.Errorf("headless: flash image %s is %d bytes, want %d", path, st.Size(), size)
	}
	img.file = f
	return img, nil
}

func (m *Image) check(off, n int64) error {
	if off < 0 || n < 0 || off+n > int64(len(m.data)) {
		return fmt.Errorf("headless: flash range [%d,+%d) outside %d bytes", off, n, len(m.data))
	}
	return nil
}

// ReadAt implements board.Flash.
func (m *Image) ReadAt(p []byte, off int64) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(off, int64(len(p))); err != nil {
		return 0, err
	}
	return copy(p, m.data[off:]), nil
}

// WriteAt implements board.Flash: bits can only be cleared.
func (m *Image) WriteAt(p []byte, off int64) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(off, int64(len(p))); err != nil {
		return 0, err
	}
	for i, b := range p {
		m.data[off+int64(i)] &= b
	}
	return len(p), m.persist(off, int64(len(p)))
}

// Erase implements board.Flash.
func (m *Image) Erase(off, n int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if off%m.eraseSize != 0 || n%m.eraseSize != 0 {
		return fmt.Errorf("headless: erase [%d,+%d) not aligned to %d", off, n, m.eraseSize)
	}
	if err := m.check(off, n); err != nil {
		return err
	}
	for i := off; i < off+n; i++ {
		m.data[i] = 0xFF
	}
	return m.persist(off, n)
}

func (m *Image) persist(off, n int64) error {
	if m.file == nil {
		return nil
	}
	if _, err := m.file.WriteAt(m.data[off:off+n], off); err != nil {
		return fmt.Errorf("headless: flash image write: %w", err)
	}
	return nil
}

// Size implements board.Flash.
func (m *Image) Size() int64 { return int64(len(m.data)) }

// EraseSize implements board.Flash.
func (m *Image) EraseSize() int64 { return m.eraseSize }

// Sync implements board.Syncer: fsync the image file.
func (m *Image) Sync() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.file == nil {
		return nil
	}
	return m.file.Sync()
}

// Close syncs and closes the image file.
func (m *Image) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.file == nil {
		return nil
	}
	err := errors.Join(m.file.Sync(), m.file.Close())
	m.file = nil
	return err
}

// Clock is the system clock. With System set, Set calls settimeofday;
// otherwise it keeps an offset.
type Clock struct {
	System bool
	mu     sync.Mutex
	offset time.Duration
}

var _ board.Clock = (*Clock)(nil)

// Now implements board.Clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

// Set implements board.Clock.
func (c *Clock) Set(t time.Time) error {
	if c.System {
		tv := unix.NsecToTimeval(t.UnixNano())
		if err := unix.Settimeofday(&tv); err != nil {
			return fmt.Errorf("headless: settimeofday(%v): %w", t, err)
		}
		return nil
	}
	c.mu.Lock()
	c.offset = time.Until(t)
	c.mu.Unlock()
	return nil
}
