package ui

import (
	"go/ast"
	"go/parser"
	"go/token"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/deskphone/deskphone/bootstrap/failure"
)

// failureCodes parses bootstrap/failure/failure.go and returns every
// constant of type Code, so that a code added there without a translation
// fails this test.
func failureCodes(t *testing.T) map[string]failure.Code {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "../bootstrap/failure/failure.go", nil, 0)
	if err != nil {
		t.Fatalf("parse failure.go: %v", err)
	}
	codes := map[string]failure.Code{}
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			id, ok := vs.Type.(*ast.Ident)
			if !ok || id.Name != "Code" {
				continue
			}
			for i, n := range vs.Names {
				lit := vs.Values[i].(*ast.BasicLit)
				codes[n.Name] = failure.Code(strings.Trim(lit.Value, `"`))
			}
		}
	}
	if len(codes) < 20 {
		t.Fatalf("found only %d codes in failure.go; parser out of date?", len(codes))
	}
	return codes
}

func TestEveryCodeTranslated(t *testing.T) {
	codes := failureCodes(t)
	for name, code := range codes {
		byLang, ok := codeText[code]
		if !ok {
			t.Errorf("failure.%s (%s) has no catalog entry", name, code)
			continue
		}
		for _, l := range Langs() {
			e, ok := byLang[l]
			if !ok || e[0] == "" || e[1] == "" {
				t.Errorf("failure.%s (%s): no %s cause/fix", name, code, l)
			}
		}
	}
	for code := range codeText {
		if !slices.Contains(slicesValues(codes), code) {
			t.Errorf("catalog has %s, which failure.go does not define", code)
		}
	}
}

func slicesValues(m map[string]failure.Code) []failure.Code {
	var out []failure.Code
	for _, c := range m {
		out = append(out, c)
	}
	return out
}

// TestCodeTextFits checks the LCD budget: cause and fix each wrap to at
// most 3 lines of Cols, no word is cut, and the ASCII form (ß→ss) of every
// wrapped line fits the 20-column character LCD minus the scroll mark.
func TestCodeTextFits(t *testing.T) {
	for code, byLang := range codeText {
		for l, e := range byLang {
			for _, s := range e {
				checkText(t, string(code)+"/"+string(l), s, 3)
			}
		}
	}
}

func checkText(t *testing.T, what, s string, maxLines int) {
	t.Helper()
	for _, w := range strings.FieldsFunc(s, func(r rune) bool { return r == ' ' }) {
		if utf8.RuneCountInString(w) > Cols {
			t.Errorf("%s: word %q longer than %d", what, w, Cols)
		}
	}
	lines := Wrap(s, Cols)
	if len(lines) > maxLines {
		t.Errorf("%s: %q wraps to %d lines, want <= %d: %q", what, s, len(lines), maxLines, lines)
	}
	for _, line := range lines {
		if n := len(ASCII(line)); n > 19 {
			t.Errorf("%s: ASCII line %q is %d columns, want <= 19", what, ASCII(line), n)
		}
		for _, r := range line {
			if ASCIIRune(r) == "?" && r != '?' {
				t.Errorf("%s: rune %q has no transliteration", what, r)
			}
		}
	}
}

var verbRE = regexp.MustCompile(`%[a-z]`)

func TestEveryScreenTextTranslated(t *testing.T) {
	if len(texts) != len(Langs()) {
		t.Fatalf("texts has %d languages, want %d", len(texts), len(Langs()))
	}
	for id := range numMsgs {
		en := texts[EN][id]
		for _, l := range Langs() {
			s := texts[l][id]
			if s == "" {
				t.Errorf("%s: msg %d missing", l, id)
				continue
			}
			if !slices.Equal(verbRE.FindAllString(s, -1), verbRE.FindAllString(en, -1)) {
				t.Errorf("%s: msg %d %q has other format verbs than en %q", l, id, s, en)
			}
			maxLines := 2
			switch {
			case id >= keyDelete && id <= keyOK:
				if n := utf8.RuneCountInString(s); n > 11 {
					t.Errorf("%s: softkey %q is %d runes, want <= 11", l, s, n)
				}
			case id >= actSignIn:
				maxLines = 1
			}
			checkText(t, string(l), s, maxLines)
		}
	}
	// Titles leave room for the status (clock "10:42", countdown "4:05").
	for _, id := range []msg{msgBootTitle, msgNetworkTitle, msgLocatingTitle, msgTimeTitle, msgChainTitle,
		msgSignInTitle, msgSigningInTitle, msgRegisteredTitle, msgConfirmTitle} {
		for _, l := range Langs() {
			if n := utf8.RuneCountInString(text(l, id)); n > 15 {
				t.Errorf("%s: title %q is %d runes, want <= 15", l, text(l, id), n)
			}
		}
	}
	// Both softkeys of a screen fit on one 18-column row.
	for _, l := range Langs() {
		for _, pair := range [][2]msg{{keyDelete, keyNext}, {keyBack, keySignIn}, {keyDelete, keySignIn}, {keyCancel, keyOK}} {
			if n := utf8.RuneCountInString(text(l, pair[0])) + 1 + utf8.RuneCountInString(text(l, pair[1])); n > Cols {
				t.Errorf("%s: softkeys %q %q need %d columns", l, text(l, pair[0]), text(l, pair[1]), n)
			}
		}
	}
}

func TestMessage(t *testing.T) {
	for _, tt := range []struct {
		name      string
		lang      Lang
		code      failure.Code
		wantCause string
	}{
		{"en E201", EN, failure.CertServiceNotFound, "Unable to locate the certificate web service"},
		{"en E401", EN, failure.ChainDownload, "Error downloading certificate chain"},
		{"en E402", EN, failure.ChainUntrusted, "Cannot verify the web services certificate"},
		{"en E503", EN, failure.PINLocked, "Account locked — contact your administrator"},
		{"en E701", EN, failure.RegistrarUnreachable, "Unable to contact Registrar for authentication"},
		{"en E702", EN, failure.HandshakeFailed, "Final handshake failed"},
		{"en E301", EN, failure.TimeNotSet, "Time not set"},
		{"fr E301", FR, failure.TimeNotSet, "Heure non réglée"},
		{"de E301", DE, failure.TimeNotSet, "Uhrzeit nicht gesetzt"},
		{"unknown lang falls back to en", Lang("xx"), failure.TimeNotSet, "Time not set"},
		{"unknown code falls back to internal", FR, failure.Code("E999"), "Erreur interne inattendue"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cause, fix := Message(tt.lang, tt.code)
			if cause != tt.wantCause || fix == "" {
				t.Errorf("Message(%q, %q) = %q, %q; want cause %q", tt.lang, tt.code, cause, fix, tt.wantCause)
			}
		})
	}
}

func TestActionsTranslated(t *testing.T) {
	for a, id := range actionMsgs {
		for _, l := range Langs() {
			if text(l, id) == "" {
				t.Errorf("%s: action %s untranslated", l, a)
			}
		}
	}
}

func TestParseLang(t *testing.T) {
	for _, tt := range []struct {
		in      string
		want    Lang
		wantErr bool
	}{
		{"en", EN, false}, {"fr", FR, false}, {"de", DE, false}, {"DE", DE, false},
		{"fr-CA", FR, false}, {"de_CH", DE, false}, {" en ", EN, false},
		{"", "", true}, {"es", "", true}, {"english", "", true},
	} {
		got, err := ParseLang(tt.in)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("ParseLang(%q) = %q, %v; want %q, err %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}
