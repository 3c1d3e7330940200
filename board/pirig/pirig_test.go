package pirig

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/i2c/i2ctest"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/spi"
	"periph.io/x/host/v3/rpi"

	"github.com/deskphone/deskphone/board"
	"github.com/deskphone/deskphone/board/boardtest"
)

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), nil))
}

// muxBus routes transactions by address to fake devices.
type muxBus struct {
	mu   sync.Mutex
	devs map[uint16]i2c.Bus
}

func (m *muxBus) String() string                  { return "mux" }
func (m *muxBus) SetSpeed(physic.Frequency) error { return nil }
func (m *muxBus) Close() error                    { return nil }

func (m *muxBus) Tx(addr uint16, w, r []byte) error {
	m.mu.Lock()
	d, ok := m.devs[addr]
	m.mu.Unlock()
	if !ok {
		return fmt.Errorf("mux: no device at %#x", addr)
	}
	return d.Tx(addr, w, r)
}

// fakeHW is a rig made of fakes: a bus with an SSD1306 (recorded) and an
// HD44780 (emulated), a 4×4 matrix and LED pins, a pipe as the tether.
type fakeHW struct {
	bus    *muxBus
	ssd    *i2ctest.Record
	lcd    *lcdEmu
	matrix *fakeMatrix
	pins   map[string]gpio.PinIO
	peer   net.Conn
	clock  *fakeClock
}

func newFakeHW() *fakeHW {
	h := &fakeHW{ssd: &i2ctest.Record{}, lcd: newLCDEmu(), matrix: newFakeMatrix(4, 4), pins: map[string]gpio.PinIO{},
		clock: &fakeClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}}
	h.bus = &muxBus{devs: map[uint16]i2c.Bus{0x3C: h.ssd, 0x27: h.lcd}}
	cfg := DefaultConfig()
	for i, n := range cfg.Keypad.Rows {
		h.pins[n] = h.matrix.rows[i]
	}
	for i, n := range cfg.Keypad.Cols {
		h.pins[n] = h.matrix.cols[i]
	}
	h.pins["GPIO17"] = &gpiotest.Pin{N: "GPIO17", Num: 17}
	h.pins["GPIO27"] = &gpiotest.Pin{N: "GPIO27", Num: 27}
	return h
}

func (h *fakeHW) I2C(string) (i2c.BusCloser, error) { return h.bus, nil }

func (h *fakeHW) SPI(string) (spi.PortCloser, error) { return nil, errors.New("no spi") }

func (h *fakeHW) Pin(name string) (gpio.PinIO, error) {
	if p, ok := h.pins[name]; ok {
		return p, nil
	}
	return nil, fmt.Errorf("no gpio pin %q", name)
}

func (h *fakeHW) OpenSerial(string, int) (io.ReadWriteCloser, error) {
	a, b := net.Pipe()
	h.peer = b
	return a, nil
}

func (h *fakeHW) Clock() board.Clock { return h.clock }

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(time.Millisecond)
	return c.now
}

func (c *fakeClock) Set(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
	return nil
}

// testConfig points the file-backed parts into dir.
func testConfig(t *testing.T, dir string) Config {
	cfg := DefaultConfig()
	cfg.Flash = FlashConfig{MTD: filepath.Join(dir, "no-mtd0"), Image: filepath.Join(dir, "state", "flash.img"), Size: 64 << 10, EraseSize: 4 << 10}
	cfg.Watchdog.Device = filepath.Join(dir, "watchdog")
	cfg.Tether.Device = filepath.Join(dir, "ttyGS0")
	for _, f := range []string{cfg.Watchdog.Device, cfg.Tether.Device} {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return cfg
}

func TestBoardConformance(t *testing.T) {
	for _, tt := range []struct {
		name    string
		display string
	}{
		{"ssd1306", DisplaySSD1306I2C},
		{"hd44780", DisplayHD44780PCF8574},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			hw := newFakeHW()
			cfg := testConfig(t, dir)
			cfg.Display.Type = tt.display
			cfg.Display.Address = 0
			b, err := newBoard(t.Context(), cfg, hw, testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			if b.Tether == nil || b.Watchdog == nil || b.Keypad == nil || b.LEDs == nil {
				t.Fatalf("parts missing: %+v", b)
			}
			hw.matrix.set(3, 3, true) // hold OK for the interactive check
			boardtest.Run(t, b, boardtest.Options{Destructive: true, Interactive: true, Logger: testLogger(t)})
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
			if _, ok := <-b.Keypad.Events(); ok {
				// drain the release or leftovers: the channel must end closed
				for range b.Keypad.Events() {
				}
			}
			wd, err := os.ReadFile(cfg.Watchdog.Device)
			if err != nil || !bytes.Equal(wd, []byte{0, 'V'}) {
				t.Errorf("watchdog device got %q, %v; want ping then magic close", wd, err)
			}
			for _, n := range []string{"GPIO17", "GPIO27"} {
				if hw.pins[n].Read() != gpio.Low {
					t.Errorf("%s left on", n)
				}
			}
			switch tt.display {
			case DisplaySSD1306I2C:
				if len(hw.ssd.Ops) < 9 {
					t.Errorf("ssd1306 saw %d transactions", len(hw.ssd.Ops))
				}
			case DisplayHD44780PCF8574:
				if got := hw.lcd.lines()[0]; !strings.HasPrefix(got, "press OK") {
					t.Errorf("lcd row 0 = %q", got)
				}
			}
		})
	}
}

func TestBoardOptionalPartsAbsent(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	cfg.Watchdog.Device = filepath.Join(dir, "nowatchdog")
	cfg.Tether.Device = "none"
	cfg.Keypad.Type = KeypadNone
	cfg.Display.Type = DisplayNone
	cfg.LEDs = LEDConfig{}
	b, err := newBoard(t.Context(), cfg, newFakeHW(), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if b.Watchdog != nil || b.Tether != nil || b.Keypad != nil || b.LEDs != nil || b.Display.Pixel != nil || b.Display.Text != nil {
		t.Errorf("absent parts present: %+v", b)
	}
	if boardtest.Failed(boardtest.Check(t.Context(), b, boardtest.Options{Logger: testLogger(t)})) {
		t.Error("headless board fails conformance")
	}
}

func TestBoardOpenErrors(t *testing.T) {
	for _, tt := range []struct {
		name   string
		mutate func(*Config)
	}{
		{"missing keypad pin", func(c *Config) { c.Keypad.Rows[0] = "GPIO99" }},
		{"missing led pin", func(c *Config) { c.LEDs.Status = "GPIO98" }},
		{"no display at address", func(c *Config) { c.Display.Address = 0x3D }},
		{"no flash", func(c *Config) { c.Flash.Image = "" }},
		{"spi without port", func(c *Config) { c.Display.Type = DisplaySSD1306SPI }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t, t.TempDir())
			tt.mutate(&cfg)
			if _, err := newBoard(t.Context(), cfg, newFakeHW(), testLogger(t)); err == nil {
				t.Error("opened")
			}
		})
	}
}

func TestOpenNotPi(t *testing.T) {
	if rpi.Present() {
		t.Skip("running on a Raspberry Pi")
	}
	b, err := Open(context.Background(), DefaultConfig(), testLogger(t))
	if b != nil || !errors.Is(err, board.ErrNotDetected) || !strings.Contains(err.Error(), "not a Raspberry Pi") {
		t.Fatalf("Open = %v, %v", b, err)
	}
}

func TestParseConfig(t *testing.T) {
	data, err := os.ReadFile("../../tools/rig/rig.json")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		t.Fatalf("tools/rig/rig.json: %v", err)
	}
	if cfg.Display.Type == "" || cfg.Keypad.Type == "" {
		t.Errorf("rig.json: %+v", cfg)
	}
	for _, tt := range []struct {
		name, json string
		ok         bool
	}{
		{"minimal", `{"version":1}`, true},
		{"text lcd", `{"version":1,"display":{"type":"hd44780-pcf8574","address":63}}`, true},
		{"wrong version", `{"version":2}`, false},
		{"no version", `{}`, false},
		{"unknown field", `{"version":1,"displya":{}}`, false},
		{"unknown display", `{"version":1,"display":{"type":"st7567"}}`, false},
		{"bad key", `{"version":1,"keypad":{"type":"matrix","keymap":["123X","456D","789B","*0#O"]}}`, false},
		{"keymap size", `{"version":1,"keypad":{"type":"matrix","keymap":["123","456","789"]}}`, false},
		{"bad image", `{"version":1,"flash":{"image":"/x","size":1000,"erase_size":4096}}`, false},
		{"not json", `{"version":1`, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tt.json))
			if (err == nil) != tt.ok {
				t.Errorf("err = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}
