package sip

import (
	"strings"

	gosip "github.com/emiago/sipgo/sip"
)

// sipgo's Contact parser splits parameters at ';' even inside quotes, which
// breaks Lync's gruu="sip:…;opaque=…;gruu". The phone's user agent therefore
// keeps Contact as a generic header (phoneParser) and reads it here.

// phoneParser is sipgo's parser without the Contact header parser.
func phoneParser() *gosip.Parser {
	m := map[string]gosip.HeaderParser{}
	for k, v := range gosip.DefaultHeadersParser() {
		if k == "contact" || k == "m" {
			continue
		}
		m[k] = v
	}
	return gosip.NewParser(gosip.WithHeadersParsers(m))
}

// contactValue is one Contact entry.
type contactValue struct {
	URI    string            // without < >
	Params map[string]string // lowercased names, unquoted values
}

// parseContacts parses Contact header values (several per value, comma
// separated; commas and semicolons inside quotes or <> do not split).
func parseContacts(values []string) []contactValue {
	var out []contactValue
	for _, v := range values {
		for _, part := range splitOutside(v, ',') {
			if c, ok := parseContact(part); ok {
				out = append(out, c)
			}
		}
	}
	return out
}

func parseContact(s string) (contactValue, bool) {
	s = strings.TrimSpace(s)
	c := contactValue{Params: map[string]string{}}
	rest := s
	if i := strings.IndexByte(s, '<'); i >= 0 && !strings.Contains(s[:i], ";") {
		j := strings.IndexByte(s[i:], '>')
		if j < 0 {
			return c, false
		}
		c.URI = s[i+1 : i+j]
		rest = s[i+j+1:]
	} else {
		uri, r, _ := strings.Cut(s, ";")
		c.URI, rest = strings.TrimSpace(uri), ";"+r
	}
	if c.URI == "" {
		return c, false
	}
	for _, p := range splitOutside(rest, ';') {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		k, val, _ := strings.Cut(p, "=")
		c.Params[strings.ToLower(strings.TrimSpace(k))] = unquote(strings.TrimSpace(val))
	}
	return c, true
}

// splitOutside splits s at sep where sep is outside "quotes" and <brackets>.
func splitOutside(s string, sep byte) []string {
	var out []string
	inQ, inB, start := false, false, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			inQ = !inQ
		case c == '<' && !inQ:
			inB = true
		case c == '>' && !inQ:
			inB = false
		case c == sep && !inQ && !inB:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// hostPort splits the host and port of a sip: URI.
func hostPort(uri string) (string, int) {
	var u gosip.Uri
	if err := gosip.ParseUri(uri, &u); err != nil {
		return "", 0
	}
	return u.Host, u.Port
}
