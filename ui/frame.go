package ui

import (
	"strings"
	"unicode/utf8"
)

// Cols is the width, in characters, that body lines are wrapped to: what the
// 128×64 pixel LCD shows with its 7-pixel font. The 20-column character LCD
// uses the two spare columns for scroll marks.
const Cols = 18

// NoLine is the value of Frame.Edit and Frame.Highlight when unused, and of
// Frame.Progress when there is no progress bar.
const NoLine = -1

// Frame is one logical screen image that both renderers draw.
type Frame struct {
	Screen Screen
	// Title is the left part of the (inverted) title bar.
	Title string
	// Status is the right part of the title bar: the clock, or the retry
	// countdown; "" for none.
	Status string
	// Lines are the body lines, wrapped to Cols runes, except Lines[Edit]
	// which renderers show by its tail when too long.
	Lines []string
	// Top is the first body line to show (scrolling); renderers clamp it.
	Top int
	// Edit is the index of the input line (drawn with a cursor and kept
	// visible), or NoLine.
	Edit int
	// Highlight is the index of a line drawn inverted, or NoLine.
	Highlight int
	// Progress is 0..100 for a progress bar, or NoLine.
	Progress int
	// Softkeys are the labels of the Back (left) and OK (right) keys; ""
	// means the key does nothing on this screen.
	Softkeys [2]string
}

// HasSoftkeys reports whether any softkey label is set.
func (f Frame) HasSoftkeys() bool { return f.Softkeys[0] != "" || f.Softkeys[1] != "" }

// Window returns the range [first, end) of Lines to show in rows body rows:
// Top clamped so that no rows are wasted, then moved so that the Edit line
// is visible.
func (f Frame) Window(rows int) (first, end int) {
	n := len(f.Lines)
	if rows <= 0 || n == 0 {
		return 0, 0
	}
	first = f.Top
	if first > n-rows {
		first = n - rows
	}
	if f.Edit >= 0 && f.Edit < n {
		if f.Edit >= first+rows {
			first = f.Edit - rows + 1
		}
		if f.Edit < first {
			first = f.Edit
		}
	}
	first = max(first, 0)
	return first, min(first+rows, n)
}

// Text returns all the text of the frame (title, status, lines, softkeys),
// one item per line; tests use it to search for leaks.
func (f Frame) Text() string {
	var b strings.Builder
	b.WriteString(f.Title + "\n" + f.Status + "\n")
	for _, l := range f.Lines {
		b.WriteString(l + "\n")
	}
	b.WriteString(f.Softkeys[0] + "\n" + f.Softkeys[1] + "\n")
	return b.String()
}

// Wrap breaks s into lines of at most width runes, at spaces; a word longer
// than width is cut. "\n" forces a break. Non-breaking spaces (U+00A0) keep
// words together.
func Wrap(s string, width int) []string {
	if width < 1 {
		width = 1
	}
	var out []string
	for _, para := range strings.Split(s, "\n") {
		line, n := "", 0
		// Only ASCII blanks break: strings.Fields would also split at U+00A0.
		for _, w := range strings.FieldsFunc(para, func(r rune) bool { return r == ' ' || r == '\t' }) {
			wn := utf8.RuneCountInString(w)
			for wn > width { // cut over-long words
				if n > 0 {
					out = append(out, line)
					line, n = "", 0
				}
				r := []rune(w)
				out = append(out, string(r[:width]))
				w, wn = string(r[width:]), wn-width
			}
			switch {
			case n == 0:
				line, n = w, wn
			case n+1+wn <= width:
				line, n = line+" "+w, n+1+wn
			default:
				out = append(out, line)
				line, n = w, wn
			}
		}
		if n > 0 {
			out = append(out, line)
		}
	}
	return out
}

// Clip shortens s to at most width runes, ending it with "…" when cut.
func Clip(s string, width int) string {
	if width <= 0 {
		return ""
	}
	r := []rune(s)
	if len(r) <= width {
		return s
	}
	return string(r[:width-1]) + "…"
}

// Tail keeps the last width runes of s, starting it with "…" when cut (for
// input lines, where the end is where the user types).
func Tail(s string, width int) string {
	if width <= 0 {
		return ""
	}
	r := []rune(s)
	if len(r) <= width {
		return s
	}
	return "…" + string(r[len(r)-width+1:])
}
