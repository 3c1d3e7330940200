package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.bug.st/serial"
	"go.uber.org/goleak"

	"github.com/deskphone/deskphone/bootstrap/webticket"
	"github.com/deskphone/deskphone/device/tether"
	"github.com/deskphone/deskphone/device/tether/tethertest"
	"github.com/deskphone/deskphone/tools/tetherclient"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// servePhone serves phone on a null modem and returns the host path.
func servePhone(t *testing.T, phone *tethertest.Phone) (string, *tethertest.LogBuffer) {
	t.Helper()
	modem, err := tethertest.NewNullModem()
	if err != nil {
		t.Fatal(err)
	}
	port, err := serial.Open(modem.DevicePath, &serial.Mode{BaudRate: 115200})
	if err != nil {
		t.Fatal(err)
	}
	logs := &tethertest.LogBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- tether.NewServer(port, phone.Device(), logger, tether.WithConfirmTimeout(time.Second)).Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		modem.Close()
	})
	return modem.HostPath, logs
}

type result struct {
	code           int
	stdout, stderr string
}

func runCLI(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errb tethertest.LogBuffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return result{code, out.String(), errb.String()}
}

func writeCA(t *testing.T) string {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Site Root"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "root.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCLI(t *testing.T) {
	phone := tethertest.NewPhone()
	phone.StatusV.LastError = &tether.ErrorInfo{Stage: "register", Code: "E706", Cause: "every registrar answered 503", Fix: "try again later"}
	port, serverLog := servePhone(t, phone)
	ca := writeCA(t)
	for _, tt := range []struct {
		name      string
		stdin     string
		args      []string
		code      int
		stdout    string // substring
		stderr    string // substring
		jsonCheck func(t *testing.T, v any)
	}{
		{name: "status json", args: []string{"--json", "status"}, jsonCheck: func(t *testing.T, v any) {
			m := v.(map[string]any)
			var keys []string
			for k := range m {
				keys = append(keys, k)
			}
			want := []string{"cert_not_after", "firmware", "last_error", "registrar", "sip_uri", "state"}
			if !reflect.DeepEqual(sorted(keys), want) {
				t.Errorf("status keys = %v, want %v", sorted(keys), want)
			}
			le := m["last_error"].(map[string]any)
			if m["state"] != "registered" || le["code"] != "E706" || le["fix"] == "" {
				t.Errorf("status = %v", m)
			}
		}},
		{name: "status human", args: []string{"status"}, stdout: "Registrar:"},
		{name: "flags after command", args: []string{"status", "--json"}, stdout: `"sip_uri": "sip:alice@example.test"`},
		{name: "logs json", args: []string{"logs", "--json"}, jsonCheck: func(t *testing.T, v any) {
			if l := v.([]any); len(l) != 2 || l[0] != "boot" {
				t.Errorf("logs = %v", l)
			}
		}},
		{name: "config get", args: []string{"config", "get"}, stdout: "trusted_domains"},
		{name: "config get key json", args: []string{"--json", "config", "get", "language"}, stdout: `"language": "en"`},
		{name: "config set confirmed", args: []string{"config", "set", "registrar", "pool2.example.test:5061"}, stdout: "ok", stderr: "Confirm on the phone: press OK (code "},
		{name: "config set bad key", args: []string{"--json", "config", "set", "colour", "red"}, code: 1, stdout: `"code": "bad-request"`},
		{name: "roots add", args: []string{"roots", "add", ca}, stdout: "ok", stderr: "press OK"},
		{name: "roots list json", args: []string{"--json", "roots", "list"}, stdout: "[]"},
		{name: "signin pin stdin", stdin: "24680\n", args: []string{"signin", "--ext", "1001", "--pin-stdin"}, stdout: "registered"},
		{name: "signin pin flag warns", args: []string{"signin", "--ext", "1001", "--pin", "24680"}, stderr: "shell history"},
		{name: "signin wrong pin", stdin: "13579", args: []string{"--json", "signin", "--ext", "1001", "--pin-stdin"}, code: 1, stdout: `"code": "E502"`, stderr: "E502 at stage ticket"},
		{name: "signin no pin", args: []string{"signin", "--ext", "1001"}, code: 2, stderr: "--pin-stdin"},
		{name: "diag json", args: []string{"--json", "diag"}, jsonCheck: func(t *testing.T, v any) {
			if l := v.([]any); len(l) != 1 || l[0].(map[string]any)["stage"] != "discover" {
				t.Errorf("diag = %v", l)
			}
		}},
		{name: "diag human", args: []string{"diag"}, stdout: "discover       ok"},
		{name: "reset", args: []string{"--json", "reset"}, stdout: `"ok": true`, stderr: "Confirm on the phone"},
		{name: "reboot", args: []string{"reboot"}, stdout: "ok"},
		{name: "usage", args: []string{"frobnicate"}, code: 2, stderr: "usage:"},
		{name: "config usage", args: []string{"config", "set", "x"}, code: 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, tt.stdin, append([]string{"--port", port}, tt.args...)...)
			if r.code != tt.code || !strings.Contains(r.stdout, tt.stdout) || !strings.Contains(r.stderr, tt.stderr) {
				t.Fatalf("exit %d (want %d)\nstdout: %s\nstderr: %s", r.code, tt.code, r.stdout, r.stderr)
			}
			if contains(tt.args, "--json") {
				var v any
				if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
					t.Fatalf("--json stdout is not one JSON document: %v\n%s", err, r.stdout)
				}
				if tt.jsonCheck != nil {
					tt.jsonCheck(t, v)
				}
			}
			for _, pin := range []string{"24680", "13579"} {
				if strings.Contains(r.stdout+r.stderr, pin) {
					t.Errorf("output shows PIN %s", pin)
				}
			}
		})
	}
	for _, pin := range []string{"24680", "13579"} {
		if strings.Contains(serverLog.String(), pin) {
			t.Errorf("phone log shows PIN %s", pin)
		}
	}
}

func TestConfirmRefusedExitCode(t *testing.T) {
	phone := tethertest.NewPhone()
	phone.ConfirmFn = tethertest.Deny
	port, _ := servePhone(t, phone)
	r := runCLI(t, "", "--port", port, "--json", "reset")
	if r.code != exitConfirm || !strings.Contains(r.stdout, "confirmation-denied") || !strings.Contains(r.stderr, "refused on the phone") {
		t.Errorf("denied reset: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

func TestNoLink(t *testing.T) {
	r := runCLI(t, "", "--port", "/dev/does-not-exist", "--json", "status")
	var v map[string]map[string]any
	if r.code != exitLink || json.Unmarshal([]byte(r.stdout), &v) != nil || v["error"]["code"] != "no-link" {
		t.Errorf("missing port: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

type fakeIssuer struct {
	login, password string
	cert            []byte
}

func (f *fakeIssuer) Issue(_ context.Context, req tetherclient.IssueRequest) (*tetherclient.Issued, error) {
	return &tetherclient.Issued{Cert: f.cert}, nil
}

func TestProvision(t *testing.T) {
	phone := tethertest.NewPhone()
	port, serverLog := servePhone(t, phone)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "alice@example.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Date(2027, 5, 22, 10, 0, 0, 0, time.UTC)}
	cert, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	var got *fakeIssuer
	old := newIssuer
	newIssuer = func(_ *http.Client, _ *slog.Logger, login string, pw webticket.Secret) tetherclient.Issuer {
		got = &fakeIssuer{login: login, password: pw.Reveal(), cert: cert}
		return got
	}
	t.Cleanup(func() { newIssuer = old })
	const password = "Alice-2468"
	r := runCLI(t, password+"\n", "--port", port, "--json", "-v", "provision", "--user", "alice@example.test", "--login", `EXAMPLE\alice`, "--password-stdin")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	var res tetherclient.ProvisionResult
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || res.SIPURI != "sip:alice@example.test" || res.CertNotAfter != "2027-05-22T10:00:00Z" {
		t.Errorf("result %+v %v", res, err)
	}
	if got.login != `EXAMPLE\alice` || got.password != password {
		t.Errorf("issuer got login %q", got.login)
	}
	for _, s := range []string{"[4/6] web ticket", "Confirm on the phone"} {
		if !strings.Contains(r.stderr, s) {
			t.Errorf("stderr lacks %q:\n%s", s, r.stderr)
		}
	}
	if strings.Contains(r.stdout+r.stderr+serverLog.String(), password) {
		t.Error("the password shows in output or logs")
	}
	if r := runCLI(t, "", "--port", port, "provision", "--user", "a@b"); r.code != exitUsage {
		t.Errorf("provision without a terminal or --password-stdin: exit %d", r.code)
	}
}

func contains(l []string, s string) bool { return slices.Contains(l, s) }

func sorted(l []string) []string { return slices.Sorted(slices.Values(l)) }
