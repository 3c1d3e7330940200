package termview

import (
	"flag"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/deskphone/deskphone/ui"
	"github.com/deskphone/deskphone/ui/pixel"
	"github.com/deskphone/deskphone/ui/text"
	"github.com/deskphone/deskphone/ui/uitest"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func TestGolden(t *testing.T) {
	cases := map[string]ui.Model{}
	for _, c := range uitest.Cases(ui.EN) {
		cases[c.Name] = c.Model
	}
	for _, name := range []string{"sign-in-pin", "error-retry", "registered"} {
		for _, mode := range []string{"pixel", "text"} {
			t.Run(name+"/"+mode, func(t *testing.T) {
				f := cases[name].View()
				var got string
				if mode == "pixel" {
					got = Render(pixel.Render(f))
				} else {
					rows := text.Render(f)
					got = RenderText(rows[:])
				}
				path := filepath.Join("testdata", "golden", name+"."+mode+".golden")
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
					t.Errorf("%s differs (refresh with -update)\ngot:\n%s", path, got)
				}
			})
		}
	}
}

func TestRenderShape(t *testing.T) {
	img := image.NewGray(image.Rect(0, 0, 3, 3))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	img.SetGray(0, 0, color.Gray{}) // top only
	img.SetGray(1, 1, color.Gray{}) // bottom only
	img.SetGray(2, 0, color.Gray{})
	img.SetGray(2, 1, color.Gray{}) // both
	img.SetGray(0, 2, color.Gray{}) // odd last row
	want := "┌───┐\n│▀▄█│\n│▀  │\n└───┘\n"
	if got := Render(img); got != want {
		t.Errorf("got\n%swant\n%s", got, want)
	}
	out := Render(pixel.Render(ui.Frame{Edit: ui.NoLine, Highlight: ui.NoLine, Progress: ui.NoLine}))
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 34 {
		t.Errorf("%d rows, want 34", len(lines))
	}
	for _, l := range lines {
		if n := utf8.RuneCountInString(l); n != 130 {
			t.Errorf("row of %d columns, want 130", n)
		}
	}
	if got := RenderText([]string{"ab", "é"}); got != "┌──┐\n│ab│\n│é │\n└──┘\n" {
		t.Errorf("RenderText = %q", got)
	}
}

func BenchmarkRender(b *testing.B) {
	img := pixel.Render(uitest.Cases(ui.EN)[0].Model.View())
	b.ReportAllocs()
	for b.Loop() {
		Render(img)
	}
}
