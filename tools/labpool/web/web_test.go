//go:debug rsa1024min=0

package web

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smallstep/pkcs7"
	"go.uber.org/goleak"

	"github.com/deskphone/deskphone/bootstrap/certprov"
	"github.com/deskphone/deskphone/bootstrap/failure"
	"github.com/deskphone/deskphone/bootstrap/webticket"
	"github.com/deskphone/deskphone/tools/labpool/directory"
	"github.com/deskphone/deskphone/tools/labpool/faults"
	"github.com/deskphone/deskphone/tools/labpool/pki"
)

var (
	testCA  *pki.CA
	testKey *rsa.PrivateKey
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "labpool-web-pki")
	if err != nil {
		panic(err)
	}
	testCA, err = pki.Load(dir, "example.test", nil)
	if err == nil {
		testKey, err = certprov.GenerateKey()
	}
	if err != nil {
		os.RemoveAll(dir)
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			os.Stderr.WriteString("goleak: " + err.Error() + "\n")
			code = 1
		}
	}
	os.Exit(code)
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

type pool struct {
	srv     *Server
	dir     *directory.Directory
	faults  *faults.Set
	clk     *fakeClock
	base    string // https://127.0.0.1:port
	httpURL string
	logs    *syncBuf
	wt      *webticket.Client
	cp      *certprov.Client
	tr      *http.Transport
}

func newPool(t *testing.T, cfg Config, dopts ...directory.Option) *pool {
	t.Helper()
	p := &pool{faults: new(faults.Set), clk: &fakeClock{t: time.Now()}, logs: new(syncBuf)}
	logger := slog.New(slog.NewTextHandler(io.MultiWriter(p.logs, t.Output()), nil))
	var err error
	p.dir, err = directory.Open("", logger, append(dopts, directory.WithClock(p.clk.Now))...)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.dir.AddDemoUsers(); err != nil {
		t.Fatal(err)
	}
	cfg.Domain, cfg.CA, cfg.Dir, cfg.Faults, cfg.Now = "example.test", testCA, p.dir, p.faults, p.clk.Now
	p.srv, err = New(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: p.srv.HTTPSHandler(), TLSConfig: p.srv.TLSConfig(), ReadHeaderTimeout: 5 * time.Second,
		ErrorLog: log.New(io.Discard, "", 0)}
	done := make(chan struct{})
	go func() { defer close(done); _ = hs.ServeTLS(ln, "", "") }()
	plain := httptest.NewServer(p.srv.HTTPHandler())
	p.base, p.httpURL = "https://"+ln.Addr().String(), plain.URL
	p.tr = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: testCA.RootPool()}}
	hc := &http.Client{Transport: p.tr, Timeout: 10 * time.Second}
	p.wt = &webticket.Client{HTTP: hc, Logger: logger}
	p.cp = &certprov.Client{HTTP: hc, Logger: logger, Now: p.clk.Now}
	t.Cleanup(func() {
		p.tr.CloseIdleConnections()
		_ = hs.Close()
		<-done
		plain.Close()
	})
	return p
}

func (p *pool) certProvURL() string { return p.base + CertProvPath }

func (p *pool) discover(t *testing.T) webticket.Endpoints {
	t.Helper()
	ep, err := p.wt.Discover(context.Background(), p.certProvURL())
	if err != nil {
		t.Fatal(err)
	}
	return ep
}

func (p *pool) signIn(t *testing.T, ep webticket.Endpoints, ext, pin string) (*webticket.Ticket, *certprov.Issued, error) {
	t.Helper()
	ctx := context.Background()
	tk, err := p.wt.ByPIN(ctx, ep, ext, webticket.Secret(pin))
	if err != nil {
		return nil, nil, err
	}
	csr, err := certprov.BuildCSR(testKey, tk.SIPURI)
	if err != nil {
		t.Fatal(err)
	}
	iss, err := p.cp.GetAndPublishCert(ctx, ep.CertProvPort, tk, csr, "{6C7E1E4A-1B0B-4D3C-9F00-0000000000A1}")
	return tk, iss, err
}

func wantCode(t *testing.T, err error, code failure.Code) {
	t.Helper()
	if got := failure.CodeOf(err); got != code {
		t.Fatalf("code %q, want %q (err %v)", got, code, err)
	}
}

func TestPINToCertificate(t *testing.T) {
	for _, b64 := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "base64"}[b64], func(t *testing.T) {
			p := newPool(t, Config{})
			p.wt.Base64Credentials = b64
			ep := p.discover(t)
			if ep.CertProvPort != p.base+CertProvPort || ep.WebTicketURL != p.base+WebTicketPath ||
				ep.Pin != p.base+PinPath || ep.WinNegotiate != p.base+WebTicketPath || !ep.ProofRequired {
				t.Fatalf("endpoints %+v", ep)
			}
			t0 := time.Now()
			tk, err := p.wt.ByPIN(context.Background(), ep, "+14255550101", "24680")
			if err != nil {
				t.Fatal(err)
			}
			t1 := time.Now()
			if tk.SIPURI != "sip:alice@example.test" || len(tk.ProofKey) != 32 || tk.Expires.Sub(tk.Created) != DefaultTicketLifetime {
				t.Fatalf("ticket %+v", tk)
			}
			csr, _ := certprov.BuildCSR(testKey, tk.SIPURI)
			t2 := time.Now()
			iss, err := p.cp.GetAndPublishCert(context.Background(), ep.CertProvPort, tk, csr, "6C7E1E4A-1B0B-4D3C-9F00-0000000000A1")
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("webticket %v, certprov %v", t1.Sub(t0), time.Since(t2))
			if iss.Cert.Subject.CommonName != "alice@example.test" || len(iss.Chain) != 1 || !iss.Chain[0].Equal(testCA.ClientCA()) {
				t.Fatalf("issued %v chain %d", iss.Cert.Subject, len(iss.Chain))
			}
			if d := iss.Cert.NotAfter.Sub(p.clk.Now()); d <= DefaultCertValidity-time.Second || d > DefaultCertValidity {
				t.Fatalf("validity %v", d)
			}
			if err := p.dir.CheckClientCert("sip:alice@example.test", iss.Cert); err != nil {
				t.Fatal(err)
			}
			if pub := p.dir.Published("sip:alice@example.test"); len(pub) != 1 || pub[0].DeviceID != "{6C7E1E4A-1B0B-4D3C-9F00-0000000000A1}" {
				t.Fatalf("published %+v", pub)
			}
			logs := p.logs.String()
			for _, w := range [][]string{
				{`msg="web ticket issued"`, "sip_uri=sip:alice@example.test"},
				{`msg="certificate published"`, "sip_uri=sip:alice@example.test", "device_id={6C7E1E4A-1B0B-4D3C-9F00-0000000000A1}"},
			} {
				if !logLine(logs, w...) {
					t.Errorf("no log line with %q", w)
				}
			}
			if strings.Contains(logs, "24680") || strings.Contains(logs, "MjQ2ODA") {
				t.Error("the PIN reached the logs")
			}
		})
	}
}

func logLine(logs string, subs ...string) bool {
	for _, l := range strings.Split(logs, "\n") {
		n := 0
		for _, s := range subs {
			if strings.Contains(l, s) {
				n++
			}
		}
		if n == len(subs) {
			return true
		}
	}
	return false
}

func TestWrongPINLockoutRecovery(t *testing.T) {
	p := newPool(t, Config{}, directory.WithPINPolicy(directory.PINPolicy{MaxLocal: 3, MaxGlobal: 100}))
	ep := p.discover(t)
	ctx := context.Background()
	for i, want := range []failure.Code{failure.PINInvalid, failure.PINInvalid, failure.PINLocked} {
		_, err := p.wt.ByPIN(ctx, ep, "1001", "11111")
		if got := failure.CodeOf(err); got != want {
			t.Fatalf("attempt %d: %q, want %q (%v)", i, got, want, err)
		}
	}
	_, err := p.wt.ByPIN(ctx, ep, "1001", "24680")
	wantCode(t, err, failure.PINLocked)
	_, err = p.wt.ByPIN(ctx, ep, "9999", "24680")
	wantCode(t, err, failure.PINInvalid)
	p.clk.Advance(61 * time.Minute)
	if _, _, err := p.signIn(t, ep, "1001", "24680"); err != nil {
		t.Fatal(err)
	}
}

func TestFaultsAndRecovery(t *testing.T) {
	for _, tt := range []struct {
		fault string
		code  failure.Code
		slow  time.Duration
	}{
		{faults.WebticketDown, failure.TicketUnavailable, 0},
		{faults.PINLocked, failure.PINLocked, 0},
		{faults.DatastoreUnavailable, failure.CertPublishFailed, 0},
		{faults.ChainUntrusted, failure.TicketUnavailable, 0},
		{"slow:webticket=150ms", "", 150 * time.Millisecond},
		{"slow:certprov=150ms", "", 150 * time.Millisecond},
	} {
		t.Run(tt.fault, func(t *testing.T) {
			p := newPool(t, Config{})
			ep := p.discover(t)
			if err := p.faults.Add(tt.fault); err != nil {
				t.Fatal(err)
			}
			p.tr.CloseIdleConnections() // a new handshake sees the fault's certificate
			start := time.Now()
			_, _, err := p.signIn(t, ep, "1001", "24680")
			if tt.slow > 0 {
				if err != nil || time.Since(start) < tt.slow {
					t.Fatalf("err %v after %v", err, time.Since(start))
				}
			} else {
				wantCode(t, err, tt.code)
			}
			if tt.fault == faults.ChainUntrusted {
				if !strings.Contains(err.Error(), "certificate") {
					t.Fatalf("not a certificate error: %v", err)
				}
				if certs := getChain(t, p.httpURL); len(certs) != 1 || !certs[0].Equal(testCA.UntrustedChain()[0]) {
					t.Fatal("chain endpoint does not serve the untrusted chain")
				}
			}
			p.faults.Clear(tt.fault)
			p.tr.CloseIdleConnections()
			if _, _, err := p.signIn(t, ep, "1001", "24680"); err != nil {
				t.Fatalf("after clearing: %v", err)
			}
		})
	}
}

func getChain(t *testing.T, base string) []*x509.Certificate {
	t.Helper()
	resp, err := http.Get(base + ChainPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.Header.Get("Content-Type") != "application/pkcs7-mime" {
		t.Fatalf("content type %q", resp.Header.Get("Content-Type"))
	}
	p7, err := pkcs7.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return p7.Certificates
}

func TestChainDownload(t *testing.T) {
	p := newPool(t, Config{})
	certs := getChain(t, p.httpURL)
	want := testCA.Chain()
	if len(certs) != len(want) {
		t.Fatalf("%d certs", len(certs))
	}
	for i := range want {
		if !certs[i].Equal(want[i]) {
			t.Fatalf("cert %d differs", i)
		}
	}
}

// post sends a GetAndPublishCert envelope as is.
func (p *pool) post(t *testing.T, env []byte) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, p.base+CertProvPort, bytes.NewReader(env))
	req.Header.Set("SOAPAction", `"`+certprov.SOAPAction+`"`)
	req.Header.Set("Content-Type", "text/xml")
	resp, err := (&http.Client{Transport: p.tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestLabpoolRejects(t *testing.T) {
	small, err := rsa.GenerateKey(rand.Reader, 768)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		key     *rsa.PrivateKey
		cn      string
		mutate  func(p *pool, env []byte) []byte
		status  int
		wantSub string
	}{
		{name: "ok", status: 200, wantSub: "RequestedSecurityToken"},
		{name: "tampered signature", status: 500, wantSub: "28020", mutate: func(_ *pool, env []byte) []byte {
			i := bytes.Index(env, []byte("<SignatureValue>")) + len("<SignatureValue>")
			env[i] ^= 0x01
			return env
		}},
		{name: "tampered timestamp", status: 500, wantSub: "28020", mutate: func(_ *pool, env []byte) []byte {
			return regexp.MustCompile(`\d\d\dZ</wsu:Expires>`).ReplaceAll(env, []byte("999Z</wsu:Expires>"))
		}},
		{name: "tampered assertion", status: 500, wantSub: "28020", mutate: func(_ *pool, env []byte) []byte {
			return bytes.Replace(env, []byte("sip:alice@example.test</saml:NameIdentifier>"), []byte("sip:bob@example.test</saml:NameIdentifier>"), 1)
		}},
		{name: "no signature", status: 500, wantSub: "28020", mutate: func(_ *pool, env []byte) []byte {
			i, j := bytes.Index(env, []byte("<Signature ")), bytes.Index(env, []byte("</Signature>"))+len("</Signature>")
			return append(env[:i:i], env[j:]...)
		}},
		{name: "expired ticket", status: 500, wantSub: "28020", mutate: func(p *pool, env []byte) []byte {
			p.clk.Advance(DefaultTicketLifetime + time.Hour)
			return env
		}},
		{name: "cn mismatch", cn: "sip:bob@example.test", status: 200, wantSub: certprov.ErrorCodeCSRRejected},
		{name: "small key", key: small, status: 200, wantSub: certprov.ErrorCodeCSRRejected},
		{name: "entity mismatch", status: 200, wantSub: certprov.ErrorCodeCSRRejected, mutate: func(_ *pool, env []byte) []byte {
			return bytes.Replace(env, []byte(`Entity="alice@example.test"`), []byte(`Entity="bob@example.test"`), 1)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := newPool(t, Config{})
			ep := p.discover(t)
			tk, err := p.wt.ByPIN(context.Background(), ep, "1001", "24680")
			if err != nil {
				t.Fatal(err)
			}
			key, cn := testKey, tk.SIPURI
			if tt.key != nil {
				key = tt.key
			}
			if tt.cn != "" {
				cn = tt.cn
			}
			csr, err := certprov.BuildCSR(key, cn)
			if err != nil {
				t.Fatal(err)
			}
			env, err := certprov.BuildEnvelope(certprov.Request{PortURL: ep.CertProvPort, MessageID: "m", RequestID: "r",
				DeviceID: "{d}", CSR: csr, Ticket: tk})
			if err != nil {
				t.Fatal(err)
			}
			if tt.mutate != nil {
				env = tt.mutate(p, env)
			}
			status, body := p.post(t, env)
			if status != tt.status || !strings.Contains(body, tt.wantSub) {
				t.Fatalf("status %d body %s", status, body)
			}
		})
	}
}

func TestPhoneMapsRejections(t *testing.T) {
	p := newPool(t, Config{})
	ep := p.discover(t)
	tk, err := p.wt.ByPIN(context.Background(), ep, "1001", "24680")
	if err != nil {
		t.Fatal(err)
	}
	csr, _ := certprov.BuildCSR(testKey, "sip:bob@example.test")
	_, err = p.cp.GetAndPublishCert(context.Background(), ep.CertProvPort, tk, csr, "{d}")
	wantCode(t, err, failure.CertRejected)
	forged := *tk
	forged.ProofKey = make([]byte, 32)
	csr, _ = certprov.BuildCSR(testKey, tk.SIPURI)
	_, err = p.cp.GetAndPublishCert(context.Background(), ep.CertProvPort, &forged, csr, "{d}")
	wantCode(t, err, failure.CredentialsNeeded)
}

func TestByPassword(t *testing.T) {
	for _, tt := range []struct {
		name    string
		schemes []string
		login   string
		pwd     string
		uri     string
		code    failure.Code
	}{
		{"ntlm", nil, `EXAMPLE\alice`, "Alice-2468", "sip:alice@example.test", ""},
		{"ntlm lowercase domain", nil, `example\alice`, "Alice-2468", "alice@example.test", ""},
		{"ntlm wrong password", nil, `EXAMPLE\alice`, "alice-2468", "sip:alice@example.test", failure.CredentialsNeeded},
		{"ntlm other user's uri", nil, `EXAMPLE\bob`, "Bob-1357", "sip:alice@example.test", failure.CredentialsNeeded},
		{"basic", []string{"Basic"}, `EXAMPLE\bob`, "Bob-1357", "sip:bob@example.test", ""},
		{"basic wrong password", []string{"Basic"}, `EXAMPLE\bob`, "nope", "sip:bob@example.test", failure.CredentialsNeeded},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := newPool(t, Config{WinAuth: tt.schemes})
			ep := p.discover(t)
			tk, err := p.wt.ByPassword(context.Background(), ep, tt.uri, tt.login, webticket.Secret(tt.pwd))
			if tt.code != "" {
				wantCode(t, err, tt.code)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			csr, _ := certprov.BuildCSR(testKey, tk.SIPURI)
			if _, err := p.cp.GetAndPublishCert(context.Background(), ep.CertProvPort, tk, csr, "{d}"); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(p.logs.String(), tt.pwd) {
				t.Fatal("password logged")
			}
		})
	}
}

func TestOffersNoNegotiate(t *testing.T) {
	p := newPool(t, Config{})
	resp, err := (&http.Client{Transport: p.tr}).Post(p.base+WebTicketPath, "text/xml", strings.NewReader("<x/>"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	got := resp.Header.Values("WWW-Authenticate")
	if resp.StatusCode != 401 || len(got) != 2 || got[0] != "NTLM" || !strings.HasPrefix(got[1], "Basic ") {
		t.Fatalf("%d %q", resp.StatusCode, got)
	}
}

// TestSIPEStyleTimestamp builds the WS-Security header the way pidgin-sipe
// does (signin-protocols.md §4.4): the Timestamp is the RSTR's Lifetime
// children copied literally and hashed literally.
func TestSIPEStyleTimestamp(t *testing.T) {
	p := newPool(t, Config{})
	ep := p.discover(t)
	entropy := bytes.Repeat([]byte{7}, 32)
	rstReq := webticket.BuildRST(webticket.RSTRequest{Context: "c", AppliesTo: ep.CertProvPort, ClientEntropy: entropy,
		Username: "1001", Password: "24680"})
	req, _ := http.NewRequest(http.MethodPost, ep.Pin, bytes.NewReader(rstReq))
	req.Header.Set("SOAPAction", `"`+webticket.SOAPActionIssue+`"`)
	resp, err := (&http.Client{Transport: p.tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	r, err := webticket.ParseRSTR(raw)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := r.ProofKey(entropy)
	inner := regexp.MustCompile(`<Lifetime>(.*?)</Lifetime>`).FindSubmatch(raw)[1]
	ts := []byte(`<wsu:Timestamp xmlns:wsu="` + webticket.NSWSU + `" wsu:Id="timestamp">` + string(inner) + `</wsu:Timestamp>`)
	sig, err := certprov.Signature(ts, key, r.AssertionID)
	if err != nil {
		t.Fatal(err)
	}
	tk := &webticket.Ticket{Assertion: r.Assertion, AssertionID: r.AssertionID, SIPURI: r.NameID,
		Created: r.Created, Expires: r.Expires, ProofKey: key}
	csr, _ := certprov.BuildCSR(testKey, tk.SIPURI)
	env, err := certprov.BuildEnvelope(certprov.Request{PortURL: ep.CertProvPort, MessageID: "m", RequestID: "r",
		DeviceID: "{d}", CSR: csr, Ticket: tk})
	if err != nil {
		t.Fatal(err)
	}
	env = regexp.MustCompile(`<wsu:Timestamp .*?</wsu:Timestamp>`).ReplaceAllLiteral(env, ts)
	env = regexp.MustCompile(`<Signature .*?</Signature>`).ReplaceAllLiteral(env, sig)
	if status, body := p.post(t, env); status != 200 || !strings.Contains(body, "RequestedSecurityToken") {
		t.Fatalf("status %d: %s", status, body)
	}
}
