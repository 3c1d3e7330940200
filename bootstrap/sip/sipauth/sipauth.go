// Package sipauth parses and formats the [MS-SIPAE] authentication headers: the
// WWW-Authenticate / Proxy-Authenticate challenges, the Authorization /
// Proxy-Authorization credentials, Authentication-Info and ms-diagnostics.
//
// Parsing follows what interoperates with real Lync/SfB servers: a scheme token, then
// name=value parameters with quoted or bare values, in any order, separated by commas
// and spaces; the scheme and parameter names are case-insensitive; the last value of a
// repeated parameter wins.
package sipauth

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// ErrSyntax is wrapped by every parse error.
var ErrSyntax = errors.New("syntax error")

// Challenge is one WWW-Authenticate or Proxy-Authenticate value.
type Challenge struct {
	Scheme string            // as sent, e.g. "TLS-DSK"
	Params map[string]string // keys lowercased, values unquoted
}

// ParseChallenge parses one WWW-Authenticate / Proxy-Authenticate header value.
func ParseChallenge(v string) (Challenge, error) {
	scheme, params, err := parse(v)
	if err != nil {
		return Challenge{}, fmt.Errorf("sipauth: parse challenge: %w", err)
	}
	return Challenge{Scheme: scheme, Params: params}, nil
}

// challengeOrder is the parameter order FormatChallenge uses for the parameters it knows.
var challengeOrder = []string{"opaque", "gssapi-data", "realm", "targetname", "version", "sts-uri"}

// FormatChallenge formats c as a WWW-Authenticate / Proxy-Authenticate value: the known
// parameters in the order opaque, gssapi-data, realm, targetname, version (bare when
// numeric), sts-uri, then any others sorted by name, quoted.
func FormatChallenge(c Challenge) string {
	var b strings.Builder
	b.WriteString(c.Scheme)
	sep := " "
	add := func(name, val string) {
		b.WriteString(sep)
		sep = ", "
		b.WriteString(name)
		b.WriteByte('=')
		if name == "version" && isDigits(val) {
			b.WriteString(val)
			return
		}
		b.WriteByte('"')
		escape(&b, val)
		b.WriteByte('"')
	}
	for _, k := range challengeOrder {
		if v, ok := c.Params[k]; ok {
			add(k, v)
		}
	}
	rest := make([]string, 0, len(c.Params))
	for k := range c.Params {
		if !slices.Contains(challengeOrder, k) {
			rest = append(rest, k)
		}
	}
	slices.Sort(rest)
	for _, k := range rest {
		add(k, c.Params[k])
	}
	return b.String()
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// ParseChallenges parses several header values, one challenge per value, skipping the
// invalid ones.
func ParseChallenges(values []string) []Challenge {
	var out []Challenge
	for _, v := range values {
		if c, err := ParseChallenge(v); err == nil {
			out = append(out, c)
		}
	}
	return out
}

// Select returns the first challenge whose scheme matches (case-insensitively) the
// earliest entry of prefer that is present. With no preferences it returns the first
// challenge.
func Select(chs []Challenge, prefer ...string) (Challenge, bool) {
	if len(prefer) == 0 {
		if len(chs) == 0 {
			return Challenge{}, false
		}
		return chs[0], true
	}
	for _, p := range prefer {
		for _, c := range chs {
			if strings.EqualFold(c.Scheme, p) {
				return c, true
			}
		}
	}
	return Challenge{}, false
}

// Credentials are the parameters of an Authorization / Proxy-Authorization header.
type Credentials struct {
	Scheme     string
	Opaque     string // echoed once the server sent one; omitted when empty
	Realm      string
	TargetName string
	GSSAPIData string // base64 security token
	// Version is echoed on handshake legs when > 0; leave it 0 in steady-state signed
	// messages, where it is not re-sent.
	Version  int
	CRand    string // 8 lowercase hex
	CNum     uint32
	Response string // hex MAC; crand, cnum and response are written only when set
	// IncludeGSSAPI writes gssapi-data even when empty (first NTLM leg).
	IncludeGSSAPI bool
}

// FormatAuthorization formats c in the parameter order of pidgin-sipe / Microsoft clients:
//
//	<scheme> qop="auth"[, opaque="…"], realm="…", targetname="…"[, gssapi-data="…"][, version=N][, crand="…", cnum="…", response="…"]
func FormatAuthorization(c Credentials) string {
	var b strings.Builder
	b.WriteString(c.Scheme)
	b.WriteString(` qop="auth"`)
	if c.Opaque != "" {
		quoted(&b, "opaque", c.Opaque)
	}
	quoted(&b, "realm", c.Realm)
	quoted(&b, "targetname", c.TargetName)
	if c.IncludeGSSAPI {
		quoted(&b, "gssapi-data", c.GSSAPIData)
	}
	if c.Version > 0 {
		b.WriteString(", version=")
		b.WriteString(strconv.Itoa(c.Version))
	}
	if c.Response != "" {
		quoted(&b, "crand", c.CRand)
		quoted(&b, "cnum", strconv.FormatUint(uint64(c.CNum), 10))
		quoted(&b, "response", c.Response)
	}
	return b.String()
}

// ParseAuthorization parses an Authorization / Proxy-Authorization value (server side).
func ParseAuthorization(v string) (Credentials, error) {
	scheme, p, err := parse(v)
	if err != nil {
		return Credentials{}, fmt.Errorf("sipauth: parse authorization: %w", err)
	}
	c := Credentials{
		Scheme:     scheme,
		Opaque:     p["opaque"],
		Realm:      p["realm"],
		TargetName: p["targetname"],
		GSSAPIData: p["gssapi-data"],
		CRand:      p["crand"],
		Response:   p["response"],
	}
	_, c.IncludeGSSAPI = p["gssapi-data"]
	if c.Version, err = intParam(p, "version"); err != nil {
		return Credentials{}, fmt.Errorf("sipauth: parse authorization: %w", err)
	}
	if c.CNum, err = uint32Param(p, "cnum"); err != nil {
		return Credentials{}, fmt.Errorf("sipauth: parse authorization: %w", err)
	}
	return c, nil
}

// AuthInfo is an Authentication-Info / Proxy-Authentication-Info value: the server's
// signature over a message it sends.
type AuthInfo struct {
	Scheme     string
	Opaque     string
	SRand      string // 8 hex
	SNum       uint32
	RspAuth    string // hex MAC
	TargetName string
	Realm      string
	Version    int // written when > 0
}

// FormatAuthInfo formats a in the order Microsoft servers use:
//
//	<scheme> qop="auth", opaque="…", srand="…", snum="…", rspauth="…", targetname="…", realm="…", version=N
func FormatAuthInfo(a AuthInfo) string {
	var b strings.Builder
	b.WriteString(a.Scheme)
	b.WriteString(` qop="auth"`)
	if a.Opaque != "" {
		quoted(&b, "opaque", a.Opaque)
	}
	quoted(&b, "srand", a.SRand)
	quoted(&b, "snum", strconv.FormatUint(uint64(a.SNum), 10))
	quoted(&b, "rspauth", a.RspAuth)
	quoted(&b, "targetname", a.TargetName)
	quoted(&b, "realm", a.Realm)
	if a.Version > 0 {
		b.WriteString(", version=")
		b.WriteString(strconv.Itoa(a.Version))
	}
	return b.String()
}

// ParseAuthInfo parses an Authentication-Info / Proxy-Authentication-Info value.
func ParseAuthInfo(v string) (AuthInfo, error) {
	scheme, p, err := parse(v)
	if err != nil {
		return AuthInfo{}, fmt.Errorf("sipauth: parse authentication-info: %w", err)
	}
	a := AuthInfo{
		Scheme:     scheme,
		Opaque:     p["opaque"],
		SRand:      p["srand"],
		RspAuth:    p["rspauth"],
		TargetName: p["targetname"],
		Realm:      p["realm"],
	}
	if a.Version, err = intParam(p, "version"); err != nil {
		return AuthInfo{}, fmt.Errorf("sipauth: parse authentication-info: %w", err)
	}
	if a.SNum, err = uint32Param(p, "snum"); err != nil {
		return AuthInfo{}, fmt.Errorf("sipauth: parse authentication-info: %w", err)
	}
	return a, nil
}

// Diagnostics is an ms-diagnostics / ms-diagnostics-public value such as
// `1000;reason="Final handshake failed";source="pool.example.com"`.
type Diagnostics struct {
	Code   int
	Reason string
	Source string
	Raw    string // the whole header value
}

// ParseDiagnostics parses an ms-diagnostics / ms-diagnostics-public value.
func ParseDiagnostics(v string) (Diagnostics, error) {
	d := Diagnostics{Raw: v}
	s := strings.TrimSpace(v)
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	code, err := strconv.Atoi(s[:i])
	if err != nil {
		return Diagnostics{}, fmt.Errorf("sipauth: parse diagnostics: code: %w", ErrSyntax)
	}
	d.Code = code
	s = s[i:]
	for {
		s = strings.TrimLeft(s, " \t")
		if s == "" {
			return d, nil
		}
		if s[0] != ';' {
			return Diagnostics{}, fmt.Errorf("sipauth: parse diagnostics: want ';': %w", ErrSyntax)
		}
		s = strings.TrimLeft(s[1:], " \t")
		var name, val string
		name, val, s, err = param(s, ";")
		if err != nil {
			return Diagnostics{}, fmt.Errorf("sipauth: parse diagnostics: %w", err)
		}
		switch strings.ToLower(name) {
		case "reason":
			d.Reason = val
		case "source":
			d.Source = val
		}
	}
}

// FormatDiagnostics formats d as `<code>;reason="…";source="…"` (reason and source only
// when set). Raw is ignored.
func FormatDiagnostics(d Diagnostics) string {
	var b strings.Builder
	b.WriteString(strconv.Itoa(d.Code))
	if d.Reason != "" {
		b.WriteString(`;reason="`)
		escape(&b, d.Reason)
		b.WriteByte('"')
	}
	if d.Source != "" {
		b.WriteString(`;source="`)
		escape(&b, d.Source)
		b.WriteByte('"')
	}
	return b.String()
}

func quoted(b *strings.Builder, name, val string) {
	b.WriteString(", ")
	b.WriteString(name)
	b.WriteString(`="`)
	escape(b, val)
	b.WriteByte('"')
}

// escape writes val for the inside of a quoted string, escaping '"' and '\'.
func escape(b *strings.Builder, val string) {
	if strings.ContainsAny(val, `"\`) {
		for i := 0; i < len(val); i++ {
			if val[i] == '"' || val[i] == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(val[i])
		}
		return
	}
	b.WriteString(val)
}

func intParam(p map[string]string, name string) (int, error) {
	s, ok := p[name]
	if !ok || s == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(s, 10, 31)
	if err != nil {
		return 0, fmt.Errorf("%s %q: %w", name, s, ErrSyntax)
	}
	return int(n), nil
}

func uint32Param(p map[string]string, name string) (uint32, error) {
	s, ok := p[name]
	if !ok || s == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%s %q: %w", name, s, ErrSyntax)
	}
	return uint32(n), nil
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// isTokenChar reports whether c may appear in a scheme or parameter name (RFC 3261 token).
func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("-.!%*_+`'~", c) >= 0
}

// parse splits "<scheme> name=value, name=value ..." into the scheme and a map of
// lowercased names to unquoted values.
func parse(v string) (string, map[string]string, error) {
	s := strings.TrimLeft(v, " \t\r\n")
	i := 0
	for i < len(s) && isTokenChar(s[i]) {
		i++
	}
	if i == 0 {
		return "", nil, fmt.Errorf("missing scheme: %w", ErrSyntax)
	}
	scheme := s[:i]
	s = s[i:]
	if s != "" && !isSpace(s[0]) {
		return "", nil, fmt.Errorf("bad scheme: %w", ErrSyntax)
	}
	params := make(map[string]string, 8)
	for {
		s = strings.TrimLeft(s, " \t\r\n,")
		if s == "" {
			return scheme, params, nil
		}
		name, val, rest, err := param(s, ", \t\r\n")
		if err != nil {
			return "", nil, err
		}
		params[strings.ToLower(name)] = val
		s = rest
	}
}

// param reads name=value from the start of s (quoted or bare value; a bare value ends at
// any byte of stop) and returns the rest of s.
func param(s, stop string) (name, val, rest string, err error) {
	i := 0
	for i < len(s) && isTokenChar(s[i]) {
		i++
	}
	if i == 0 {
		return "", "", "", fmt.Errorf("bad parameter name at %q: %w", clip(s), ErrSyntax)
	}
	name = s[:i]
	s = strings.TrimLeft(s[i:], " \t")
	if s == "" || s[0] != '=' {
		return "", "", "", fmt.Errorf("parameter %q: missing '=': %w", name, ErrSyntax)
	}
	s = strings.TrimLeft(s[1:], " \t")
	if s != "" && s[0] == '"' {
		var b strings.Builder
		for j := 1; j < len(s); j++ {
			switch s[j] {
			case '\\':
				j++
				if j < len(s) {
					b.WriteByte(s[j])
				}
			case '"':
				return name, b.String(), s[j+1:], nil
			default:
				b.WriteByte(s[j])
			}
		}
		return "", "", "", fmt.Errorf("parameter %q: unterminated quoted string: %w", name, ErrSyntax)
	}
	j := 0
	for j < len(s) && strings.IndexByte(stop, s[j]) < 0 && s[j] != '"' {
		j++
	}
	return name, s[:j], s[j:], nil
}

func clip(s string) string {
	if len(s) > 16 {
		return s[:16] + "…"
	}
	return s
}
