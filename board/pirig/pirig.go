package pirig

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.bug.st/serial"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/i2c/i2creg"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/spi"
	"periph.io/x/conn/v3/spi/spireg"
	"periph.io/x/devices/v3/mcp23xxx"
	"periph.io/x/devices/v3/ssd1306"
	"periph.io/x/host/v3"
	"periph.io/x/host/v3/rpi"

	"github.com/deskphone/deskphone/board"
	"github.com/deskphone/deskphone/board/imageflash"
)

// Open probes for a Raspberry Pi, initialises periph's host drivers and
// opens the rig hardware described by cfg. On any other machine it returns
// an error wrapping board.ErrNotDetected ("not a Raspberry Pi").
//
// Absent optional parts (tether device, watchdog device) leave the board
// field nil; parts named in cfg that fail to open are errors. The board's
// Close stops the keypad scanner and releases everything.
func Open(ctx context.Context, cfg Config, logger *slog.Logger) (*board.Board, error) {
	if !rpi.Present() {
		return nil, fmt.Errorf("pirig: not a Raspberry Pi: %w", board.ErrNotDetected)
	}
	if _, err := host.Init(); err != nil {
		return nil, fmt.Errorf("pirig: host init: %w", err)
	}
	return newBoard(ctx, cfg, liveHW{}, logger)
}

// hardware is what newBoard needs from the machine; tests inject fakes.
type hardware interface {
	I2C(bus string) (i2c.BusCloser, error)
	SPI(port string) (spi.PortCloser, error)
	Pin(name string) (gpio.PinIO, error)
	OpenSerial(dev string, baud int) (io.ReadWriteCloser, error)
	Clock() board.Clock
}

// liveHW is the Raspberry Pi through periph's registries.
type liveHW struct{}

func (liveHW) I2C(bus string) (i2c.BusCloser, error) { return i2creg.Open(bus) }

func (liveHW) SPI(port string) (spi.PortCloser, error) { return spireg.Open(port) }

func (liveHW) Pin(name string) (gpio.PinIO, error) {
	p := gpioreg.ByName(name)
	if p == nil {
		return nil, fmt.Errorf("no gpio pin %q", name)
	}
	return p, nil
}

func (liveHW) OpenSerial(dev string, baud int) (io.ReadWriteCloser, error) {
	return serial.Open(dev, &serial.Mode{BaudRate: baud})
}

func (liveHW) Clock() board.Clock { return SystemClock{} }

// openLiveI2C opens an I²C bus of this machine (RIG=1 recordings).
func openLiveI2C(name string) (i2c.Bus, func() error, error) {
	if _, err := host.Init(); err != nil {
		return nil, nil, fmt.Errorf("pirig: host init: %w", err)
	}
	b, err := i2creg.Open(name)
	if err != nil {
		return nil, nil, fmt.Errorf("pirig: i2c %q: %w", name, err)
	}
	return b, b.Close, nil
}

// closers accumulates what newBoard opened, to undo on failure and on Close.
type closers []func() error

func (c *closers) add(f func() error) { *c = append(*c, f) }

func (c closers) closeAll() error {
	var errs []error
	for i := len(c) - 1; i >= 0; i-- {
		errs = append(errs, c[i]())
	}
	return errors.Join(errs...)
}

// newBoard builds the board from cfg on hw.
func newBoard(ctx context.Context, cfg Config, hw hardware, logger *slog.Logger) (_ *board.Board, err error) {
	if logger == nil {
		logger = slog.Default()
	}
	logger = logger.With("component", "board/pirig")
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var cl closers
	defer func() {
		if err != nil {
			_ = cl.closeAll()
		}
	}()
	buses := map[string]i2c.Bus{}
	i2cBus := func(name string) (i2c.Bus, error) {
		if b, ok := buses[name]; ok {
			return b, nil
		}
		b, err := hw.I2C(name)
		if err != nil {
			return nil, fmt.Errorf("pirig: i2c bus %q: %w", name, err)
		}
		cl.add(b.Close)
		buses[name] = b
		return b, nil
	}

	b := &board.Board{Name: "pirig", Clock: hw.Clock()}
	if b.Display, err = openDisplay(cfg.Display, hw, i2cBus, &cl); err != nil {
		return nil, err
	}
	kp, err := openKeypad(cfg.Keypad, hw, i2cBus, logger)
	if err != nil {
		return nil, err
	}
	if b.LEDs, err = openLEDs(cfg.LEDs, hw); err != nil {
		return nil, err
	}
	if b.Flash, err = openFlash(cfg.Flash, &cl, logger); err != nil {
		return nil, err
	}
	if dev := cfg.Watchdog.Device; dev != "" && dev != "none" {
		if _, serr := os.Stat(dev); serr != nil {
			logger.Warn("watchdog absent", "device", dev, "err", serr)
		} else {
			w, err := OpenWatchdog(dev)
			if err != nil {
				return nil, err
			}
			cl.add(w.Close)
			b.Watchdog = w
		}
	}
	if dev := cfg.Tether.Device; dev != "" && dev != "none" {
		if _, serr := os.Stat(dev); serr != nil {
			logger.Warn("tether absent", "device", dev, "err", serr)
		} else {
			baud := cfg.Tether.Baud
			if baud == 0 {
				baud = 115200
			}
			t, err := hw.OpenSerial(dev, baud)
			if err != nil {
				return nil, fmt.Errorf("pirig: tether %s: %w", dev, err)
			}
			cl.add(t.Close)
			b.Tether = t
		}
	}
	if kp != nil {
		kctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		var wg sync.WaitGroup
		wg.Go(func() {
			if err := kp.Run(kctx); err != nil {
				logger.Error("keypad scanner stopped", "err", err)
			}
		})
		cl.add(func() error { cancel(); wg.Wait(); return nil })
		b.Keypad = kp
	}
	var once sync.Once
	var closeErr error
	b.Close = func() error {
		once.Do(func() {
			if err := cl.closeAll(); err != nil {
				closeErr = fmt.Errorf("pirig: close: %w", err)
			}
		})
		return closeErr
	}
	logger.Info("rig board opened", "display", cfg.Display.Type, "keypad", cfg.Keypad.Type,
		"flash_size", b.Flash.Size(), "watchdog", b.Watchdog != nil, "tether", b.Tether != nil)
	return b, nil
}

func openDisplay(c DisplayConfig, hw hardware, i2cBus func(string) (i2c.Bus, error), cl *closers) (board.Display, error) {
	switch c.Type {
	case DisplaySSD1306I2C:
		bus, err := i2cBus(c.Bus)
		if err != nil {
			return board.Display{}, err
		}
		addr := c.Address
		if addr == 0 {
			addr = 0x3C
		}
		d, err := newSSD1306I2C(bus, addr)
		if err != nil {
			return board.Display{}, err
		}
		return board.Display{Pixel: d}, nil
	case DisplaySSD1306SPI:
		port, err := hw.SPI(c.Bus)
		if err != nil {
			return board.Display{}, fmt.Errorf("pirig: spi port %q: %w", c.Bus, err)
		}
		cl.add(port.Close)
		dc, err := hw.Pin(c.DC)
		if err != nil {
			return board.Display{}, fmt.Errorf("pirig: ssd1306 dc: %w", err)
		}
		if c.Reset != "" {
			rst, err := hw.Pin(c.Reset)
			if err != nil {
				return board.Display{}, fmt.Errorf("pirig: ssd1306 reset: %w", err)
			}
			// Datasheet: RES# low for at least 3 µs.
			if err := rst.Out(gpio.Low); err != nil {
				return board.Display{}, fmt.Errorf("pirig: ssd1306 reset: %w", err)
			}
			time.Sleep(10 * time.Microsecond)
			if err := rst.Out(gpio.High); err != nil {
				return board.Display{}, fmt.Errorf("pirig: ssd1306 reset: %w", err)
			}
		}
		d, err := ssd1306.NewSPI(port, dc, &ssd1306.Opts{W: 128, H: 64})
		if err != nil {
			return board.Display{}, fmt.Errorf("pirig: ssd1306 spi: %w", err)
		}
		return board.Display{Pixel: d}, nil
	case DisplayHD44780PCF8574:
		bus, err := i2cBus(c.Bus)
		if err != nil {
			return board.Display{}, err
		}
		addr, rows, cols := c.Address, c.Rows, c.Cols
		if addr == 0 {
			addr = 0x27
		}
		if rows == 0 {
			rows = 4
		}
		if cols == 0 {
			cols = 20
		}
		d, err := NewHD44780(bus, addr, rows, cols, nil)
		if err != nil {
			return board.Display{}, err
		}
		return board.Display{Text: d}, nil
	}
	return board.Display{}, nil
}

// newSSD1306I2C opens a 128×64 SSD1306 at addr (periph's driver always
// talks to 0x3C; other addresses go through addrBus).
func newSSD1306I2C(bus i2c.Bus, addr uint16) (*ssd1306.Dev, error) {
	if addr != 0x3C {
		bus = &addrBus{Bus: bus, addr: addr}
	}
	d, err := ssd1306.NewI2C(bus, &ssd1306.Opts{W: 128, H: 64})
	if err != nil {
		return nil, fmt.Errorf("pirig: ssd1306 i2c %#x: %w", addr, err)
	}
	return d, nil
}

// addrBus sends every transaction to addr, whatever address the driver
// uses.
type addrBus struct {
	i2c.Bus
	addr uint16
}

// Tx implements i2c.Bus.
func (a *addrBus) Tx(_ uint16, w, r []byte) error { return a.Bus.Tx(a.addr, w, r) }

// SetSpeed implements i2c.Bus.
func (a *addrBus) SetSpeed(f physic.Frequency) error { return a.Bus.SetSpeed(f) }

func openKeypad(c KeypadConfig, hw hardware, i2cBus func(string) (i2c.Bus, error), logger *slog.Logger) (*Matrix, error) {
	opts := MatrixOptions{Debounce: c.Debounce, Logger: logger}
	hz := c.ScanHz
	var rows, cols []gpio.PinIO
	switch c.Type {
	case KeypadMatrix:
		for _, n := range c.Rows {
			p, err := hw.Pin(n)
			if err != nil {
				return nil, fmt.Errorf("pirig: keypad row: %w", err)
			}
			rows = append(rows, p)
		}
		for _, n := range c.Cols {
			p, err := hw.Pin(n)
			if err != nil {
				return nil, fmt.Errorf("pirig: keypad column: %w", err)
			}
			cols = append(cols, p)
		}
	case KeypadMCP23017:
		bus, err := i2cBus(c.Bus)
		if err != nil {
			return nil, err
		}
		addr := c.Address
		if addr == 0 {
			addr = 0x20
		}
		dev, err := mcp23xxx.NewI2C(bus, mcp23xxx.MCP23017, addr)
		if err != nil {
			return nil, fmt.Errorf("pirig: mcp23017 %#x: %w", addr, err)
		}
		for i := range 4 {
			rows = append(rows, dev.Pins[0][i])
			cols = append(cols, dev.Pins[1][i])
		}
		if hz == 0 || hz > 50 {
			hz = 50 // each pin access is an I²C transaction
		}
	default:
		return nil, nil
	}
	if hz > 0 {
		opts.ScanInterval = time.Second / time.Duration(hz)
	}
	keymap, err := parseKeymap(c.Keymap, len(rows), len(cols))
	if err != nil {
		return nil, fmt.Errorf("pirig: %w", err)
	}
	return NewMatrix(rows, cols, keymap, opts)
}

func openLEDs(c LEDConfig, hw hardware) (board.LEDs, error) {
	if c.Status == "" && c.Message == "" {
		return nil, nil
	}
	l := &LEDs{ActiveLow: c.ActiveLow}
	for _, x := range []struct {
		name string
		dst  *gpio.PinOut
	}{{c.Status, &l.Status}, {c.Message, &l.Message}} {
		if x.name == "" {
			continue
		}
		p, err := hw.Pin(x.name)
		if err != nil {
			return nil, fmt.Errorf("pirig: led: %w", err)
		}
		*x.dst = p
		if err := p.Out(gpio.Level(c.ActiveLow)); err != nil {
			return nil, fmt.Errorf("pirig: led %s: %w", p, err)
		}
	}
	return l, nil
}

func openFlash(c FlashConfig, cl *closers, logger *slog.Logger) (board.Flash, error) {
	if c.MTD != "" {
		if _, err := os.Stat(c.MTD); err == nil {
			m, err := OpenMTD(c.MTD)
			if err != nil {
				return nil, err
			}
			cl.add(m.Close)
			logger.Info("flash on mtd", "device", c.MTD)
			return m, nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("pirig: mtd: %w", err)
		}
	}
	if c.Image == "" {
		return nil, errors.New("pirig: flash: no mtd device and no image configured")
	}
	if err := os.MkdirAll(filepath.Dir(c.Image), 0o700); err != nil {
		return nil, fmt.Errorf("pirig: flash image dir: %w", err)
	}
	f, err := imageflash.Open(c.Image, c.Size, c.EraseSize)
	if err != nil {
		return nil, err
	}
	cl.add(f.Close)
	logger.Info("flash on image file", "path", c.Image, "size", c.Size)
	return f, nil
}
