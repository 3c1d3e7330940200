package pixel

import (
	"bytes"
	"flag"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bkey "github.com/deskphone/deskphone/board"
	"github.com/deskphone/deskphone/ui"
	"github.com/deskphone/deskphone/ui/uitest"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestGolden renders every sample screen in every language and compares it
// pixel for pixel with testdata/golden/<lang>/<name>.png.
func TestGolden(t *testing.T) {
	for _, lang := range ui.Langs() {
		names := map[string]bool{}
		for _, c := range uitest.Cases(lang) {
			names[c.Name] = true
			t.Run(string(lang)+"/"+c.Name, func(t *testing.T) {
				img := Render(c.Model.View())
				var buf bytes.Buffer
				if err := EncodePNG(&buf, img); err != nil {
					t.Fatal(err)
				}
				path := filepath.Join("testdata", "golden", string(lang), c.Name+".png")
				if *update {
					if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run go test ./ui/... -update)", err)
				}
				if bytes.Equal(want, buf.Bytes()) {
					return
				}
				wantImg, err := png.Decode(bytes.NewReader(want))
				if err != nil {
					t.Fatal(err)
				}
				if got, w := String(img), String(wantImg); got != w {
					t.Errorf("%s differs (refresh with -update)\ngot:\n%swant:\n%s", path, got, w)
				}
			})
		}
		for _, s := range ui.Screens() {
			if !names[s.String()] {
				t.Errorf("%s: no sample case for screen %s", lang, s)
			}
		}
	}
}

func TestComposedGlyphs(t *testing.T) {
	// Every non-ASCII rune in the catalog samples has a glyph of its own.
	for _, lang := range ui.Langs() {
		for _, c := range uitest.Cases(lang) {
			f := c.Model.View()
			for _, r := range f.Text() {
				if _, ok := glyphs[r]; !ok && r != '\n' {
					t.Errorf("%s/%s: rune %q has no glyph", lang, c.Name, r)
				}
			}
		}
	}
	// Accented letters differ from their base letter and from each other.
	seen := map[glyph]rune{}
	for _, r := range "aàâäeéèêëiîïoôöuùûüyÿcçAÀÂÄEÉÈÊËIÎÏOÔÖUÙÛÜCÇsß-—•" {
		gl := glyphs[r]
		if prev, dup := seen[gl]; dup {
			t.Errorf("%q and %q share a glyph", r, prev)
		}
		seen[gl] = r
		if gl == (glyph{}) {
			t.Errorf("%q is blank", r)
		}
	}
	// Capital accents stay inside rows 1..12, which drawText draws.
	for _, r := range Covered() {
		if glyphs[r][0] != 0 {
			t.Errorf("%q uses row 0, which is not drawn", r)
		}
	}
	// A rune without a glyph is drawn as its transliteration.
	if got := len(runeGlyphs('æ')); got != 2 {
		t.Errorf("æ draws %d glyphs, want 2 (ae)", got)
	}
	if got := runeGlyphs('☃'); len(got) != 1 || got[0] != glyphs['?'] {
		t.Errorf("unknown rune not drawn as '?'")
	}
}

func TestPINNotRendered(t *testing.T) {
	// The PIN frame shows bullets; two PINs of the same length render the
	// same image.
	m1, m2 := pinModel("1357"), pinModel("9864")
	if String(Render(m1.View())) != String(Render(m2.View())) {
		t.Error("rendering depends on the PIN digits")
	}
}

func pinModel(pin string) ui.Model {
	m, _ := ui.New(ui.EN, "1").Update(ui.AskCredentials{User: "1001"})
	for _, k := range "O" + pin {
		m, _ = m.Update(ui.Key{Key: board(k)})
	}
	return m
}

func TestDrawAndClip(t *testing.T) {
	d := uitest.NewDrawer(Width, Height)
	img := Render(uitest.Cases(ui.EN)[0].Model.View())
	if err := Draw(d, img); err != nil {
		t.Fatal(err)
	}
	if d.Frames != 1 || String(d.Img) != String(img) {
		t.Error("drawer did not get the image")
	}
	d.Err = os.ErrClosed
	if err := Draw(d, img); err == nil || !strings.HasPrefix(err.Error(), "pixel: draw:") {
		t.Errorf("Draw error = %v", err)
	}
	// Over-long text is clipped, never drawn outside the image.
	f := ui.Frame{Title: strings.Repeat("Ü", 40), Status: strings.Repeat("9", 40),
		Lines: []string{strings.Repeat("ß", 40), strings.Repeat("•", 40)}, Edit: 1, Highlight: 0,
		Progress: 250, Softkeys: [2]string{strings.Repeat("x", 30), strings.Repeat("y", 30)}}
	if got := Render(f).Bounds(); got != image.Rect(0, 0, Width, Height) {
		t.Errorf("bounds %v", got)
	}
}

func BenchmarkRender(b *testing.B) {
	f := uitest.Cases(ui.FR)[len(uitest.Cases(ui.FR))-4].Model.View()
	b.ReportAllocs()
	for b.Loop() {
		Render(f)
	}
}

func BenchmarkEncodePNG(b *testing.B) {
	img := Render(uitest.Cases(ui.DE)[0].Model.View())
	b.ReportAllocs()
	for b.Loop() {
		var buf bytes.Buffer
		_ = EncodePNG(&buf, img)
	}
}

func board(r rune) bkey.Key { return bkey.Key(r) }

// TestGlyphSheet renders every composed glyph to testdata/golden/glyphs.png,
// to check them by eye after a font change.
func TestGlyphSheet(t *testing.T) {
	f := ui.Frame{Title: "Glyphs ÄÖÜ", Status: "ÉÈ", Edit: ui.NoLine, Highlight: ui.NoLine, Progress: ui.NoLine,
		Lines: []string{
			"àáâäèéêëìíîïòóôö",
			"ùúûüÿçß•—–…·°↑↓-",
			"ÀÁÂÄÈÉÊËÌÍÎÏÒÓÔÖ",
			"ÙÚÛÜŸÇ Échec—Öl ß",
		}}
	var buf bytes.Buffer
	if err := EncodePNG(&buf, Render(f)); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "golden", "glyphs.png")
	if *update {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(want, buf.Bytes()) {
		t.Errorf("%s differs (refresh with -update)", path)
	}
}
