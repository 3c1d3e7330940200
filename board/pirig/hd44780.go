package pirig

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"periph.io/x/conn/v3/display"
	"periph.io/x/conn/v3/i2c"
)

// PCF8574 backpack wiring of the HD44780 (the common "LCM1602 IIC" board):
// P0=RS, P1=RW, P2=E, P3=backlight, P4..P7=D4..D7.
const (
	pcfRS        = 0x01
	pcfRW        = 0x02
	pcfE         = 0x04
	pcfBacklight = 0x08
)

// HD44780 instructions (datasheet table 6).
const (
	lcdClear       = 0x01
	lcdHome        = 0x02
	lcdEntryMode   = 0x04 // | 0x02 increment
	lcdDisplayCtl  = 0x08 // | 0x04 display on, 0x02 cursor, 0x01 blink
	lcdFunctionSet = 0x20 // | 0x08 two lines (0x10 would be 8-bit)
	lcdSetDDRAM    = 0x80
)

// hd44780RowOffsets are the DDRAM addresses of the rows of a 20×4 panel.
var hd44780RowOffsets = [4]byte{0x00, 0x40, 0x14, 0x54}

// HD44780 is an HD44780 character LCD behind a PCF8574 I²C backpack, driven
// in 4-bit mode, as a display.TextDisplay. Each instruction or character is
// one I²C write of 4 bytes (high nibble with E high, E low, low nibble with E
// high, E low).
//
// periph's devices/v3 v3.7.4 hd44780 package takes GPIO pins and does not
// implement display.TextDisplay, and its row addressing (line×0x40) only
// fits 2-line panels; driving it through pcf857x pins would cost one I²C
// transaction per pin change. This driver writes the backpack protocol
// directly.
//
// The cursor position is tracked in software; a shadow copy of the screen
// makes auto scroll possible (the controller has no line scrolling).
type HD44780 struct {
	mu        sync.Mutex
	dev       i2c.Dev
	rows      int
	cols      int
	sleep     func(time.Duration)
	backlight byte
	ctl       byte // display control bits (on, cursor, blink)
	row, col  int
	scroll    bool
	shadow    [][]byte
}

var (
	_ display.TextDisplay      = (*HD44780)(nil)
	_ display.DisplayBacklight = (*HD44780)(nil)
)

// NewHD44780 initialises a rows×cols HD44780 (at most 4×40) behind a
// PCF8574 at addr (usually 0x27 or 0x3F) and returns it cleared, on, with
// the backlight on. sleep waits the controller's execution times; nil means
// time.Sleep (tests pass a no-op).
func NewHD44780(bus i2c.Bus, addr uint16, rows, cols int, sleep func(time.Duration)) (*HD44780, error) {
	if rows < 1 || rows > 4 || cols < 1 || cols > 40 {
		return nil, fmt.Errorf("pirig: hd44780: unsupported geometry %dx%d", cols, rows)
	}
	if sleep == nil {
		sleep = time.Sleep
	}
	d := &HD44780{dev: i2c.Dev{Bus: bus, Addr: addr}, rows: rows, cols: cols, sleep: sleep, backlight: pcfBacklight}
	d.shadow = make([][]byte, rows)
	for i := range d.shadow {
		d.shadow[i] = make([]byte, cols)
	}
	if err := d.init(); err != nil {
		return nil, fmt.Errorf("pirig: hd44780: init: %w", err)
	}
	return d, nil
}

// init runs the 4-bit initialisation by instruction of datasheet figure 24.
func (d *HD44780) init() error {
	d.sleep(50 * time.Millisecond) // > 40 ms after Vcc rises
	for i, wait := range []time.Duration{4500 * time.Microsecond, 150 * time.Microsecond, 150 * time.Microsecond} {
		if err := d.nibble(0x3, 0); err != nil {
			return fmt.Errorf("function set %d: %w", i, err)
		}
		d.sleep(wait)
	}
	if err := d.nibble(0x2, 0); err != nil {
		return fmt.Errorf("4-bit mode: %w", err)
	}
	d.ctl = 0x04
	for _, c := range []byte{lcdFunctionSet | 0x08, lcdDisplayCtl, lcdClear, lcdEntryMode | 0x02, lcdDisplayCtl | d.ctl} {
		if err := d.command(c); err != nil {
			return err
		}
	}
	d.clearShadow()
	return nil
}

// nibble writes the low 4 bits of v with a pulse on E.
func (d *HD44780) nibble(v, rs byte) error {
	b := v<<4 | d.backlight | rs
	return d.dev.Tx([]byte{b | pcfE, b}, nil)
}

// send writes one byte as two nibbles in a single I²C transaction.
func (d *HD44780) send(v, rs byte) error {
	hi := v&0xF0 | d.backlight | rs
	lo := v<<4 | d.backlight | rs
	return d.dev.Tx([]byte{hi | pcfE, hi, lo | pcfE, lo}, nil)
}

func (d *HD44780) command(c byte) error {
	if err := d.send(c, 0); err != nil {
		return fmt.Errorf("command %#x: %w", c, err)
	}
	if c == lcdClear || c == lcdHome {
		d.sleep(2 * time.Millisecond) // 1.52 ms
	}
	return nil
}

func (d *HD44780) clearShadow() {
	for _, r := range d.shadow {
		for i := range r {
			r[i] = ' '
		}
	}
	d.row, d.col = 0, 0
}

func (d *HD44780) setAddr() error {
	return d.command(lcdSetDDRAM | (hd44780RowOffsets[d.row] + byte(d.col)))
}

// String implements display.TextDisplay.
func (d *HD44780) String() string {
	return fmt.Sprintf("hd44780-pcf8574{%s, %#x, %dx%d}", d.dev.Bus, d.dev.Addr, d.cols, d.rows)
}

// Halt implements conn.Resource: it turns the display and backlight off.
func (d *HD44780) Halt() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.backlight = 0
	d.ctl &^= 0x04
	return d.command(lcdDisplayCtl | d.ctl)
}

// Cols implements display.TextDisplay.
func (d *HD44780) Cols() int { return d.cols }

// Rows implements display.TextDisplay.
func (d *HD44780) Rows() int { return d.rows }

// MinRow implements display.TextDisplay: rows are 0-based.
func (d *HD44780) MinRow() int { return 0 }

// MinCol implements display.TextDisplay: columns are 0-based.
func (d *HD44780) MinCol() int { return 0 }

// AutoScroll implements display.TextDisplay: with it on, writing past the
// last row moves the text up one row (rewriting the screen).
func (d *HD44780) AutoScroll(enabled bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.scroll = enabled
	return nil
}

// Clear implements display.TextDisplay.
func (d *HD44780) Clear() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.clearShadow()
	return d.command(lcdClear)
}

// Home implements display.TextDisplay.
func (d *HD44780) Home() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.row, d.col = 0, 0
	return d.command(lcdHome)
}

// Cursor implements display.TextDisplay. Underline sets the cursor bit;
// Block and Blink set the blink bit (the controller's block cursor blinks).
func (d *HD44780) Cursor(modes ...display.CursorMode) error {
	ctl := d.ctl &^ 0x03
	for _, m := range modes {
		switch m {
		case display.CursorOff:
		case display.CursorUnderline:
			ctl |= 0x02
		case display.CursorBlock, display.CursorBlink:
			ctl |= 0x01
		default:
			return fmt.Errorf("pirig: hd44780: cursor mode %d: %w", m, display.ErrInvalidCommand)
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.ctl = ctl | d.ctl&0x04
	return d.command(lcdDisplayCtl | d.ctl)
}

// Move implements display.TextDisplay.
func (d *HD44780) Move(dir display.CursorDirection) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	row, col := d.row, d.col
	switch dir {
	case display.Backward:
		col--
	case display.Forward:
		col++
	case display.Up:
		row--
	case display.Down:
		row++
	default:
		return fmt.Errorf("pirig: hd44780: move %d: %w", dir, display.ErrInvalidCommand)
	}
	if row < 0 || row >= d.rows || col < 0 || col >= d.cols {
		return fmt.Errorf("pirig: hd44780: move to %d,%d: out of range", row, col)
	}
	d.row, d.col = row, col
	return d.setAddr()
}

// MoveTo implements display.TextDisplay.
func (d *HD44780) MoveTo(row, col int) error {
	if row < 0 || row >= d.rows || col < 0 || col >= d.cols {
		return fmt.Errorf("pirig: hd44780: move to %d,%d: out of range", row, col)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.row, d.col = row, col
	return d.setAddr()
}

// Display implements display.TextDisplay.
func (d *HD44780) Display(on bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if on {
		d.ctl |= 0x04
	} else {
		d.ctl &^= 0x04
	}
	return d.command(lcdDisplayCtl | d.ctl)
}

// Backlight implements display.DisplayBacklight: any intensity above 0 is
// on (the backpack switches it with a transistor).
func (d *HD44780) Backlight(intensity display.Intensity) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.backlight = 0
	if intensity > 0 {
		d.backlight = pcfBacklight
	}
	return d.command(lcdDisplayCtl | d.ctl)
}

// Write implements display.TextDisplay. '\n' moves to the next row.
func (d *HD44780) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i, c := range p {
		if err := d.putLocked(c); err != nil {
			return i, fmt.Errorf("pirig: hd44780: write: %w", err)
		}
	}
	return len(p), nil
}

// WriteString implements display.TextDisplay.
func (d *HD44780) WriteString(s string) (int, error) { return d.Write([]byte(s)) }

func (d *HD44780) putLocked(c byte) error {
	if c == '\n' {
		return d.newlineLocked()
	}
	if d.col >= d.cols {
		if err := d.newlineLocked(); err != nil {
			return err
		}
	}
	if err := d.send(c, pcfRS); err != nil {
		return err
	}
	d.shadow[d.row][d.col] = c
	d.col++
	return nil
}

func (d *HD44780) newlineLocked() error {
	d.col = 0
	switch {
	case d.row < d.rows-1:
		d.row++
	case !d.scroll:
		d.row = 0
	default:
		first := d.shadow[0]
		copy(d.shadow, d.shadow[1:])
		for i := range first {
			first[i] = ' '
		}
		d.shadow[d.rows-1] = first
		if err := d.redrawLocked(); err != nil {
			return err
		}
	}
	return d.setAddr()
}

func (d *HD44780) redrawLocked() error {
	var errs []error
	for r, line := range d.shadow {
		if err := d.command(lcdSetDDRAM | hd44780RowOffsets[r]); err != nil {
			return err
		}
		for _, c := range line {
			errs = append(errs, d.send(c, pcfRS))
		}
	}
	return errors.Join(errs...)
}
