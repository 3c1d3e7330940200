package sim

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"

	"github.com/deskphone/deskphone/board"
)

// Default flash geometry of the simulated board.
const (
	DefaultFlashSize int64 = 256 << 10
	DefaultEraseSize int64 = 4 << 10
)

// FlashFile is the name of the flash image inside Options.StateDir.
const FlashFile = "flash.img"

// Options configure New.
type Options struct {
	// StateDir holds the flash image (FlashFile); a second run on the same
	// directory is a warm boot. Empty keeps the flash in memory.
	StateDir string
	// FlashSize and EraseSize default to DefaultFlashSize and
	// DefaultEraseSize.
	FlashSize, EraseSize int64
	// Text selects the 20×4 character LCD instead of the 128×64 pixel one.
	Text bool
	// TetherDevice, when set, is a serial device path (a pty in tests) that
	// the caller opens itself: the board's Tether is then nil and
	// Parts.TetherPeer too. Empty makes the tether one end of a net.Pipe.
	TetherDevice string
	// Logger defaults to slog.Default.
	Logger *slog.Logger
}

// Parts exports the concrete fakes behind a board made by New, so tests and
// phonesim can drive them (press keys, read frames, cut flash power).
type Parts struct {
	LCD      *LCD     // nil when Options.Text
	TextLCD  *TextLCD // nil unless Options.Text
	Keypad   *Keypad
	Flash    *Flash
	Clock    *Clock
	LEDs     *LEDs
	Watchdog *Watchdog
	// TetherPeer is the host end of the tether pipe (nil with TetherDevice).
	TetherPeer net.Conn
	// WarmBoot is true when the flash image already existed in StateDir.
	WarmBoot bool
}

// New builds a simulated board. The returned board's Close closes the
// keypad, the tether pipe and the flash image.
func New(opts Options) (*board.Board, *Parts, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	logger = logger.With("component", "board/sim")
	if opts.FlashSize == 0 {
		opts.FlashSize = DefaultFlashSize
	}
	if opts.EraseSize == 0 {
		opts.EraseSize = DefaultEraseSize
	}
	if err := checkGeometry(opts.FlashSize, opts.EraseSize); err != nil {
		return nil, nil, err
	}

	p := &Parts{Clock: NewClock(), LEDs: NewLEDs(), Watchdog: &Watchdog{}, Keypad: NewKeypad()}
	p.Keypad.Now = p.Clock.Now
	p.Watchdog.Now = p.Clock.Now

	if opts.StateDir == "" {
		p.Flash = NewFlash(opts.FlashSize, opts.EraseSize)
	} else {
		if err := os.MkdirAll(opts.StateDir, 0o700); err != nil {
			return nil, nil, fmt.Errorf("sim: state dir: %w", err)
		}
		path := filepath.Join(opts.StateDir, FlashFile)
		_, err := os.Stat(path)
		switch {
		case err == nil:
			p.WarmBoot = true
		case !errors.Is(err, fs.ErrNotExist):
			return nil, nil, fmt.Errorf("sim: flash image: %w", err)
		}
		if p.Flash, err = OpenFlashFile(path, opts.FlashSize, opts.EraseSize); err != nil {
			return nil, nil, err
		}
	}

	b := &board.Board{
		Name:     "sim",
		Keypad:   p.Keypad,
		Flash:    p.Flash,
		Clock:    p.Clock,
		LEDs:     p.LEDs,
		Watchdog: p.Watchdog,
	}
	if opts.Text {
		p.TextLCD = NewTextLCD()
		b.Display.Text = p.TextLCD
	} else {
		p.LCD = NewLCD()
		b.Display.Pixel = p.LCD
	}
	var phone net.Conn
	if opts.TetherDevice == "" {
		phone, p.TetherPeer = net.Pipe()
		b.Tether = phone
	}
	b.Close = func() error {
		var errs []error
		if phone != nil {
			errs = append(errs, phone.Close(), p.TetherPeer.Close())
		}
		errs = append(errs, p.Keypad.Close(), p.Flash.Close())
		if err := errors.Join(errs...); err != nil {
			return fmt.Errorf("sim: close: %w", err)
		}
		return nil
	}
	logger.Info("sim board opened", "state_dir", opts.StateDir, "warm_boot", p.WarmBoot,
		"flash_size", opts.FlashSize, "erase_size", opts.EraseSize, "text", opts.Text,
		"tether_device", opts.TetherDevice)
	return b, p, nil
}
