package sip

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/deskphone/deskphone/bootstrap/sip/sign"
	"github.com/deskphone/deskphone/bootstrap/sip/sipauth"
	"github.com/deskphone/deskphone/bootstrap/sip/tlsdsk"
)

// authenticator is one security-context handshake carried in gssapi-data
// (MS-SIPAE 3.2.x). TLS-DSK is the only one today; NTLM (connection-less,
// an empty first token) is a second implementation of the same interface.
type authenticator interface {
	// Scheme is the auth-scheme token ("TLS-DSK").
	Scheme() string
	// Step consumes the decoded gssapi-data of the last 401 (nil on the
	// first call) and returns the next token; done once the context is
	// established (then out is empty).
	Step(ctx context.Context, in []byte) (out []byte, done bool, err error)
	// Signer returns the message signer of the established context.
	Signer() (signer, error)
	Close()
}

// signer computes and checks the response / rspauth MACs over §2.5 buffers.
type signer interface {
	Sign(buf string) string             // lowercase hex MAC with the client key
	Verify(buf string, mac string) bool // constant-time check with the server key
}

// tlsDSKAuth is the TLS-DSK authenticator (signin-protocols.md §2, §8.1).
type tlsDSKAuth struct{ c *tlsdsk.Client }

func newTLSDSK(cfg *Config, target string) (authenticator, error) {
	tcfg := cfg.TLSConfig(target)
	if tcfg == nil || tcfg.RootCAs == nil {
		return nil, errors.New("sip: tls-dsk: no trust anchors for the registrar")
	}
	return &tlsDSKAuth{c: tlsdsk.NewClient(tlsdsk.ClientConfig{
		Certificate: cfg.Certificate,
		RootCAs:     tcfg.RootCAs,
		ServerName:  target,
		MinVersion:  cfg.TLSDSKVersion,
		MaxVersion:  cfg.TLSDSKVersion,
		Time:        cfg.Now,
	})}, nil
}

func (a *tlsDSKAuth) Scheme() string { return SchemeTLSDSK }

func (a *tlsDSKAuth) Step(ctx context.Context, in []byte) ([]byte, bool, error) {
	return a.c.Step(ctx, in)
}

func (a *tlsDSKAuth) Signer() (signer, error) {
	k, err := a.c.Keys()
	if err != nil {
		return nil, err
	}
	return keySigner{k}, nil
}

func (a *tlsDSKAuth) Close() { a.c.Close() }

type keySigner struct{ k tlsdsk.Keys }

func (s keySigner) Sign(buf string) string { return sign.Hex(sign.MAC(s.k.Alg, s.k.Client, buf)) }
func (s keySigner) Verify(buf, mac string) bool {
	return sign.Verify(s.k.Alg, s.k.Server, buf, mac)
}

// securityAssoc is an established SA: what signs our messages and checks
// the registrar's.
type securityAssoc struct {
	scheme, realm, target, opaque string
	version                       int
	signer                        signer
	established                   time.Time

	mu   sync.Mutex
	cnum uint32
}

// next returns a fresh crand and the next cnum.
func (sa *securityAssoc) next() (string, uint32) {
	sa.mu.Lock()
	defer sa.mu.Unlock()
	sa.cnum++
	return randHex(4), sa.cnum
}

// signRequest adds the steady-state Authorization header (§1.2) to m, which
// must be complete (every header in the §2.5 buffer set).
func (sa *securityAssoc) sign(m gosip.Message, header string) {
	crand, cnum := sa.next()
	sa.signWith(m, header, crand, cnum)
}

func (sa *securityAssoc) signWith(m gosip.Message, header, crand string, cnum uint32) {
	f := sign.FromMessage(m)
	f.Scheme, f.Rand, f.Num, f.Realm, f.Target = sa.scheme, crand, strconv.FormatUint(uint64(cnum), 10), sa.realm, sa.target
	c := sipauth.Credentials{
		Scheme: sa.scheme, Opaque: sa.opaque, Realm: sa.realm, TargetName: sa.target,
		CRand: crand, CNum: cnum, Response: sa.signer.Sign(sign.Buffer(f, sa.version)),
	}
	removeHeader(m, header)
	m.AppendHeader(gosip.NewHeader(header, sipauth.FormatAuthorization(c)))
}

// verify checks the Authentication-Info of an incoming message. signed is
// false when the message carries none.
func (sa *securityAssoc) verify(m gosip.Message) (signed bool, err error) {
	hs := m.GetHeaders("Authentication-Info")
	if len(hs) == 0 {
		hs = m.GetHeaders("Proxy-Authentication-Info")
	}
	if len(hs) == 0 {
		return false, nil
	}
	ai, err := sipauth.ParseAuthInfo(hs[0].Value())
	if err != nil {
		return true, fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	if ai.RspAuth == "" {
		return false, nil
	}
	if sa == nil || !equalFold(ai.Scheme, sa.scheme) || ai.Realm != sa.realm || ai.TargetName != sa.target {
		return true, fmt.Errorf("%w: no security association for %s %q", ErrBadSignature, ai.Scheme, ai.TargetName)
	}
	f := sign.FromMessage(m)
	f.Scheme, f.Rand, f.Num, f.Realm, f.Target = sa.scheme, ai.SRand, strconv.FormatUint(uint64(ai.SNum), 10), ai.Realm, ai.TargetName
	if !sa.signer.Verify(sign.Buffer(f, sa.version), ai.RspAuth) {
		return true, fmt.Errorf("%w: rspauth mismatch (snum %d)", ErrBadSignature, ai.SNum)
	}
	return true, nil
}

// certUsable checks the client certificate: present, parseable and valid for
// at least another hour (§2.3, SIPE's rule).
func certUsable(c tls.Certificate, now time.Time) (*x509.Certificate, string) {
	if len(c.Certificate) == 0 || c.PrivateKey == nil {
		return nil, "no client certificate"
	}
	leaf := c.Leaf
	if leaf == nil {
		var err error
		if leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return nil, "client certificate unreadable"
		}
	}
	if now.Before(leaf.NotBefore) {
		return leaf, "client certificate not yet valid"
	}
	if now.Add(time.Hour).After(leaf.NotAfter) {
		return leaf, "client certificate expired or expiring within the hour"
	}
	return leaf, ""
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

func removeHeader(m gosip.Message, name string) {
	switch v := m.(type) {
	case *gosip.Request:
		v.RemoveHeader(name)
	case *gosip.Response:
		v.RemoveHeader(name)
	}
}
