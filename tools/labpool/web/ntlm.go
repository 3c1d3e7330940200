package web

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/deskphone/deskphone/tools/labpool/directory"
)

// Server side of HTTP NTLM (MS-NLMP, NTLMv2 only) and Basic on the
// WinNegotiate binding. NTLM is connection-oriented: the challenge is kept
// per remote address (one TCP connection) for a short while.

type ntlmState struct {
	challenge [8]byte
	issued    time.Time
}

const (
	ntlmUnicode          = 1 << 0
	ntlmRequestTarget    = 1 << 2
	ntlmNTLM             = 1 << 9
	ntlmAlwaysSign       = 1 << 15
	ntlmTargetTypeDomain = 1 << 16
	ntlmExtendedSecurity = 1 << 19
	ntlmTargetInfo       = 1 << 23
	ntlmVersion          = 1 << 25
	ntlm128              = 1 << 29
	ntlm56               = 1 << 31
	ntlmChallengeTTL     = 2 * time.Minute
)

var ntlmSig = []byte("NTLMSSP\x00")

// winAuth authenticates the request with NTLM or Basic, answering the 401
// legs itself; ok is false when it has answered.
func (s *Server) winAuth(w http.ResponseWriter, r *http.Request) (directory.User, bool) {
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	switch {
	case strings.EqualFold(scheme, "NTLM") && s.offers("NTLM"):
		msg, err := base64.StdEncoding.DecodeString(strings.TrimSpace(token))
		if err != nil || len(msg) < 12 || !bytes.Equal(msg[:8], ntlmSig) {
			s.challenge(w, "")
			return directory.User{}, false
		}
		switch binary.LittleEndian.Uint32(msg[8:12]) {
		case 1:
			s.challenge(w, "NTLM "+base64.StdEncoding.EncodeToString(s.ntlmChallenge(r.RemoteAddr)))
			return directory.User{}, false
		case 3:
			u, err := s.ntlmVerify(r.RemoteAddr, msg)
			if err != nil {
				s.logger.Info("windows sign-in refused", "scheme", "NTLM", "err", err)
				s.refuse(w)
				return directory.User{}, false
			}
			return u, true
		}
	case strings.EqualFold(scheme, "Basic") && s.offers("Basic"):
		login, password, ok := r.BasicAuth()
		if ok {
			u, err := s.cfg.Dir.CheckPassword(login, password)
			if err == nil {
				return u, true
			}
			s.logger.Info("windows sign-in refused", "scheme", "Basic")
			s.refuse(w)
			return directory.User{}, false
		}
	}
	s.challenge(w, "")
	return directory.User{}, false
}

func (s *Server) offers(scheme string) bool {
	for _, o := range s.cfg.WinAuth {
		if o == scheme {
			return true
		}
	}
	return false
}

// challenge answers 401 with one WWW-Authenticate per offered scheme, or
// with the given NTLM challenge line.
func (s *Server) challenge(w http.ResponseWriter, ntlmLine string) {
	if ntlmLine != "" {
		w.Header().Add("WWW-Authenticate", ntlmLine)
	} else {
		for _, o := range s.cfg.WinAuth {
			if o == "Basic" {
				w.Header().Add("WWW-Authenticate", `Basic realm="`+s.cfg.FQDN+`"`)
			} else {
				w.Header().Add("WWW-Authenticate", o)
			}
		}
	}
	http.Error(w, "Unauthorized", http.StatusUnauthorized)
}

// refuse answers a failed authentication: 401 with the schemes again and
// X-Ms-diagnostics.
func (s *Server) refuse(w http.ResponseWriter) {
	w.Header().Set("X-Ms-Diagnostics", fmt.Sprintf(`%d;source="%s";reason="No valid security token."`, diagNoValidToken, s.cfg.FQDN))
	s.challenge(w, "")
}

func (s *Server) ntlmChallenge(remote string) []byte {
	st := &ntlmState{issued: s.cfg.Now()}
	_, _ = rand.Read(st.challenge[:])
	s.mu.Lock()
	for k, v := range s.ntlm {
		if st.issued.Sub(v.issued) > ntlmChallengeTTL {
			delete(s.ntlm, k)
		}
	}
	s.ntlm[remote] = st
	s.mu.Unlock()

	nbDomain := strings.ToUpper(strings.SplitN(s.cfg.Domain, ".", 2)[0])
	nbHost := strings.ToUpper(strings.SplitN(s.cfg.FQDN, ".", 2)[0])
	var info bytes.Buffer
	av := func(id uint16, v []byte) {
		_ = binary.Write(&info, binary.LittleEndian, id)
		_ = binary.Write(&info, binary.LittleEndian, uint16(len(v)))
		info.Write(v)
	}
	ft := make([]byte, 8)
	binary.LittleEndian.PutUint64(ft, uint64(st.issued.UnixNano()/100)+116444736000000000)
	av(2, utf16le(nbDomain))
	av(1, utf16le(nbHost))
	av(4, utf16le(s.cfg.Domain))
	av(3, utf16le(s.cfg.FQDN))
	av(7, ft)
	av(0, nil)
	target := utf16le(nbDomain)
	const hdr = 56
	flags := uint32(ntlmUnicode | ntlmRequestTarget | ntlmNTLM | ntlmAlwaysSign | ntlmTargetTypeDomain |
		ntlmExtendedSecurity | ntlmTargetInfo | ntlmVersion | ntlm128 | ntlm56)
	m := make([]byte, hdr, hdr+len(target)+info.Len())
	copy(m, ntlmSig)
	binary.LittleEndian.PutUint32(m[8:], 2)
	putField(m[12:], len(target), hdr)
	binary.LittleEndian.PutUint32(m[20:], flags)
	copy(m[24:32], st.challenge[:])
	putField(m[40:], info.Len(), hdr+len(target))
	copy(m[48:], []byte{10, 0, 0x61, 0x4a, 0, 0, 0, 15}) // version 10.0.19041, NTLM revision 15
	m = append(m, target...)
	return append(m, info.Bytes()...)
}

func putField(b []byte, n, off int) {
	binary.LittleEndian.PutUint16(b[0:], uint16(n))
	binary.LittleEndian.PutUint16(b[2:], uint16(n))
	binary.LittleEndian.PutUint32(b[4:], uint32(off))
}

func field(msg []byte, at int) ([]byte, error) {
	if len(msg) < at+8 {
		return nil, errors.New("short message")
	}
	n := int(binary.LittleEndian.Uint16(msg[at:]))
	off := int(binary.LittleEndian.Uint32(msg[at+4:]))
	if off < 0 || n < 0 || off > len(msg) || n > len(msg)-off {
		return nil, errors.New("field out of range")
	}
	return msg[off : off+n], nil
}

// ntlmVerify checks an AUTHENTICATE message against the connection's
// challenge: NTProofStr = HMAC_MD5(NTOWFv2, challenge ‖ blob), with
// NTOWFv2 = HMAC_MD5(NT hash, UTF16LE(UPPER(user) ‖ domain)).
func (s *Server) ntlmVerify(remote string, msg []byte) (directory.User, error) {
	s.mu.Lock()
	st := s.ntlm[remote]
	delete(s.ntlm, remote)
	s.mu.Unlock()
	if st == nil || s.cfg.Now().Sub(st.issued) > ntlmChallengeTTL {
		return directory.User{}, errors.New("no pending ntlm challenge on this connection")
	}
	if len(msg) < 64 {
		return directory.User{}, errors.New("short authenticate message")
	}
	flags := binary.LittleEndian.Uint32(msg[60:])
	nt, err1 := field(msg, 20)
	dom, err2 := field(msg, 28)
	usr, err3 := field(msg, 36)
	if err := errors.Join(err1, err2, err3); err != nil {
		return directory.User{}, err
	}
	if len(nt) <= 24 {
		return directory.User{}, errors.New("ntlmv1 response refused")
	}
	str := func(b []byte) string {
		if flags&ntlmUnicode == 0 {
			return string(b)
		}
		u := make([]uint16, len(b)/2)
		for i := range u {
			u[i] = binary.LittleEndian.Uint16(b[2*i:])
		}
		return string(utf16.Decode(u))
	}
	user, domain := str(usr), str(dom)
	login := domain + `\` + user
	u, ntHash, err := s.cfg.Dir.NTHashOf(login)
	if err != nil {
		return directory.User{}, fmt.Errorf("login %q: %w", login, err)
	}
	owf := hmacMD5(ntHash, utf16le(strings.ToUpper(user)+domain))
	proof := hmacMD5(owf, st.challenge[:], nt[16:])
	if !hmac.Equal(proof, nt[:16]) {
		return directory.User{}, fmt.Errorf("login %q: %w", login, directory.ErrBadPassword)
	}
	return u, nil
}

func hmacMD5(key []byte, data ...[]byte) []byte {
	m := hmac.New(md5.New, key)
	for _, d := range data {
		m.Write(d)
	}
	return m.Sum(nil)
}

func utf16le(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	return b
}
