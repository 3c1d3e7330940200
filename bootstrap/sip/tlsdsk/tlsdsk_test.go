package tlsdsk

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/deskphone/deskphone/bootstrap/sip/sign"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func seq(from byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = from + byte(i)
	}
	return b
}

// §6.6 synthetic vector, cross-checked against OpenSSL TLS1-PRF (MD5-SHA1).
const (
	vecPRF       = "46C178FF1101B42A4659E0F3DFA1F4C21E46C9B37226ED02743D4BB32168599D6F68424D361C170EC9F3F8E5430F592883AA9B07FB40DEF2628520FD35C8178257E37EFD25818468E2B98EFC027D490AC0D627055409EC3667207D894E4D8E43A38D8D0C9B0AD2DD191ACBA7B3F31E9020E5B8675CC1499830772AE93D8827EF"
	vecClientKey = "57E37EFD25818468E2B98EFC027D490AC0D627055409EC3667207D894E4D8E43"
	vecServerKey = "A38D8D0C9B0AD2DD191ACBA7B3F31E9020E5B8675CC1499830772AE93D8827EF"
)

func vecInputs() (master, cr, sr []byte) {
	master = seq(0x01, 48)
	cr = append(seq(0xa0, 16), seq(0xa0, 16)...)
	sr = append(seq(0xb0, 16), seq(0xb0, 16)...)
	return
}

func TestPRF10Vector(t *testing.T) {
	master, cr, sr := vecInputs()
	got := PRF10(master, "client EAP encryption", append(append([]byte(nil), cr...), sr...), 128)
	if want := unhex(t, vecPRF); !bytes.Equal(got, want) {
		t.Fatalf("PRF10 = %X\nwant    %X", got, want)
	}
}

func TestDeriveKeysVector(t *testing.T) {
	master, cr, sr := vecInputs()
	c, s := DeriveKeys(tls.VersionTLS10, master, cr, sr)
	if !bytes.Equal(c, unhex(t, vecClientKey)) || !bytes.Equal(s, unhex(t, vecServerKey)) {
		t.Fatalf("DeriveKeys = %X, %X", c, s)
	}
	// The §6.6 MACs over the sample buffer.
	buf := "<TLS-DSK><0878f41b><1><SIP Communications Service><ocs.example.com><abc123><2><REGISTER><sip:alice@example.com><tag1><sip:alice@example.com><><><><>"
	if got := sign.Hex(sign.MAC(sign.SHA1, c, buf)); got != "31ddc0953ff1ca7d265136908dbc3e7f5bd8eb55" {
		t.Errorf("HMAC-SHA1 = %s", got)
	}
	if got := sign.Hex(sign.MAC(sign.MD5, c, buf)); got != "8dbe52c0648dce19fc9b9fdf4b4ddb48" {
		t.Errorf("HMAC-MD5 = %s", got)
	}
	// TLS 1.2 uses a different PRF, hence different keys.
	c12, _ := DeriveKeys(tls.VersionTLS12, master, cr, sr)
	if bytes.Equal(c12, c) {
		t.Error("TLS 1.2 keys equal TLS 1.0 keys")
	}
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

type legs struct {
	c1, s1, c2, s2 []byte
}

// handshake runs a full exchange and returns the four legs.
func handshake(t testing.TB, c *Client, s *Server) (legs, error) {
	t.Helper()
	ctx := ctxT(t)
	var l legs
	var done bool
	var err error
	if l.c1, done, err = c.Step(ctx, nil); err != nil || done {
		return l, fmt.Errorf("client leg 1: done=%v: %w", done, err)
	}
	if l.s1, done, err = s.Step(ctx, l.c1); err != nil || done {
		return l, fmt.Errorf("server leg 1: done=%v: %w", done, err)
	}
	if l.c2, done, err = c.Step(ctx, l.s1); err != nil || done {
		return l, fmt.Errorf("client leg 2: done=%v: %w", done, err)
	}
	if l.s2, done, err = s.Step(ctx, l.c2); err != nil || !done {
		return l, fmt.Errorf("server leg 2: done=%v: %w", done, err)
	}
	out, done, err := c.Step(ctx, l.s2)
	if err != nil || !done || len(out) != 0 {
		return l, fmt.Errorf("client final: done=%v out=%d: %w", done, len(out), err)
	}
	return l, nil
}

func pair(t testing.TB, version uint16, mutate func(*ClientConfig, *ServerConfig)) (*Client, *Server) {
	p := getPKI(t)
	cc := ClientConfig{Certificate: p.client, RootCAs: p.rootPool, ServerName: serverName, MinVersion: version, MaxVersion: version}
	sc := ServerConfig{Certificate: p.server, MinVersion: version, MaxVersion: version}
	if mutate != nil {
		mutate(&cc, &sc)
	}
	c, s := NewClient(cc), NewServer(sc)
	t.Cleanup(c.Close)
	t.Cleanup(s.Close)
	return c, s
}

func TestHandshake(t *testing.T) {
	for _, tt := range []struct {
		name    string
		version uint16
		recVer  []byte
	}{
		{"default-tls10", 0, []byte{3, 1}},
		{"tls10", tls.VersionTLS10, []byte{3, 1}},
		{"tls12", tls.VersionTLS12, []byte{3, 3}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := getPKI(t)
			var verified []*x509.Certificate
			c, s := pair(t, tt.version, func(_ *ClientConfig, sc *ServerConfig) {
				sc.VerifyClient = func(chain []*x509.Certificate) error {
					verified = chain
					_, err := chain[0].Verify(x509.VerifyOptions{Roots: p.rootPool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
					return err
				}
			})
			if _, err := c.Keys(); !errors.Is(err, ErrNotDone) {
				t.Errorf("Keys before handshake: %v, want ErrNotDone", err)
			}
			l, err := handshake(t, c, s)
			if err != nil {
				t.Fatal(err)
			}
			checkLegs(t, l, tt.recVer)
			ck, err := c.Keys()
			if err != nil {
				t.Fatal(err)
			}
			sk, err := s.Keys()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(ck.Client, sk.Client) || !bytes.Equal(ck.Server, sk.Server) || len(ck.Client) != 32 || len(ck.Server) != 32 {
				t.Fatalf("keys differ: client side %X/%X, server side %X/%X", ck.Client, ck.Server, sk.Client, sk.Server)
			}
			if bytes.Equal(ck.Client, ck.Server) {
				t.Fatal("client and server keys are equal")
			}
			if ck.Alg != sign.SHA1 || ck.Version != sk.Version || ck.CipherSuite != sk.CipherSuite {
				t.Errorf("keys meta: %+v vs %+v", ck, sk)
			}
			wantVer := tt.version
			if wantVer == 0 {
				wantVer = tls.VersionTLS10
			}
			if ck.Version != wantVer {
				t.Errorf("version = %#x, want %#x", ck.Version, wantVer)
			}
			t.Logf("negotiated %s %s", tls.VersionName(ck.Version), tls.CipherSuiteName(ck.CipherSuite))
			if ck.CipherSuite != tls.TLS_RSA_WITH_AES_256_CBC_SHA && ck.CipherSuite != tls.TLS_RSA_WITH_AES_128_CBC_SHA {
				t.Errorf("suite = %s", tls.CipherSuiteName(ck.CipherSuite))
			}
			// Cross-check against the RFC 5705 exporter (both ends are Go: EMS negotiated).
			for name, conn := range map[string]*tls.Conn{"client": c.e.tls, "server": s.e.tls} {
				cs := conn.ConnectionState()
				if !cs.DidResume && cs.Version < tls.VersionTLS13 {
					ekm, err := cs.ExportKeyingMaterial("client EAP encryption", nil, 128)
					if err != nil {
						t.Fatalf("%s ExportKeyingMaterial: %v", name, err)
					}
					if !bytes.Equal(ekm[64:96], ck.Client) || !bytes.Equal(ekm[96:128], ck.Server) {
						t.Errorf("%s exporter [64:128] = %X, keys %X%X", name, ekm[64:128], ck.Client, ck.Server)
					}
				}
			}
			if pc := c.PeerCertificates(); len(pc) == 0 || pc[0].Subject.CommonName != serverName {
				t.Errorf("client PeerCertificates = %v", pc)
			}
			if pc := s.PeerCertificates(); len(pc) != 1 || !pc[0].Equal(p.client.Leaf) || len(verified) != 1 {
				t.Errorf("server PeerCertificates = %v", pc)
			}
			if _, _, err := c.Step(ctxT(t), []byte{1}); !errors.Is(err, ErrDone) {
				t.Errorf("Step after done: %v, want ErrDone", err)
			}
		})
	}
}

// checkLegs checks the record layout of the four legs against §1.3/§2.2.
func checkLegs(t *testing.T, l legs, recVer []byte) {
	t.Helper()
	type rec struct {
		typ  byte
		frag []byte
	}
	split := func(name string, b []byte) []rec {
		var rs []rec
		if !records(b, func(typ byte, frag []byte) bool { rs = append(rs, rec{typ, frag}); return true }) {
			t.Errorf("%s: not whole records", name)
		}
		return rs
	}
	c1 := split("client leg 1", l.c1)
	if len(c1) != 1 || c1[0].typ != recordTypeHandshake || c1[0].frag[0] != 1 {
		t.Errorf("client leg 1 is not one ClientHello record: %x", l.c1[:min(16, len(l.c1))])
	}
	if ch, err := handshakeMessages(l.c1); err != nil {
		t.Error(err)
	} else if got := offeredSuites(ch[1]); !slices.Equal(got, []uint16{tls.TLS_RSA_WITH_AES_256_CBC_SHA, tls.TLS_RSA_WITH_AES_128_CBC_SHA}) &&
		!slices.Equal(got, []uint16{tls.TLS_RSA_WITH_AES_128_CBC_SHA, tls.TLS_RSA_WITH_AES_256_CBC_SHA}) {
		t.Errorf("ClientHello offers %#04x, want exactly the two RSA AES-CBC-SHA suites", got)
	}
	msgs, err := handshakeMessages(l.s1)
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range []byte{2, 11, 13, 14} { // ServerHello, Certificate, CertificateRequest, ServerHelloDone
		if _, ok := msgs[typ]; !ok {
			t.Errorf("server leg 1 lacks handshake type %d", typ)
		}
	}
	if !bytes.Equal(l.s1[1:3], recVer) {
		t.Errorf("server record version %x, want %x", l.s1[1:3], recVer)
	}
	// One record for the whole flight, as SChannel sends it (§1.3);
	// pidgin-sipe rejects a record holding only ServerHelloDone.
	if s1 := split("server leg 1", l.s1); len(s1) != 1 || s1[0].typ != recordTypeHandshake {
		t.Errorf("server leg 1 has %d records, want one handshake record", len(s1))
	}
	c2 := split("client leg 2", l.c2)
	var types []byte
	for _, r := range c2 {
		types = append(types, r.typ)
	}
	// Handshake{Certificate, CKE, CertificateVerify} | CCS | Finished (§2.3 step 4).
	if len(c2) != 3 || c2[0].typ != recordTypeHandshake || c2[0].frag[0] != typeCertificate ||
		c2[len(c2)-2].typ != 20 || c2[len(c2)-1].typ != recordTypeHandshake {
		t.Errorf("client leg 2 record types %v", types)
	}
	cm, _ := handshakeMessages(l.c2)
	for _, typ := range []byte{11, 16, 15} {
		if _, ok := cm[typ]; !ok {
			t.Errorf("client leg 2 lacks handshake type %d", typ)
		}
	}
	s2 := split("server leg 2", l.s2)
	if len(s2) != 2 || s2[0].typ != 20 || s2[1].typ != recordTypeHandshake {
		t.Errorf("server leg 2 is not CCS+Finished: %d records", len(s2))
	}
}

// offeredSuites returns the cipher suites of a ClientHello body.
func offeredSuites(ch []byte) []uint16 {
	if len(ch) < 35 {
		return nil
	}
	b := ch[34:]
	b = b[1+int(b[0]):] // session_id
	n := int(b[0])<<8 | int(b[1])
	var out []uint16
	for i := 2; i+1 < 2+n && i+1 < len(b); i += 2 {
		out = append(out, uint16(b[i])<<8|uint16(b[i+1]))
	}
	return out
}

func TestClientRejectsServer(t *testing.T) {
	for _, tt := range []struct {
		name   string
		mutate func(*ClientConfig, *ServerConfig)
	}{
		{"wrong root", func(cc *ClientConfig, _ *ServerConfig) { cc.RootCAs = getPKI(t).otherPool }},
		{"wrong name", func(cc *ClientConfig, _ *ServerConfig) { cc.ServerName = "other.lab.example" }},
		{"expired", func(cc *ClientConfig, _ *ServerConfig) {
			cc.Time = func() time.Time { return time.Now().Add(48 * time.Hour) }
		}},
		{"missing intermediate", func(_ *ClientConfig, sc *ServerConfig) { sc.Certificate = getPKI(t).serverLeafOnly }},
		{"intermediate but wrong root", func(cc *ClientConfig, sc *ServerConfig) {
			sc.Certificate = getPKI(t).serverLeafOnly
			cc.Intermediates = getPKI(t).interPool
			cc.RootCAs = getPKI(t).otherPool
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, s := pair(t, 0, tt.mutate)
			ctx := ctxT(t)
			c1, _, err := c.Step(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			s1, _, err := s.Step(ctx, c1)
			if err != nil {
				t.Fatal(err)
			}
			alert, done, err := c.Step(ctx, s1)
			if err == nil || done {
				t.Fatalf("client accepted the server: done=%v err=%v", done, err)
			}
			if _, ok := errors.AsType[tls.AlertError](err); !ok {
				t.Errorf("error does not wrap a tls.AlertError: %v", err)
			}
			if _, ok := plainAlert(alert); !ok {
				t.Errorf("no alert record in output %x", alert)
			}
			// The server sees the client's alert as a remote error.
			_, _, serr := s.Step(ctx, alert)
			if a, ok := errors.AsType[tls.AlertError](serr); !ok {
				t.Errorf("server error does not wrap a tls.AlertError: %v", serr)
			} else {
				t.Logf("client: %v; server: %v (alert %d)", err, serr, a)
			}
			if _, _, err2 := c.Step(ctx, s1); err2 == nil {
				t.Error("Step after failure succeeded")
			}
		})
	}
}

func TestIntermediates(t *testing.T) {
	c, s := pair(t, 0, func(cc *ClientConfig, sc *ServerConfig) {
		sc.Certificate = getPKI(t).serverLeafOnly
		cc.Intermediates = getPKI(t).interPool
	})
	if _, err := handshake(t, c, s); err != nil {
		t.Fatal(err)
	}
	if pc := c.PeerCertificates(); len(pc) != 1 {
		t.Errorf("PeerCertificates = %d certs, want the 1 the server sent", len(pc))
	}
}

func TestServerRejectsClient(t *testing.T) {
	errNope := errors.New("certificate not published for this user")
	for _, tt := range []struct {
		name   string
		mutate func(*ClientConfig, *ServerConfig)
	}{
		{"verify rejects", func(_ *ClientConfig, sc *ServerConfig) {
			sc.VerifyClient = func([]*x509.Certificate) error { return errNope }
		}},
		{"no client certificate", func(cc *ClientConfig, _ *ServerConfig) { cc.Certificate = tls.Certificate{} }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, s := pair(t, 0, tt.mutate)
			ctx := ctxT(t)
			c1, _, err := c.Step(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			s1, _, err := s.Step(ctx, c1)
			if err != nil {
				t.Fatal(err)
			}
			c2, _, err := c.Step(ctx, s1)
			if err != nil {
				t.Fatal(err)
			}
			alert, done, err := s.Step(ctx, c2)
			if err == nil || done {
				t.Fatalf("server accepted the client: done=%v", done)
			}
			if _, ok := errors.AsType[tls.AlertError](err); !ok {
				t.Errorf("error does not wrap a tls.AlertError: %v", err)
			}
			if tt.name == "verify rejects" && !errors.Is(err, errNope) {
				t.Errorf("error does not wrap the verifier's: %v", err)
			}
			_, _, cerr := c.Step(ctx, alert)
			if _, ok := errors.AsType[tls.AlertError](cerr); !ok {
				t.Errorf("client error does not wrap the server's alert: %v", cerr)
			}
			if _, err := s.Keys(); !errors.Is(err, ErrNotDone) {
				t.Errorf("Keys after failure: %v", err)
			}
		})
	}
}

// TestBadTokens feeds garbage and truncated tokens at each leg: every case must end in an
// error, promptly.
func TestBadTokens(t *testing.T) {
	// A good exchange to take real legs from.
	c0, s0 := pair(t, 0, nil)
	good, err := handshake(t, c0, s0)
	if err != nil {
		t.Fatal(err)
	}
	garbage := []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	for _, tt := range []struct {
		name string
		run  func(ctx context.Context, c *Client, s *Server) error
	}{
		{"server: garbage client hello", func(ctx context.Context, _ *Client, s *Server) error {
			_, _, err := s.Step(ctx, garbage)
			return err
		}},
		{"server: truncated client hello", func(ctx context.Context, _ *Client, s *Server) error {
			_, _, err := s.Step(ctx, good.c1[:len(good.c1)-3])
			return err
		}},
		{"server: empty client hello", func(ctx context.Context, _ *Client, s *Server) error {
			_, _, err := s.Step(ctx, nil)
			return err
		}},
		{"client: input on first step", func(ctx context.Context, c *Client, _ *Server) error {
			_, _, err := c.Step(ctx, garbage)
			return err
		}},
		{"client: garbage server leg", func(ctx context.Context, c *Client, _ *Server) error {
			if _, _, err := c.Step(ctx, nil); err != nil {
				return nil
			}
			_, _, err := c.Step(ctx, garbage)
			return err
		}},
		{"client: truncated server leg", func(ctx context.Context, c *Client, _ *Server) error {
			if _, _, err := c.Step(ctx, nil); err != nil {
				return nil
			}
			_, _, err := c.Step(ctx, good.s1[:len(good.s1)/2])
			return err
		}},
		{"client: empty server leg", func(ctx context.Context, c *Client, _ *Server) error {
			if _, _, err := c.Step(ctx, nil); err != nil {
				return nil
			}
			_, _, err := c.Step(ctx, []byte{})
			return err
		}},
		{"client: server leg from another handshake", func(ctx context.Context, c *Client, _ *Server) error {
			if _, _, err := c.Step(ctx, nil); err != nil {
				return nil
			}
			if _, _, err := c.Step(ctx, good.s1); err != nil {
				return err // may fail here already
			}
			_, _, err := c.Step(ctx, good.s2)
			return err
		}},
		{"server: client leg from another handshake", func(ctx context.Context, c *Client, s *Server) error {
			c1, _, _ := c.Step(ctx, nil)
			if _, _, err := s.Step(ctx, c1); err != nil {
				return nil
			}
			_, _, err := s.Step(ctx, good.c2)
			return err
		}},
		{"server: truncated client leg 2", func(ctx context.Context, c *Client, s *Server) error {
			c1, _, _ := c.Step(ctx, nil)
			s1, _, _ := s.Step(ctx, c1)
			c2, _, _ := c.Step(ctx, s1)
			_, _, err := s.Step(ctx, c2[:len(c2)-10])
			return err
		}},
		{"client: truncated server finished", func(ctx context.Context, c *Client, s *Server) error {
			c1, _, _ := c.Step(ctx, nil)
			s1, _, _ := s.Step(ctx, c1)
			c2, _, _ := c.Step(ctx, s1)
			s2, _, _ := s.Step(ctx, c2)
			_, _, err := c.Step(ctx, s2[:len(s2)-1])
			return err
		}},
		{"client: corrupted server finished", func(ctx context.Context, c *Client, s *Server) error {
			c1, _, _ := c.Step(ctx, nil)
			s1, _, _ := s.Step(ctx, c1)
			c2, _, _ := c.Step(ctx, s1)
			s2, _, _ := s.Step(ctx, c2)
			s2 = bytes.Clone(s2)
			s2[len(s2)-1] ^= 0xff
			_, _, err := c.Step(ctx, s2)
			return err
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, s := pair(t, 0, nil)
			start := time.Now()
			err := tt.run(ctxT(t), c, s)
			if err == nil {
				t.Fatal("no error")
			}
			if errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("hung until the deadline: %v", err)
			}
			t.Logf("%v in %v", err, time.Since(start).Round(time.Millisecond))
		})
	}
}

func TestContextCancel(t *testing.T) {
	c, _ := pair(t, 0, nil)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, _, err := c.Step(ctx, nil); err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Step: %v", err)
	}
	// Whether or not the first step raced the cancellation, a cancelled Step must not
	// hang and the client must be closable.
	c.Close()
	if _, _, err := c.Step(t.Context(), []byte{1}); err == nil {
		t.Error("Step after Close succeeded")
	}
}

func TestKeysLogValue(t *testing.T) {
	k := Keys{Client: bytes.Repeat([]byte{0xab}, 32), Server: bytes.Repeat([]byte{0xcd}, 32)}
	if s := k.LogValue().String(); strings.Contains(strings.ToLower(s), "abab") || strings.Contains(strings.ToLower(s), "cdcd") {
		t.Errorf("LogValue leaks keys: %s", s)
	}
}

func BenchmarkHandshake(b *testing.B) {
	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS12} {
		b.Run(tls.VersionName(v), func(b *testing.B) {
			getPKI(b)
			b.ReportAllocs()
			for b.Loop() {
				c, s := pair(b, v, nil)
				if _, err := handshake(b, c, s); err != nil {
					b.Fatal(err)
				}
				c.Close()
				s.Close()
			}
		})
	}
}
