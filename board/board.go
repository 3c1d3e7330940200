// Package board holds the hardware seams of the phone: small interfaces that
// the agent sees, and the Board struct that bundles them.
//
// Implementations live in sub-packages: sim (in memory, for tests and the
// laptop demo) and pirig (Raspberry Pi test rigs). Only those packages and
// cmd/ may import periph host drivers or global registries.
package board

import (
	"context"
	"errors"
	"io"
	"time"

	"periph.io/x/conn/v3/display"
)

// ErrNotDetected means "this is not that hardware": the board was probed and
// is absent. It is a different outcome from a real failure (periph's
// driver.Impl.Init (bool, error) idea).
var ErrNotDetected = errors.New("board: hardware not detected")

// Key is one key of the phone keypad.
type Key byte

// The phone keys. Digits use their ASCII value so that Key('7') == Key7.
const (
	Key0    Key = '0'
	Key1    Key = '1'
	Key2    Key = '2'
	Key3    Key = '3'
	Key4    Key = '4'
	Key5    Key = '5'
	Key6    Key = '6'
	Key7    Key = '7'
	Key8    Key = '8'
	Key9    Key = '9'
	KeyStar Key = '*'
	KeyHash Key = '#'
	KeyOK   Key = 'O'
	KeyBack Key = 'B'
	KeyUp   Key = 'U'
	KeyDown Key = 'D'
	KeyNone Key = 0
)

// IsDigit reports whether k is one of 0-9.
func (k Key) IsDigit() bool { return k >= Key0 && k <= Key9 }

// String returns the key's name as used in phonesim's --keys syntax.
func (k Key) String() string {
	switch k {
	case KeyOK:
		return "<ok>"
	case KeyBack:
		return "<back>"
	case KeyUp:
		return "<up>"
	case KeyDown:
		return "<down>"
	case KeyNone:
		return "<none>"
	}
	if k.IsDigit() || k == KeyStar || k == KeyHash {
		return string(rune(k))
	}
	return "<?>"
}

// KeyEvent is one key press (Down) or release (!Down).
type KeyEvent struct {
	Key  Key
	Down bool
	At   time.Time
}

// Keypad delivers key events. The channel is closed when the keypad stops.
type Keypad interface {
	Events() <-chan KeyEvent
}

// Display is the phone's LCD. Exactly one of Pixel and Text is non-nil.
//
// Pixel is a 128×64 monochrome pixel LCD (periph display.Drawer); Text is a
// character LCD (periph display.TextDisplay, 20×4 on the rigs).
type Display struct {
	Pixel display.Drawer
	Text  display.TextDisplay
}

// Flash is a raw flash partition with NOR/NAND semantics: Erase sets whole
// erase blocks to 0xFF; WriteAt may only clear bits (AND) of erased bytes.
type Flash interface {
	io.ReaderAt
	io.WriterAt
	// Erase erases n bytes at off; both must be multiples of EraseSize.
	Erase(off, n int64) error
	// Size is the partition size in bytes.
	Size() int64
	// EraseSize is the erase block size in bytes.
	EraseSize() int64
}

// Syncer is an optional Flash capability: flush to durable storage.
type Syncer interface {
	Sync() error
}

// Tether is the USB tethering serial link (USB gadget ACM on rigs, a pty in
// tests).
type Tether = io.ReadWriteCloser

// Clock reads and sets the system time.
type Clock interface {
	Now() time.Time
	// Set sets the wall clock (settimeofday where privileged, an offset in
	// simulators).
	Set(t time.Time) error
}

// LED names an indicator.
type LED int

// The phone's indicators.
const (
	LEDStatus LED = iota
	LEDMessage
)

// LEDs drives the indicators.
type LEDs interface {
	Set(led LED, on bool) error
}

// Watchdog is a hardware watchdog that reboots the device unless pinged.
type Watchdog interface {
	Ping() error
}

// Board bundles the hardware of one phone. Nil fields mean "absent" (e.g. no
// tether on a headless board); Close releases what the board opened.
type Board struct {
	Name     string
	Display  Display
	Keypad   Keypad
	Flash    Flash
	Tether   Tether
	Clock    Clock
	LEDs     LEDs
	Watchdog Watchdog
	// Close releases the hardware; may be nil.
	Close func() error
}

// Opener opens a board. It returns ErrNotDetected (wrapped) when the hardware
// is not there.
type Opener func(ctx context.Context) (*Board, error)
