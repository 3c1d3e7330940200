package sim

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"sync"

	"periph.io/x/conn/v3/display"
	"periph.io/x/devices/v3/ssd1306/image1bit"
)

// LCD geometry of the simulated pixel display.
const (
	LCDWidth  = 128
	LCDHeight = 64
)

// LCD is a simulated 128×64 monochrome pixel LCD. It keeps the current frame,
// counts frames, and calls OnFrame after every Draw that changed the picture.
//
// A pixel is lit when the drawn colour is light (the same conversion as the
// SSD1306 driver: image1bit.BitModel); the frame stores lit pixels as 0xFF
// and dark ones as 0x00.
type LCD struct {
	// OnFrame, when set, is called with a copy of the new frame after every
	// Draw that changed it (phonesim draws it in the terminal or writes a
	// PNG). Set it before the first Draw; it is called without locks held,
	// from the goroutine that called Draw.
	OnFrame func(image.Image)

	mu     sync.Mutex
	frame  *image.Gray
	frames int
	draws  int
	halted bool
}

var _ display.Drawer = (*LCD)(nil)

// NewLCD returns a blank (all dark) 128×64 LCD.
func NewLCD() *LCD {
	return &LCD{frame: image.NewGray(image.Rect(0, 0, LCDWidth, LCDHeight))}
}

// String implements conn.Resource.
func (l *LCD) String() string { return "sim-lcd-128x64" }

// Halt implements conn.Resource: it blanks the display until the next Draw.
func (l *LCD) Halt() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.halted = true
	return nil
}

// ColorModel implements display.Drawer: 1 bit per pixel.
func (l *LCD) ColorModel() color.Model { return image1bit.BitModel }

// Bounds implements display.Drawer.
func (l *LCD) Bounds() image.Rectangle { return image.Rect(0, 0, LCDWidth, LCDHeight) }

// Draw implements display.Drawer. Only pixels inside both dstRect and the
// display change; each is lit if the source colour converts to image1bit.On.
func (l *LCD) Draw(dstRect image.Rectangle, src image.Image, sp image.Point) error {
	if src == nil {
		return fmt.Errorf("sim: lcd: draw: nil image")
	}
	l.mu.Lock()
	r := dstRect.Intersect(l.frame.Rect)
	next := image.NewGray(l.frame.Rect)
	copy(next.Pix, l.frame.Pix)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			p := image.Pt(x-dstRect.Min.X+sp.X, y-dstRect.Min.Y+sp.Y)
			v := uint8(0)
			if p.In(src.Bounds()) && image1bit.BitModel.Convert(src.At(p.X, p.Y)) == image1bit.On {
				v = 0xFF
			}
			next.SetGray(x, y, color.Gray{Y: v})
		}
	}
	l.draws++
	changed := !bytes.Equal(next.Pix, l.frame.Pix) || l.halted
	l.halted = false
	var hook func(image.Image)
	var snap *image.Gray
	if changed {
		l.frame = next
		l.frames++
		if l.OnFrame != nil {
			hook = l.OnFrame
			snap = cloneGray(next)
		}
	}
	l.mu.Unlock()
	if hook != nil {
		hook(snap)
	}
	return nil
}

// Frame returns a copy of the current frame (blank while halted).
func (l *LCD) Frame() *image.Gray {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.halted {
		return image.NewGray(l.frame.Rect)
	}
	return cloneGray(l.frame)
}

// Frames returns how many distinct frames were shown (Draws that changed
// the picture).
func (l *LCD) Frames() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.frames
}

// Draws returns how many times Draw was called.
func (l *LCD) Draws() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.draws
}

// Lit reports whether the pixel at x, y is on.
func (l *LCD) Lit(x, y int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return !l.halted && l.frame.GrayAt(x, y).Y != 0
}

func cloneGray(g *image.Gray) *image.Gray {
	c := image.NewGray(g.Rect)
	copy(c.Pix, g.Pix)
	return c
}
