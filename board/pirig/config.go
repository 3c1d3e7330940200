package pirig

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/deskphone/deskphone/board"
)

// ConfigVersion is the config format this package reads.
const ConfigVersion = 1

// Display types.
const (
	DisplaySSD1306I2C     = "ssd1306-i2c"
	DisplaySSD1306SPI     = "ssd1306-spi"
	DisplayHD44780PCF8574 = "hd44780-pcf8574"
	DisplayNone           = "none"
)

// Keypad types.
const (
	KeypadMatrix   = "matrix"
	KeypadMCP23017 = "mcp23017"
	KeypadNone     = "none"
)

// Config describes how a rig is wired. It is JSON (see tools/rig/rig.json):
// {"version": 1, ...}; omitted fields keep the DefaultConfig values.
type Config struct {
	Version  int            `json:"version"`
	Display  DisplayConfig  `json:"display"`
	Keypad   KeypadConfig   `json:"keypad"`
	LEDs     LEDConfig      `json:"leds"`
	Tether   TetherConfig   `json:"tether"`
	Flash    FlashConfig    `json:"flash"`
	Watchdog WatchdogConfig `json:"watchdog"`
}

// DisplayConfig selects the LCD.
type DisplayConfig struct {
	// Type is ssd1306-i2c, ssd1306-spi, hd44780-pcf8574 or none.
	Type string `json:"type"`
	// Bus is the I²C bus or SPI port name as periph knows it ("" = the
	// first one, e.g. "/dev/i2c-1" or "1"; SPI "" = "SPI0.0").
	Bus string `json:"bus,omitempty"`
	// Address is the 7-bit I²C address, decimal in JSON: SSD1306 60 (0x3C)
	// or 61 (0x3D); PCF8574 backpack 39 (0x27) or 63 (0x3F).
	Address uint16 `json:"address,omitempty"`
	// DC is the SSD1306 SPI data/command pin (e.g. "GPIO25").
	DC string `json:"dc,omitempty"`
	// Reset is an optional SSD1306 SPI reset pin, pulsed low at open.
	Reset string `json:"reset,omitempty"`
	// Rows and Cols of a character LCD; default 4 and 20.
	Rows int `json:"rows,omitempty"`
	Cols int `json:"cols,omitempty"`
}

// KeypadConfig selects the keypad.
type KeypadConfig struct {
	// Type is matrix (GPIO pins), mcp23017 (rows on GPA0-3, columns on
	// GPB0-3 of an I²C expander) or none.
	Type string `json:"type"`
	// Rows and Cols are GPIO pin names (matrix).
	Rows []string `json:"rows,omitempty"`
	Cols []string `json:"cols,omitempty"`
	// Bus and Address locate the MCP23017 (address 32 = 0x20).
	Bus     string `json:"bus,omitempty"`
	Address uint16 `json:"address,omitempty"`
	// Keymap has one string per row, one character per column: digits,
	// '*', '#', and U (up), D (down), B (back), O (OK), '.' for none.
	Keymap []string `json:"keymap,omitempty"`
	// ScanHz is the scan rate; default 100 (50 for mcp23017).
	ScanHz int `json:"scan_hz,omitempty"`
	// Debounce is the number of equal scans before a key changes; default 3.
	Debounce int `json:"debounce,omitempty"`
}

// LEDConfig names the LED GPIO pins ("" = not fitted).
type LEDConfig struct {
	Status    string `json:"status,omitempty"`
	Message   string `json:"message,omitempty"`
	ActiveLow bool   `json:"active_low,omitempty"`
}

// TetherConfig is the USB gadget serial link.
type TetherConfig struct {
	// Device defaults to /dev/ttyGS0; "none" disables the tether. A
	// missing device leaves the tether absent (nil), not an error.
	Device string `json:"device,omitempty"`
	Baud   int    `json:"baud,omitempty"`
}

// FlashConfig selects the flash partition: the MTD character device when it
// exists, else a fixed-size image file (on the SD card) written with fsync
// after every operation.
type FlashConfig struct {
	MTD       string `json:"mtd,omitempty"`
	Image     string `json:"image,omitempty"`
	Size      int64  `json:"size,omitempty"`
	EraseSize int64  `json:"erase_size,omitempty"`
}

// WatchdogConfig is the hardware watchdog device ("" or "none" = none; a
// missing device leaves the watchdog absent).
type WatchdogConfig struct {
	Device string `json:"device,omitempty"`
}

// DefaultConfig returns the wiring documented in docs/rig.md: an SSD1306 on
// I²C at 0x3C, a 4×4 matrix keypad on GPIO 5/6/13/19 (rows) and 12/16/20/21
// (columns), LEDs on GPIO 17 and 27, the tether on /dev/ttyGS0, flash on
// /dev/mtd0 or a 256 KiB image, and /dev/watchdog.
func DefaultConfig() Config {
	return Config{
		Version: ConfigVersion,
		Display: DisplayConfig{Type: DisplaySSD1306I2C, Address: 0x3C, DC: "GPIO25", Rows: 4, Cols: 20},
		Keypad: KeypadConfig{
			Type:     KeypadMatrix,
			Rows:     []string{"GPIO5", "GPIO6", "GPIO13", "GPIO19"},
			Cols:     []string{"GPIO12", "GPIO16", "GPIO20", "GPIO21"},
			Address:  0x20,
			Keymap:   []string{"123U", "456D", "789B", "*0#O"},
			ScanHz:   100,
			Debounce: DefaultDebounce,
		},
		LEDs:     LEDConfig{Status: "GPIO17", Message: "GPIO27"},
		Tether:   TetherConfig{Device: "/dev/ttyGS0", Baud: 115200},
		Flash:    FlashConfig{MTD: "/dev/mtd0", Image: "/var/lib/deskphone/flash.img", Size: 256 << 10, EraseSize: 4 << 10},
		Watchdog: WatchdogConfig{Device: "/dev/watchdog"},
	}
}

// ParseConfig decodes a rig config: the version first, then the fields
// strictly (unknown fields are errors) over DefaultConfig.
func ParseConfig(data []byte) (Config, error) {
	var v struct {
		Version int `json:"version"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return Config{}, fmt.Errorf("pirig: config: %w", err)
	}
	switch v.Version {
	case ConfigVersion:
	default:
		return Config{}, fmt.Errorf("pirig: config: version %d, want %d", v.Version, ConfigVersion)
	}
	cfg := DefaultConfig()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return Config{}, fmt.Errorf("pirig: config: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// Validate checks the values that can be checked without hardware.
func (c Config) Validate() error {
	var errs []error
	switch c.Display.Type {
	case DisplaySSD1306I2C, DisplayHD44780PCF8574, DisplayNone:
	case DisplaySSD1306SPI:
		if c.Display.DC == "" {
			errs = append(errs, errors.New("display: ssd1306-spi needs a dc pin"))
		}
	default:
		errs = append(errs, fmt.Errorf("display: unknown type %q", c.Display.Type))
	}
	switch c.Keypad.Type {
	case KeypadMatrix, KeypadMCP23017:
		nr, nc := len(c.Keypad.Rows), len(c.Keypad.Cols)
		if c.Keypad.Type == KeypadMCP23017 {
			nr, nc = 4, 4
		}
		if _, err := parseKeymap(c.Keypad.Keymap, nr, nc); err != nil {
			errs = append(errs, err)
		}
	case KeypadNone:
	default:
		errs = append(errs, fmt.Errorf("keypad: unknown type %q", c.Keypad.Type))
	}
	if f := c.Flash; f.Image != "" && (f.Size <= 0 || f.EraseSize <= 0 || f.Size%f.EraseSize != 0) {
		errs = append(errs, fmt.Errorf("flash: bad image geometry size=%d erase_size=%d", f.Size, f.EraseSize))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("pirig: config: %w", err)
	}
	return nil
}

// parseKeymap turns keymap strings into keys for an nr×nc matrix.
func parseKeymap(rows []string, nr, nc int) ([][]board.Key, error) {
	if len(rows) != nr || nr == 0 {
		return nil, fmt.Errorf("keypad: keymap has %d rows, want %d", len(rows), nr)
	}
	out := make([][]board.Key, nr)
	for r, s := range rows {
		if len(s) != nc {
			return nil, fmt.Errorf("keypad: keymap row %d is %q, want %d keys", r, s, nc)
		}
		out[r] = make([]board.Key, nc)
		for c := range nc {
			k := board.Key(s[c])
			switch {
			case s[c] == '.':
				k = board.KeyNone
			case k.IsDigit(), k == board.KeyStar, k == board.KeyHash, k == board.KeyOK,
				k == board.KeyBack, k == board.KeyUp, k == board.KeyDown:
			default:
				return nil, fmt.Errorf("keypad: keymap row %d: unknown key %q", r, s[c])
			}
			out[r][c] = k
		}
	}
	return out, nil
}
