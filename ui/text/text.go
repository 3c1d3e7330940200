// Package text draws ui.Frames on a 20×4 character LCD (HD44780 class,
// periph display.TextDisplay), in ASCII: é→e, ü→ue, ß→ss, •→*, —→-.
//
// Layout: row 0 is the title, with the status (clock, retry countdown) or
// the progress percentage right-aligned; rows 1-3 are body lines, or rows
// 1-2 when softkeys are shown on row 3 (Back label left, OK label right;
// left out on input screens whose prompt needs three rows).
// Body text uses 19 columns; column 20 shows '^' or 'v' when the body
// scrolls. Input lines end with a '_' cursor.
package text

import (
	"fmt"
	"strings"

	"periph.io/x/conn/v3/display"

	"github.com/deskphone/deskphone/ui"
)

// The LCD size.
const (
	Cols = 20
	Rows = 4
)

// Render lays f out as 4 rows of exactly Cols ASCII characters.
func Render(f ui.Frame) [Rows]string {
	var out [Rows]string

	status := ascii(f.Status, Cols)
	if status == "" && f.Progress >= 0 {
		status = fmt.Sprintf("%d%%", min(f.Progress, 100))
	}
	room := Cols
	if status != "" {
		room = Cols - len(status) - 1
	}
	out[0] = pad(ascii(f.Title, room), Cols-len(status)) + status

	// Softkeys take row 3, except on an input screen whose prompt needs it:
	// the Back and OK keys work without their labels.
	body := Rows - 1
	if f.HasSoftkeys() && (f.Edit < 0 || len(f.Lines) <= body-1) {
		body--
		left := ascii(f.Softkeys[0], (Cols-1)/2)
		right := ascii(f.Softkeys[1], Cols-1-len(left))
		out[Rows-1] = pad(left, Cols-len(right)) + right
	}
	first, end := f.Window(body)
	for i := range body {
		var line string
		if li := first + i; li < end {
			if li == f.Edit {
				line = tail(ui.ASCII(f.Lines[li]), Cols-2) + "_"
			} else {
				line = ascii(f.Lines[li], Cols-1)
			}
		}
		mark := " "
		switch {
		case i == 0 && first > 0:
			mark = "^"
		case i == body-1 && end < len(f.Lines):
			mark = "v"
		}
		out[1+i] = pad(line, Cols-1) + mark
	}
	for i, l := range out {
		if l == "" {
			out[i] = strings.Repeat(" ", Cols)
		}
	}
	return out
}

// ascii transliterates s and shortens it to n columns, ending with ".."
// when cut.
func ascii(s string, n int) string {
	a := ui.ASCII(s)
	if len(a) <= n {
		return a
	}
	if n < 3 {
		return a[:max(n, 0)]
	}
	return a[:n-2] + ".."
}

// tail keeps the last n columns of a, starting with ".." when cut.
func tail(a string, n int) string {
	if len(a) <= n {
		return a
	}
	return ".." + a[len(a)-n+2:]
}

func pad(s string, n int) string {
	if len(s) >= n {
		return s[:n]
	}
	return s + strings.Repeat(" ", n-len(s))
}

// Write shows lines on d, one per row from its first row, cut to its width.
func Write(d display.TextDisplay, lines [Rows]string) error {
	n := min(Rows, d.Rows())
	for i := range n {
		if err := d.MoveTo(d.MinRow()+i, d.MinCol()); err != nil {
			return fmt.Errorf("text: move to row %d: %w", i, err)
		}
		l := lines[i]
		if c := d.Cols(); c > 0 && len(l) > c {
			l = l[:c]
		}
		if _, err := d.WriteString(l); err != nil {
			return fmt.Errorf("text: write row %d: %w", i, err)
		}
	}
	return nil
}
