// Package headless is the board of a phone agent with no LCD and no keypad:
// a lab box, a container, or the firmware's own self-test. Flash is a
// fixed-size partition image (board/imageflash; a temporary one when no path
// is given), the
// clock is the system clock (settimeofday needs CAP_SYS_TIME), and the
// tether is an optional serial device opened by the caller.
package headless

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/deskphone/deskphone/board"
	"github.com/deskphone/deskphone/board/imageflash"
)

// Options configures a headless board.
type Options struct {
	// FlashPath is the partition image; "" uses a temporary one.
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
	path, tmp := o.FlashPath, ""
	if path == "" {
		// "RAM" flash: a private image that disappears on Close.
		d, err := os.MkdirTemp("", "headless-flash-")
		if err != nil {
			return nil, err
		}
		tmp, path = d, filepath.Join(d, "flash.img")
	}
	f, err := imageflash.Open(path, o.FlashSize, o.EraseSize)
	if err != nil {
		if tmp != "" {
			os.RemoveAll(tmp)
		}
		return nil, err
	}
	return &board.Board{
		Name:  "headless",
		Flash: f,
		Clock: &Clock{System: o.SetClock},
		Close: func() error {
			err := f.Close()
			if tmp != "" {
				os.RemoveAll(tmp)
			}
			return err
		},
	}, nil
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
