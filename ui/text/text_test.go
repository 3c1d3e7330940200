package text

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deskphone/deskphone/ui"
	"github.com/deskphone/deskphone/ui/uitest"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// golden frames each row as |row| so that trailing blanks survive editors.
func golden(rows [Rows]string) string {
	var b strings.Builder
	for _, r := range rows {
		b.WriteString("|" + r + "|\n")
	}
	return b.String()
}

func TestGolden(t *testing.T) {
	for _, lang := range ui.Langs() {
		for _, c := range uitest.Cases(lang) {
			t.Run(string(lang)+"/"+c.Name, func(t *testing.T) {
				rows := Render(c.Model.View())
				for i, r := range rows {
					if len(r) != Cols {
						t.Errorf("row %d is %d columns: %q", i, len(r), r)
					}
					for _, b := range []byte(r) {
						if b < 0x20 || b > 0x7e {
							t.Errorf("row %d has non-ASCII byte %#x", i, b)
						}
					}
				}
				got := golden(rows)
				path := filepath.Join("testdata", "golden", string(lang), c.Name+".golden")
				if *update {
					if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run go test ./ui/... -update)", err)
				}
				if got != string(want) {
					t.Errorf("%s differs (refresh with -update)\ngot:\n%swant:\n%s", path, got, want)
				}
			})
		}
	}
}

func TestRender(t *testing.T) {
	for _, tt := range []struct {
		name string
		f    ui.Frame
		want [Rows]string
	}{
		{"scroll marks and softkeys", ui.Frame{Title: "Fehler E701", Status: "18s",
			Lines: []string{"a", "b", "c", "d"}, Top: 1, Edit: ui.NoLine, Highlight: ui.NoLine, Progress: ui.NoLine,
			Softkeys: [2]string{"", "Wiederholen"}},
			[Rows]string{"Fehler E701      18s", "b                  ^", "c                  v", "         Wiederholen"}},
		{"progress in title, transliteration", ui.Frame{Title: "Téléchargement", Lines: []string{"Straße — ok…"},
			Edit: ui.NoLine, Highlight: ui.NoLine, Progress: 100},
			[Rows]string{"Telechargement  100%", "Strasse - ok...     ", "                    ", "                    "}},
		{"long title and edit tail", ui.Frame{Title: strings.Repeat("x", 30), Status: "10:42",
			Lines: []string{strings.Repeat("•", 24)}, Edit: 0, Highlight: ui.NoLine, Progress: ui.NoLine,
			Softkeys: [2]string{"Löschen", "Anmelden"}},
			[Rows]string{"xxxxxxxxxxxx.. 10:42", "..****************_ ", "                    ", "Loeschen    Anmelden"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := Render(tt.f); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", golden(got), golden(tt.want))
			}
		})
	}
}

func TestWrite(t *testing.T) {
	d := uitest.NewTextDisplay(4, 20)
	rows := Render(uitest.Cases(ui.DE)[0].Model.View())
	if err := Write(d, rows); err != nil {
		t.Fatal(err)
	}
	if got := d.Lines(); strings.Join(got, "\n") != strings.Join(rows[:], "\n") {
		t.Errorf("display shows %q, want %q", got, rows)
	}
	small := uitest.NewTextDisplay(2, 16)
	if err := Write(small, rows); err != nil {
		t.Fatal(err)
	}
	if got := small.Lines(); got[0] != rows[0][:16] {
		t.Errorf("small display row 0 = %q", got[0])
	}
	d.Err = errors.New("bus down")
	if err := Write(d, rows); err == nil || !strings.HasPrefix(err.Error(), "text: move to row 0:") {
		t.Errorf("Write error = %v", err)
	}
}

func BenchmarkRender(b *testing.B) {
	f := uitest.Cases(ui.FR)[len(uitest.Cases(ui.FR))-4].Model.View()
	b.ReportAllocs()
	for b.Loop() {
		Render(f)
	}
}
