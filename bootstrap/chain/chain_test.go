package chain

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/smallstep/pkcs7"
	"go.uber.org/goleak"

	"github.com/deskphone/deskphone/bootstrap/failure"
	"github.com/deskphone/deskphone/certstore"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const webHost = "pool.example.test"

var serial int64

func ecKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func issue(t testing.TB, cn string, ca bool, dns []string, notAfter time.Time, pub crypto.PublicKey, parent *x509.Certificate, parentKey crypto.Signer) *x509.Certificate {
	t.Helper()
	serial++
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             t0.Add(-24 * time.Hour),
		NotAfter:              notAfter,
		DNSNames:              dns,
		BasicConstraintsValid: true,
		IsCA:                  ca,
		KeyUsage:              x509.KeyUsageDigitalSignature,
	}
	if ca {
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// pki is a test hierarchy: root → issuing CA → web server leaf.
type pki struct {
	root, inter, leaf *x509.Certificate
	interKey, leafKey *ecdsa.PrivateKey
}

func newPKI(t testing.TB, name string) *pki {
	t.Helper()
	rootKey := ecKey(t)
	p := &pki{interKey: ecKey(t), leafKey: ecKey(t)}
	far := t0.Add(10 * 365 * 24 * time.Hour)
	p.root = issue(t, name+" Root CA", true, nil, far, &rootKey.PublicKey, nil, rootKey)
	p.inter = issue(t, name+" Issuing CA", true, nil, far, &p.interKey.PublicKey, p.root, rootKey)
	p.leaf = issue(t, webHost, false, []string{webHost}, t0.Add(180*24*time.Hour), &p.leafKey.PublicKey, p.inter, p.interKey)
	return p
}

func pkcs7Of(t testing.TB, cs ...*x509.Certificate) []byte {
	t.Helper()
	var der []byte
	for _, c := range cs {
		der = append(der, c.Raw...)
	}
	b, err := pkcs7.DegenerateCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func pemOf(cs ...*x509.Certificate) []byte {
	var b bytes.Buffer
	for _, c := range cs {
		pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.Bytes()
}

// chainServer serves body at Path over plain HTTP.
func chainServer(t *testing.T, status int, body []byte) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+Path, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/pkcs7-mime")
		w.WriteHeader(status)
		w.Write(body)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL + Path
}

// webServer is the pool's https CertProv endpoint presenting leaf (+ chain)
// with key; it records the SNI names it saw.
type webServer struct {
	srv *httptest.Server
	sni chan string
}

func newWebServer(t *testing.T, key crypto.Signer, chain ...*x509.Certificate) *webServer {
	t.Helper()
	ws := &webServer{sni: make(chan string, 16)}
	cert := &tls.Certificate{PrivateKey: key}
	for _, c := range chain {
		cert.Certificate = append(cert.Certificate, c.Raw)
	}
	ws.srv = httptest.NewUnstartedServer(http.NotFoundHandler())
	// Refused handshakes are the point of several tests; keep them quiet.
	ws.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	ws.srv.TLS = &tls.Config{GetCertificate: func(hi *tls.ClientHelloInfo) (*tls.Certificate, error) {
		select {
		case ws.sni <- hi.ServerName:
		default:
		}
		return cert, nil
	}}
	ws.srv.StartTLS()
	t.Cleanup(ws.srv.Close)
	return ws
}

// dialer sends every connection to the web server's loopback listener, as
// the agent's resolver would send pool.example.test to the pool.
func (ws *webServer) dialer(ctx context.Context, network, addr string) (net.Conn, error) {
	return (&net.Dialer{}).DialContext(ctx, network, ws.srv.Listener.Addr().String())
}

func (ws *webServer) url(host string) string {
	_, port, _ := net.SplitHostPort(ws.srv.Listener.Addr().String())
	return "https://" + net.JoinHostPort(host, port) + "/CertProv/CertProvisioningService.svc"
}

func TestEstablish(t *testing.T) {
	p := newPKI(t, "Pool")
	other := newPKI(t, "Other")
	expiredLeaf := issue(t, webHost, false, []string{webHost}, t0.Add(-time.Hour), &p.leafKey.PublicKey, p.inter, p.interKey)

	// The pool's web server sends only its leaf: the intermediate must come
	// from the download.
	web := newWebServer(t, p.leafKey, p.leaf)
	expiredWeb := newWebServer(t, p.leafKey, expiredLeaf)
	goodP7 := chainServer(t, 200, pkcs7Of(t, p.inter, p.root))
	goodPEM := chainServer(t, 200, pemOf(p.inter, p.root))
	otherP7 := chainServer(t, 200, pkcs7Of(t, other.inter, other.root))

	siteTrust := certstore.NewTrust([]*x509.Certificate{p.root}, true)
	bundledOnly := certstore.NewTrust(nil, true)

	for _, tt := range []struct {
		name       string
		chainURL   string
		web        *webServer
		host       string
		trust      *certstore.Trust
		downloaded bool // TrustDownloadedRoot
		maxBytes   int64
		wantCode   failure.Code
		want       Result
		wantWarn   bool
	}{
		{name: "good chain, pkcs7", chainURL: goodP7, web: web, trust: siteTrust,
			want: Result{Downloaded: 2, Intermediates: 1, ChainOK: true}},
		{name: "good chain, pem bundle", chainURL: goodPEM, web: web, trust: siteTrust,
			want: Result{Downloaded: 2, Intermediates: 1, ChainOK: true}},
		{name: "site root but intermediate missing from download", chainURL: chainServer(t, 200, pkcs7Of(t, p.root)), web: web, trust: siteTrust,
			wantCode: failure.ChainUntrusted, want: Result{Downloaded: 1}},
		{name: "unrelated CA downloaded", chainURL: otherP7, web: web, trust: siteTrust,
			wantCode: failure.ChainUntrusted, want: Result{Downloaded: 2, Intermediates: 1}},
		{name: "site root of another pool", chainURL: goodP7, web: web, trust: certstore.NewTrust([]*x509.Certificate{other.root}, true),
			wantCode: failure.ChainUntrusted, want: Result{Downloaded: 2, Intermediates: 1}},
		{name: "downloaded root refused by default", chainURL: goodP7, web: web, trust: bundledOnly,
			wantCode: failure.ChainUntrusted, want: Result{Downloaded: 2, Intermediates: 1}},
		{name: "downloaded root accepted in opt-in mode", chainURL: goodP7, web: web, trust: bundledOnly, downloaded: true,
			want: Result{Downloaded: 2, Intermediates: 1, Anchors: 1, ChainOK: true}, wantWarn: true},
		{name: "expired server certificate", chainURL: goodP7, web: expiredWeb, trust: siteTrust,
			wantCode: failure.ChainUntrusted, want: Result{Downloaded: 2, Intermediates: 1}},
		{name: "wrong hostname", chainURL: goodP7, web: web, host: "evil.example.test", trust: siteTrust,
			wantCode: failure.ChainUntrusted, want: Result{Downloaded: 2, Intermediates: 1}},
		{name: "garbage body", chainURL: chainServer(t, 200, []byte("<html>not a chain</html>")), web: web, trust: siteTrust,
			wantCode: failure.ChainDownload},
		{name: "empty body", chainURL: chainServer(t, 200, nil), web: web, trust: siteTrust,
			wantCode: failure.ChainDownload},
		{name: "oversized body", chainURL: chainServer(t, 200, bytes.Repeat([]byte("A"), DefaultMaxBytes+1)), web: web, trust: siteTrust,
			wantCode: failure.ChainDownload},
		{name: "over a small limit", chainURL: goodP7, web: web, trust: siteTrust, maxBytes: 100,
			wantCode: failure.ChainDownload},
		{name: "http 404", chainURL: chainServer(t, 404, nil), web: web, trust: siteTrust,
			wantCode: failure.ChainDownload},
		{name: "http 500 with a valid body", chainURL: chainServer(t, 500, pkcs7Of(t, p.inter)), web: web, trust: siteTrust,
			wantCode: failure.ChainDownload},
		{name: "not http", chainURL: "ftp://pool.example.test/chain", web: web, trust: siteTrust,
			wantCode: failure.ChainDownload},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			host := tt.host
			if host == "" {
				host = webHost
			}
			client := &http.Client{Timeout: 10 * time.Second}
			defer client.CloseIdleConnections()
			cfg := Config{
				ChainURL:            tt.chainURL,
				WebURL:              tt.web.url(host),
				Trust:               tt.trust,
				TrustDownloadedRoot: tt.downloaded,
				HTTP:                client,
				DialTLS:             tt.web.dialer,
				Now:                 func() time.Time { return t0 },
				MaxBytes:            tt.maxBytes,
			}
			trust, res, err := Establish(context.Background(), cfg, logger)
			t.Log(strings.TrimSpace(logs.String()))
			if got := failure.CodeOf(err); got != tt.wantCode {
				t.Fatalf("Establish err = %v (code %q), want code %q", err, got, tt.wantCode)
			}
			if fe := failure.As(err); err != nil && (fe == nil || fe.Stage != failure.StageChain) {
				t.Fatalf("error %v is not a chain-stage failure", err)
			}
			res.ServerSubject, res.ServerIssuer = "", ""
			if res != tt.want {
				t.Errorf("Result = %+v, want %+v", res, tt.want)
			}
			if warned := strings.Contains(logs.String(), "level=WARN"); warned != tt.wantWarn {
				t.Errorf("warning logged = %v, want %v", warned, tt.wantWarn)
			}
			if err != nil {
				if trust != nil {
					t.Error("trust returned with an error")
				}
				return
			}
			// The returned Trust serves the later stages: it verifies the
			// web leaf without the server sending its intermediate.
			if err := trust.Verify([]*x509.Certificate{p.leaf}, webHost, t0, x509.ExtKeyUsageServerAuth); err != nil {
				t.Errorf("returned trust does not verify the web leaf: %v", err)
			}
		})
	}

	// SNI carried the web host name.
	close(web.sni)
	var names []string
	for n := range web.sni {
		names = append(names, n)
	}
	if len(names) == 0 || names[0] != webHost {
		t.Errorf("web server saw SNI %q, want %q", names, webHost)
	}
}

func TestEstablishNetworkErrors(t *testing.T) {
	p := newPKI(t, "Pool")
	web := newWebServer(t, p.leafKey, p.leaf)
	good := chainServer(t, 200, pkcs7Of(t, p.inter))
	// A listener that is closed at once: connection refused.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	refuse := func(ctx context.Context, network, addr string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, dead)
	}
	trust := certstore.NewTrust([]*x509.Certificate{p.root}, false)
	for _, tt := range []struct {
		name     string
		chainURL string
		dial     func(ctx context.Context, network, addr string) (net.Conn, error)
		webURL   string
	}{
		{"chain server down", "http://" + dead + Path, web.dialer, web.url(webHost)},
		{"web server down", good, refuse, web.url(webHost)},
		{"web url not https", good, web.dialer, "http://" + webHost + "/CertProv"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			client := &http.Client{}
			defer client.CloseIdleConnections()
			_, _, err := Establish(context.Background(), Config{
				ChainURL: tt.chainURL, WebURL: tt.webURL, Trust: trust, HTTP: client, DialTLS: tt.dial,
				Now: func() time.Time { return t0 },
			}, nil)
			if got := failure.CodeOf(err); got != failure.ChainDownload {
				t.Fatalf("err = %v, want %s", err, failure.ChainDownload)
			}
		})
	}
	if _, _, err := Establish(context.Background(), Config{ChainURL: good, WebURL: web.url(webHost)}, nil); failure.CodeOf(err) != failure.Internal {
		t.Fatalf("nil Trust: err = %v, want %s", err, failure.Internal)
	}
}

func TestParseChain(t *testing.T) {
	p := newPKI(t, "Pool")
	p7 := pkcs7Of(t, p.inter, p.root)
	p7pem := pem.EncodeToMemory(&pem.Block{Type: "PKCS7", Bytes: p7})
	for _, tt := range []struct {
		name string
		in   []byte
		n    int // 0: error
	}{
		{"pkcs7 der", p7, 2},
		{"pkcs7 single", pkcs7Of(t, p.inter), 1},
		{"pem bundle", pemOf(p.inter, p.root), 2},
		{"pem bundle with whitespace", append(append([]byte("\r\n  "), pemOf(p.inter)...), "\n\n"...), 1},
		{"pem pkcs7", p7pem, 2},
		{"bare der certificates", append(bytes.Clone(p.inter.Raw), p.root.Raw...), 2},
		{"empty", nil, 0},
		{"garbage", []byte("hello"), 0},
		{"pem with trailing garbage", append(pemOf(p.inter), "junk"...), 0},
		{"pem private key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1}}), 0},
		{"pem bad certificate", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1, 2}}), 0},
		{"truncated pkcs7", p7[:len(p7)/2], 0},
		{"empty pkcs7", pkcs7Of(t), 0},
		{"too many", pemOf(bytes17(p.inter)...), 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseChain(tt.in)
			if tt.n == 0 {
				if err == nil {
					t.Fatalf("ParseChain accepted %d certificates", len(got))
				}
				return
			}
			if err != nil || len(got) != tt.n {
				t.Fatalf("ParseChain = %d certificates, %v; want %d", len(got), err, tt.n)
			}
			if !got[0].Equal(p.inter) {
				t.Error("first certificate is not the intermediate")
			}
		})
	}
}

func bytes17(c *x509.Certificate) []*x509.Certificate {
	out := make([]*x509.Certificate, maxCerts+1)
	for i := range out {
		out[i] = c
	}
	return out
}
