// Package termview draws the phone's LCD in a terminal, for phonesim: the
// 128×64 pixel LCD with Unicode half blocks (two pixel rows per text row),
// or the lines of the 20×4 character LCD, each inside a box border.
package termview

import (
	"image"
	"image/color"
	"strings"
	"unicode/utf8"
)

// halves maps (top ink, bottom ink) to a half-block character.
var halves = [2][2]string{{" ", "▄"}, {"▀", "█"}}

// Render draws img (ink = pixels darker than mid-gray) with half blocks in
// a box: for a 128×64 image, 130 columns by 34 rows, each row ending in
// "\n". An odd last pixel row is drawn as if followed by paper.
func Render(img image.Image) string {
	b := img.Bounds()
	var sb strings.Builder
	sb.Grow((b.Dx() + 2) * 3 * (b.Dy()/2 + 3))
	sb.WriteString("┌" + strings.Repeat("─", b.Dx()) + "┐\n")
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		sb.WriteString("│")
		for x := b.Min.X; x < b.Max.X; x++ {
			top := isInk(img.At(x, y))
			bot := y+1 < b.Max.Y && isInk(img.At(x, y+1))
			sb.WriteString(halves[b2i(top)][b2i(bot)])
		}
		sb.WriteString("│\n")
	}
	sb.WriteString("└" + strings.Repeat("─", b.Dx()) + "┘\n")
	return sb.String()
}

// RenderText draws character-LCD lines in a box as wide as the longest
// line.
func RenderText(lines []string) string {
	w := 0
	for _, l := range lines {
		w = max(w, utf8.RuneCountInString(l))
	}
	var sb strings.Builder
	sb.WriteString("┌" + strings.Repeat("─", w) + "┐\n")
	for _, l := range lines {
		sb.WriteString("│" + l + strings.Repeat(" ", w-utf8.RuneCountInString(l)) + "│\n")
	}
	sb.WriteString("└" + strings.Repeat("─", w) + "┘\n")
	return sb.String()
}

func isInk(c color.Color) bool {
	return color.GrayModel.Convert(c).(color.Gray).Y < 0x80
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
