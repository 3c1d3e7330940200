// Package pixel draws ui.Frames on a 128×64 monochrome LCD: to an
// image.Gray (ink 0x00 on paper 0xFF), to a periph display.Drawer, and to
// 1-bit PNG snapshots.
//
// Layout (y in pixels): an inverted 12-pixel title bar (0-11), body lines on
// a 12-pixel pitch from y=13 (4 lines, or 3 when softkeys are shown), the
// softkey labels in inverted boxes at the bottom (52-63). A progress bar
// takes the last body line; a 1-pixel scroll bar at x=127 shows when the
// body scrolls. The font is described in font.go.
package pixel

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"strings"

	"periph.io/x/conn/v3/display"

	"github.com/deskphone/deskphone/ui"
)

// The LCD size.
const (
	Width  = 128
	Height = 64
)

const (
	paper   = 0xff
	ink     = 0x00
	lineH   = 12 // glyph rows 1..12 of the 13-row cell
	titleH  = 12
	bodyY   = 13
	softY   = Height - lineH
	textX   = 1
	maxBody = 4
)

// Render draws f.
func Render(f ui.Frame) *image.Gray {
	img := image.NewGray(image.Rect(0, 0, Width, Height))
	fill(img, img.Bounds(), paper)

	// Title bar, inverted: title left, status right.
	fill(img, image.Rect(0, 0, Width, titleH), ink)
	status := clipCells(f.Status, ui.Cols)
	room := ui.Cols
	if status != "" {
		sw := textWidth(status)
		drawText(img, Width-1-(sw*advance-1), 0, status, paper)
		room = ui.Cols - sw - 1
	}
	drawText(img, textX, 0, clipCells(f.Title, room), paper)

	// Body.
	rows := maxBody
	if f.HasSoftkeys() {
		rows = 3
	}
	textRows := rows
	if f.Progress >= 0 {
		textRows--
		drawProgress(img, bodyY+textRows*lineH, f.Progress)
	}
	first, end := f.Window(textRows)
	for i := first; i < end; i++ {
		y := bodyY + (i-first)*lineH
		line := f.Lines[i]
		switch i {
		case f.Edit:
			drawEdit(img, y, line)
		case f.Highlight:
			fill(img, image.Rect(0, y, Width, y+lineH), ink)
			drawText(img, textX, y, clipCells(line, ui.Cols), paper)
		default:
			drawText(img, textX, y, clipCells(line, ui.Cols), ink)
		}
	}
	if n := len(f.Lines); textRows > 0 && n > textRows {
		drawScrollBar(img, textRows, first, end, n)
	}

	// Softkeys: Back label left, OK label right, in inverted boxes.
	room = ui.Cols
	if l := clipCells(f.Softkeys[0], (ui.Cols-1)/2); l != "" {
		w := textWidth(l)*advance + 3
		fill(img, image.Rect(0, softY, w, Height), ink)
		drawText(img, 2, softY, l, paper)
		room = ui.Cols - 1 - textWidth(l)
	}
	if r := clipCells(f.Softkeys[1], room); r != "" {
		w := textWidth(r)*advance + 3
		fill(img, image.Rect(Width-w, softY, Width, Height), ink)
		drawText(img, Width-w+2, softY, r, paper)
	}
	return img
}

// drawEdit draws an input line: its tail, a bar cursor, and an underline.
func drawEdit(img *image.Gray, y int, s string) {
	s = tailCells(s, ui.Cols-1)
	x := drawText(img, textX, y, s, ink)
	fill(img, image.Rect(x, y+1, x+2, y+lineH-2), ink)
	for px := 0; px < Width-2; px += 2 {
		img.Pix[img.PixOffset(px, y+lineH-1)] = ink
	}
}

func tailCells(s string, n int) string {
	r := []rune(s)
	for len(r) > 0 && textWidth(string(r)) > n {
		r = r[1:]
	}
	if len(r) < len([]rune(s)) && len(r) > 0 {
		r[0] = '…'
	}
	return string(r)
}

// drawProgress draws a bar in the body slot at y for pct percent.
func drawProgress(img *image.Gray, y, pct int) {
	outer := image.Rect(textX, y+2, Width-2, y+10)
	fill(img, outer, ink)
	fill(img, outer.Inset(1), paper)
	inner := outer.Inset(2)
	inner.Max.X = inner.Min.X + inner.Dx()*min(pct, 100)/100
	fill(img, inner, ink)
}

// drawScrollBar draws a dotted track and a solid thumb at x=Width-1.
func drawScrollBar(img *image.Gray, rows, first, end, n int) {
	h := rows * lineH
	for y := 0; y < h; y += 2 {
		img.Pix[img.PixOffset(Width-1, bodyY+y)] = ink
	}
	top, bot := bodyY+first*h/n, bodyY+(end*h+n-1)/n
	fill(img, image.Rect(Width-1, top, Width, bot), ink)
}

// drawText draws s with glyph row 1 at y and returns the x after it. Rows
// 1..12 of each 13-row cell are drawn (row 0 is always blank).
func drawText(img *image.Gray, x, y int, s string, c uint8) int {
	b := img.Bounds()
	for _, r := range s {
		for _, gl := range runeGlyphs(r) {
			for row := 1; row < cellH; row++ {
				py := y + row - 1
				if py < b.Min.Y || py >= b.Max.Y || gl[row] == 0 {
					continue
				}
				for col := range cellW {
					px := x + col
					if gl[row]&(1<<(cellW-1-col)) != 0 && px >= b.Min.X && px < b.Max.X {
						img.Pix[img.PixOffset(px, py)] = c
					}
				}
			}
			x += advance
		}
	}
	return x
}

func fill(img *image.Gray, r image.Rectangle, c uint8) {
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		row := img.Pix[img.PixOffset(r.Min.X, y):img.PixOffset(r.Max.X, y)]
		for i := range row {
			row[i] = c
		}
	}
}

// Draw sends img to the display d, aligned at its top-left corner.
func Draw(d display.Drawer, img image.Image) error {
	if err := d.Draw(d.Bounds(), img, img.Bounds().Min); err != nil {
		return fmt.Errorf("pixel: draw: %w", err)
	}
	return nil
}

// palette1 is the 1-bit palette of EncodePNG: ink, paper.
var palette1 = color.Palette{color.Gray{Y: ink}, color.Gray{Y: paper}}

// EncodePNG writes img as a 1-bit grayscale-palette PNG: pixels darker than
// mid-gray are ink.
func EncodePNG(w io.Writer, img image.Image) error {
	b := img.Bounds()
	p := image.NewPaletted(b, palette1)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if !isInk(img.At(x, y)) {
				p.SetColorIndex(x, y, 1)
			}
		}
	}
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(w, p); err != nil {
		return fmt.Errorf("pixel: encode png: %w", err)
	}
	return nil
}

func isInk(c color.Color) bool {
	return color.GrayModel.Convert(c).(color.Gray).Y < 0x80
}

// String is an ASCII-art dump of img ('#' ink, '.' paper), for test failure
// messages.
func String(img image.Image) string {
	var sb strings.Builder
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if isInk(img.At(x, y)) {
				sb.WriteByte('#')
			} else {
				sb.WriteByte('.')
			}
		}
		sb.WriteByte('\n')
	}
	return sb.String()
}
