// Package sign builds the [MS-SIPAE] 3.2.5.2 signature buffer of a SIP message and computes
// the HMAC that TLS-DSK puts in the response / rspauth auth parameters.
//
// The buffer is a run of angle-bracketed fields copied with the same syntax and case as they
// appear in the message:
//
//	<scheme><rand><num><realm><targetname><Call-ID><CSeq-number><CSeq-method>
//	<From-URI><From-tag><To-URI><To-tag><PAI-sip-URI><PAI-tel-URI><Expires>[<status-code>]
//
// Protocol versions below 3 leave out To-URI, PAI-sip and PAI-tel. Requests have no
// status-code element at all.
package sign

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/hex"
	"hash"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// Fields are the values that make up a signature buffer, as they appear in the message.
type Fields struct {
	Scheme     string // TLS-DSK, NTLM or Kerberos
	Rand       string // crand of the sender, or srand of the server
	Num        string // cnum / snum, decimal
	Realm      string // SA realm, "SIP Communications Service"
	Target     string // SA targetname (Kerberos: with the sip/ prefix)
	CallID     string
	CSeqNum    string
	CSeqMethod string
	FromURI    string
	FromTag    string
	ToURI      string
	ToTag      string
	PAISIP     string // sip: or sips: URI of P-Asserted-Identity
	PAITel     string // tel: URI of P-Asserted-Identity
	Expires    string // value of the Expires header
	Status     string // status code of a response; empty for requests
}

// Buffer returns the signature buffer for f under the given auth protocol version.
// Version 3 and above use the full form; lower versions omit To-URI, PAI-sip and PAI-tel.
// The status element is omitted when f.Status is empty (requests).
func Buffer(f Fields, version int) string {
	var b strings.Builder
	n := 2*16 + len(f.Scheme) + len(f.Rand) + len(f.Num) + len(f.Realm) + len(f.Target) +
		len(f.CallID) + len(f.CSeqNum) + len(f.CSeqMethod) + len(f.FromURI) + len(f.FromTag) +
		len(f.ToURI) + len(f.ToTag) + len(f.PAISIP) + len(f.PAITel) + len(f.Expires) + len(f.Status)
	b.Grow(n)
	add := func(s string) {
		b.WriteByte('<')
		b.WriteString(s)
		b.WriteByte('>')
	}
	add(f.Scheme)
	add(f.Rand)
	add(f.Num)
	add(f.Realm)
	add(f.Target)
	add(f.CallID)
	add(f.CSeqNum)
	add(f.CSeqMethod)
	add(f.FromURI)
	add(f.FromTag)
	if version >= 3 {
		add(f.ToURI)
	}
	add(f.ToTag)
	if version >= 3 {
		add(f.PAISIP)
		add(f.PAITel)
	}
	add(f.Expires)
	if f.Status != "" {
		add(f.Status)
	}
	return b.String()
}

// FromMessage extracts the message part of the signature fields from m: Call-ID, CSeq,
// From/To URI and tag, P-Asserted-Identity (falling back to P-Preferred-Identity), the
// Expires header and, for responses, the status code. Scheme, Rand, Num, Realm and Target
// are left empty for the caller to fill from the security association.
func FromMessage(m sip.Message) Fields {
	var f Fields
	if m == nil {
		return f
	}
	if h := m.GetHeaders("Call-ID"); len(h) > 0 {
		f.CallID = strings.TrimSpace(h[0].Value())
	}
	if h := m.GetHeaders("CSeq"); len(h) > 0 {
		num, method, _ := strings.Cut(strings.TrimSpace(h[0].Value()), " ")
		f.CSeqNum = num
		f.CSeqMethod = strings.TrimSpace(method)
	}
	if h := m.GetHeaders("From"); len(h) > 0 {
		f.FromURI, f.FromTag = uriAndTag(h[0].Value())
	}
	if h := m.GetHeaders("To"); len(h) > 0 {
		f.ToURI, f.ToTag = uriAndTag(h[0].Value())
	}
	pai := m.GetHeaders("P-Asserted-Identity")
	if len(pai) == 0 {
		pai = m.GetHeaders("P-Preferred-Identity")
	}
	for _, h := range pai {
		for _, v := range splitList(h.Value()) {
			u, _ := uriAndTag(v)
			switch {
			case hasPrefixFold(u, "sip:") || hasPrefixFold(u, "sips:"):
				if f.PAISIP == "" {
					f.PAISIP = u
				}
			case hasPrefixFold(u, "tel:"):
				if f.PAITel == "" {
					f.PAITel = u
				}
			}
		}
	}
	if h := m.GetHeaders("Expires"); len(h) > 0 {
		f.Expires = strings.TrimSpace(h[0].Value())
	}
	if r, ok := m.(*sip.Response); ok && r != nil {
		f.Status = strconv.Itoa(int(r.StatusCode))
	}
	return f
}

// uriAndTag returns the URI of a name-addr / addr-spec header value (between < and >, or up
// to the first ';') and the value of its tag parameter.
func uriAndTag(v string) (uri, tag string) {
	v = strings.TrimSpace(v)
	params := ""
	if i := indexUnquoted(v, '<'); i >= 0 {
		rest := v[i+1:]
		j := strings.IndexByte(rest, '>')
		if j < 0 {
			return strings.TrimSpace(rest), ""
		}
		uri = rest[:j]
		params = rest[j+1:]
	} else {
		uri, params, _ = strings.Cut(v, ";")
		uri = strings.TrimSpace(uri)
		params = ";" + params
	}
	for p := range strings.SplitSeq(params, ";") {
		name, val, ok := strings.Cut(p, "=")
		if ok && strings.EqualFold(strings.TrimSpace(name), "tag") {
			tag = strings.Trim(strings.TrimSpace(val), `"`)
		}
	}
	return uri, tag
}

// indexUnquoted returns the index of c in s outside double-quoted strings, or -1.
func indexUnquoted(s string, c byte) int {
	inq := false
	for i := 0; i < len(s); i++ {
		switch {
		case inq && s[i] == '\\':
			i++
		case s[i] == '"':
			inq = !inq
		case !inq && s[i] == c:
			return i
		}
	}
	return -1
}

// splitList splits a comma-separated header value, ignoring commas inside quotes and <>.
func splitList(s string) []string {
	var out []string
	inq, inb, start := false, false, 0
	for i := 0; i < len(s); i++ {
		switch {
		case inq && s[i] == '\\':
			i++
		case s[i] == '"' && !inb:
			inq = !inq
		case !inq && s[i] == '<':
			inb = true
		case !inq && s[i] == '>':
			inb = false
		case !inq && !inb && s[i] == ',':
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// Alg is the MAC algorithm of a TLS-DSK security association: the MAC hash of the
// negotiated cipher suite.
type Alg int

const (
	// SHA1 is HMAC-SHA1 (20-byte MAC), used with the *_SHA cipher suites.
	SHA1 Alg = iota
	// MD5 is HMAC-MD5 (16-byte MAC), used with the *_MD5 cipher suites.
	MD5
)

// String returns the algorithm name.
func (a Alg) String() string {
	switch a {
	case SHA1:
		return "hmac-sha1"
	case MD5:
		return "hmac-md5"
	}
	return "alg(" + strconv.Itoa(int(a)) + ")"
}

func (a Alg) hash() func() hash.Hash {
	if a == MD5 {
		return md5.New
	}
	return sha1.New
}

// MAC returns HMAC(key, buf) with the hash of alg. Unknown algorithms use SHA-1.
func MAC(alg Alg, key []byte, buf string) []byte {
	h := hmac.New(alg.hash(), key)
	h.Write([]byte(buf))
	return h.Sum(nil)
}

// Hex encodes a MAC as lowercase hex, the form Microsoft clients emit.
func Hex(mac []byte) string { return hex.EncodeToString(mac) }

// Verify reports whether hexMAC (either case) is the MAC of buf under key.
// The comparison is constant-time.
func Verify(alg Alg, key []byte, buf string, hexMAC string) bool {
	got, err := hex.DecodeString(hexMAC)
	if err != nil {
		return false
	}
	want := MAC(alg, key, buf)
	return len(got) == len(want) && subtle.ConstantTimeCompare(got, want) == 1
}
