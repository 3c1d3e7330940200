package pixel

import (
	"slices"
	"strings"

	"golang.org/x/image/font/basicfont"

	"github.com/deskphone/deskphone/ui"
)

// The font is golang.org/x/image/font/basicfont.Face7x13 (X11 misc-fixed,
// public domain): 6×13 glyph cells on a 7-pixel advance. It covers printable
// ASCII only, so the Latin-1 letters French and German need (é è ê à ç ô ù
// û ä ö ü ß …) and a few symbols (— • … ↑ ↓) are composed at init from its
// base glyphs plus small accent bitmaps. Any other rune is drawn as its
// ASCII transliteration (ui.ASCIIRune), so nothing shows as tofu.
const (
	cellW   = 7 // bits stored per row: basicfont's 6 columns plus the gap
	cellH   = 13
	advance = 7
)

// glyph is one cell: bit 1<<(cellW-1-x) of row y is an ink pixel. Only the
// em dash uses column 6, so that it runs into its neighbours' gap and looks
// longer than a hyphen.
type glyph [cellH]uint8

var glyphs = buildGlyphs()

// Covered returns the runes drawn with a glyph of their own (ASCII from
// basicfont plus the composed ones), sorted.
func Covered() []rune {
	out := make([]rune, 0, len(glyphs))
	for r := range glyphs {
		out = append(out, r)
	}
	slices.Sort(out)
	return out
}

func parseRows(rows ...string) []uint8 {
	out := make([]uint8, len(rows))
	for i, r := range rows {
		for x, c := range r {
			if c == '#' {
				out[i] |= 1 << (cellW - 1 - x)
			}
		}
	}
	return out
}

// Accents: two rows each. Lower-case letters take them on rows 2-3 (the
// x-height starts at row 5); capitals are squashed by two rows (see squash)
// and take them on rows 1-2.
var (
	acute     = parseRows("    # ", "   #  ")
	grave     = parseRows(" #    ", "  #   ")
	circ      = parseRows("  ##  ", " #  # ")
	diaeresis = parseRows("      ", " #  # ")
	cedilla   = parseRows("   #  ", "  #   ") // rows 11-12
)

func buildGlyphs() map[rune]glyph {
	g := map[rune]glyph{}
	f := basicfont.Face7x13
	for _, rg := range f.Ranges {
		for r := rg.Low; r < rg.High; r++ {
			var gl glyph
			y0 := (int(r-rg.Low) + rg.Offset) * cellH
			for y := range cellH {
				for x := range f.Width {
					if _, _, _, a := f.Mask.At(x, y0+y).RGBA(); a >= 0x8000 {
						gl[y] |= 1 << (cellW - 1 - x)
					}
				}
			}
			g[r] = gl
		}
	}
	delete(g, '\ufffd') // drawn through transliteration instead

	over := func(base glyph, at int, rows []uint8) glyph {
		for i, r := range rows {
			base[at+i] |= r
		}
		return base
	}
	dotless := g['i']
	for y := range 5 {
		dotless[y] = 0
	}
	lower := map[rune]glyph{'a': g['a'], 'e': g['e'], 'i': dotless, 'o': g['o'], 'u': g['u'], 'y': g['y']}
	for _, c := range []struct {
		r      rune
		base   rune
		accent []uint8
	}{
		{'à', 'a', grave}, {'á', 'a', acute}, {'â', 'a', circ}, {'ä', 'a', diaeresis},
		{'è', 'e', grave}, {'é', 'e', acute}, {'ê', 'e', circ}, {'ë', 'e', diaeresis},
		{'ì', 'i', grave}, {'í', 'i', acute}, {'î', 'i', circ}, {'ï', 'i', diaeresis},
		{'ò', 'o', grave}, {'ó', 'o', acute}, {'ô', 'o', circ}, {'ö', 'o', diaeresis},
		{'ù', 'u', grave}, {'ú', 'u', acute}, {'û', 'u', circ}, {'ü', 'u', diaeresis},
		{'ÿ', 'y', diaeresis},
	} {
		g[c.r] = over(lower[c.base], 2, c.accent)
	}
	for _, c := range []struct {
		r      rune
		base   rune
		accent []uint8
	}{
		{'À', 'A', grave}, {'Á', 'A', acute}, {'Â', 'A', circ}, {'Ä', 'A', diaeresis},
		{'È', 'E', grave}, {'É', 'E', acute}, {'Ê', 'E', circ}, {'Ë', 'E', diaeresis},
		{'Ì', 'I', grave}, {'Í', 'I', acute}, {'Î', 'I', circ}, {'Ï', 'I', diaeresis},
		{'Ò', 'O', grave}, {'Ó', 'O', acute}, {'Ô', 'O', circ}, {'Ö', 'O', diaeresis},
		{'Ù', 'U', grave}, {'Ú', 'U', acute}, {'Û', 'U', circ}, {'Ü', 'U', diaeresis},
		{'Ÿ', 'Y', diaeresis},
	} {
		g[c.r] = over(squash(g[c.base]), 1, c.accent)
	}
	g['ç'] = over(g['c'], 11, cedilla)
	g['Ç'] = over(g['C'], 11, cedilla)

	custom := func(r rune, top int, rows ...string) {
		var gl glyph
		copy(gl[top:], parseRows(rows...))
		g[r] = gl
	}
	custom('ß', 2,
		" ###  ",
		"#   # ",
		"#   # ",
		"#  #  ",
		"# ##  ",
		"#   # ",
		"#    #",
		"#   # ",
		"# ##  ")
	custom('•', 6, "  ##  ", " #### ", " #### ", "  ##  ")
	custom('—', 6, "#######")
	custom('–', 6, "######")
	custom('…', 10, "# # # ")
	custom('·', 6, "  ##  ", "  ##  ")
	custom('°', 2, " ##   ", "#  #  ", " ##   ")
	custom('↑', 2, "  #   ", " ###  ", "# # # ", "  #   ", "  #   ", "  #   ", "  #   ", "  #   ", "  #   ")
	custom('↓', 2, "  #   ", "  #   ", "  #   ", "  #   ", "  #   ", "  #   ", "# # # ", " ###  ", "  #   ")
	for r, same := range map[rune]rune{'\u00a0': ' ', '\u202f': ' ', '’': '\'', '‘': '`', '“': '"', '”': '"', '‐': '-', '‑': '-'} {
		g[r] = g[same]
	}
	return g
}

// squash makes room above a capital (rows 2-10) for an accent: twice, it
// drops one of two equal adjacent rows, nearest the middle, and moves the
// rows above it down by one. The capital then takes rows 4-10, leaving rows
// 1-2 for the accent and row 3 blank.
func squash(gl glyph) glyph {
	for top := 2; top <= 3; top++ {
		drop := 6
		for _, r := range []int{6, 5, 7, 4, 8, 3, 9} {
			if r > top && gl[r] == gl[r+1] {
				drop = r
				break
			}
		}
		copy(gl[top+1:drop+1], gl[top:drop])
		gl[top] = 0
	}
	return gl
}

// runeGlyphs returns the glyphs that draw r: its own, or those of its ASCII
// transliteration.
func runeGlyphs(r rune) []glyph {
	if gl, ok := glyphs[r]; ok {
		return []glyph{gl}
	}
	var out []glyph
	for _, c := range ui.ASCIIRune(r) {
		out = append(out, glyphs[c])
	}
	return out
}

// textWidth is the number of cells s takes once transliterated.
func textWidth(s string) int {
	n := 0
	for _, r := range s {
		n += len(runeGlyphs(r))
	}
	return n
}

// clipCells shortens s to at most n cells, ending it with "…" when cut.
func clipCells(s string, n int) string {
	if textWidth(s) <= n {
		return s
	}
	var b strings.Builder
	used := 0
	for _, r := range s {
		w := len(runeGlyphs(r))
		if used+w > n-1 {
			break
		}
		b.WriteRune(r)
		used += w
	}
	return b.String() + "…"
}
