package ui

import "strings"

// translit maps the non-ASCII runes the catalog and common names use to
// ASCII. Umlauts follow the German convention (ü→ue, ß→ss).
var translit = map[rune]string{
	'à': "a", 'á': "a", 'â': "a", 'ä': "ae", 'ã': "a", 'å': "a", 'æ': "ae",
	'À': "A", 'Á': "A", 'Â': "A", 'Ä': "Ae", 'Ã': "A", 'Å': "A", 'Æ': "AE",
	'ç': "c", 'Ç': "C",
	'è': "e", 'é': "e", 'ê': "e", 'ë': "e", 'È': "E", 'É': "E", 'Ê': "E", 'Ë': "E",
	'ì': "i", 'í': "i", 'î': "i", 'ï': "i", 'Ì': "I", 'Í': "I", 'Î': "I", 'Ï': "I",
	'ñ': "n", 'Ñ': "N",
	'ò': "o", 'ó': "o", 'ô': "o", 'ö': "oe", 'õ': "o", 'ø': "o", 'œ': "oe",
	'Ò': "O", 'Ó': "O", 'Ô': "O", 'Ö': "Oe", 'Õ': "O", 'Ø': "O", 'Œ': "OE",
	'ù': "u", 'ú': "u", 'û': "u", 'ü': "ue", 'Ù': "U", 'Ú': "U", 'Û': "U", 'Ü': "Ue",
	'ý': "y", 'ÿ': "y", 'Ý': "Y", 'Ÿ': "Y",
	'ß': "ss", 'ẞ': "SS",
	'•': "*", '·': ".", '—': "-", '–': "-", '‐': "-", '‑': "-", '…': "...",
	'‘': "'", '’': "'", '‚': ",", '“': "\"", '”': "\"", '„': "\"", '«': "\"", '»': "\"",
	'°': "o", '€': "EUR", '↑': "^", '↓': "v",
	'\u00a0': " ", '\u202f': " ", '\u2009': " ", '\u200b': "",
}

// ASCIIRune returns r as printable ASCII: r itself if it is printable ASCII,
// its transliteration if known (é→e, ü→ue, ß→ss, •→*, —→-), else "?".
func ASCIIRune(r rune) string {
	if r >= 0x20 && r < 0x7f {
		return string(r)
	}
	if s, ok := translit[r]; ok {
		return s
	}
	return "?"
}

// ASCII transliterates s to printable ASCII with ASCIIRune.
func ASCII(s string) string {
	var b strings.Builder
	for _, r := range s {
		b.WriteString(ASCIIRune(r))
	}
	return b.String()
}
