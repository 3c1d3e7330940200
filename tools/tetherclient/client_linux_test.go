package tetherclient

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"log/slog"
	"math/big"
	"strings"
	"testing"
	"time"

	"go.bug.st/serial"
	"go.uber.org/goleak"

	"github.com/deskphone/deskphone/device/tether"
	"github.com/deskphone/deskphone/device/tether/tethertest"
	"github.com/deskphone/deskphone/device/tether/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type env struct {
	phone *tethertest.Phone
	modem *tethertest.NullModem
	c     *Client
	logs  *tethertest.LogBuffer
	codes chan wire.Confirm
}

// newEnv serves phone on the device end of a null modem and opens a Client
// on the host end, both through go.bug.st/serial.
func newEnv(t *testing.T, phone *tethertest.Phone, copts ...Option) *env {
	t.Helper()
	modem, err := tethertest.NewNullModem()
	if err != nil {
		t.Fatal(err)
	}
	port, err := serial.Open(modem.DevicePath, &serial.Mode{BaudRate: 115200})
	if err != nil {
		modem.Close()
		t.Fatal(err)
	}
	e := &env{phone: phone, modem: modem, logs: &tethertest.LogBuffer{}, codes: make(chan wire.Confirm, 8)}
	logger := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- tether.NewServer(port, phone.Device(), logger, tether.WithConfirmTimeout(2*time.Second)).Run(ctx)
	}()
	opts := append([]Option{WithLogger(logger), WithTimeout(2 * time.Second), WithConfirm(func(c wire.Confirm) { e.codes <- c })}, copts...)
	e.c, err = Open(modem.HostPath, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.c.Close()
		cancel()
		<-done
		modem.Close()
		if t.Failed() {
			t.Logf("logs:\n%s", e.logs.String())
		}
	})
	return e
}

func newCert(t testing.TB, ca bool) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "alice@example.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Date(2027, 5, 22, 10, 0, 0, 0, time.UTC),
		IsCA: ca, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestEveryCommand(t *testing.T) {
	phone := tethertest.NewPhone()
	phone.RootSet = []tether.RootInfo{{Fingerprint: strings.Repeat("0f", 32), Subject: "CN=Pool CA", NotAfter: "2030-01-01T00:00:00Z", Source: "site"}}
	e := newEnv(t, phone)
	ctx := context.Background()
	ca := newCert(t, true)

	h, err := e.c.Hello(ctx, "test")
	if err != nil || h.Serial != "SN0001" || h.Version != 1 {
		t.Fatalf("Hello = %+v, %v", h, err)
	}
	st, err := e.c.Status(ctx)
	if err != nil || st.State != "registered" || st.LastError != nil {
		t.Fatalf("Status = %+v, %v", st, err)
	}
	var lines []string
	if err := e.c.Logs(ctx, false, func(l string) error { lines = append(lines, l); return nil }); err != nil || len(lines) != 2 {
		t.Errorf("Logs = %q, %v", lines, err)
	}
	var reports []json.RawMessage
	if err := e.c.Diag(ctx, func(r json.RawMessage) error { reports = append(reports, r); return nil }); err != nil || len(reports) != 1 {
		t.Errorf("Diag = %s, %v", reports, err)
	}
	if v, err := e.c.ConfigGet(ctx, ""); err != nil || v["sip_domain"] != "example.test" || len(v) != 6 {
		t.Errorf("ConfigGet all = %v, %v", v, err)
	}
	if v, err := e.c.ConfigGet(ctx, "language"); err != nil || v["language"] != "en" {
		t.Errorf("ConfigGet language = %v, %v", v, err)
	}
	if err := e.c.ConfigSet(ctx, "language", "de"); err != nil {
		t.Errorf("ConfigSet language: %v", err)
	}
	var re *RemoteError
	if err := e.c.ConfigSet(ctx, "language", "xx"); !errors.As(err, &re) || re.Code != wire.ErrBadRequest {
		t.Errorf("ConfigSet language xx = %v, want bad-request", err)
	}
	if err := e.c.ConfigSet(ctx, "colour", "red"); !errors.As(err, &re) || re.Code != wire.ErrBadRequest {
		t.Errorf("ConfigSet colour = %v, want bad-request", err)
	}
	if err := e.c.ConfigSet(ctx, "registrar", "pool2.example.test:5061"); err != nil {
		t.Errorf("ConfigSet registrar: %v", err)
	}
	if c := <-e.codes; c.Action != "config-set:registrar" || len(c.Code) != 6 {
		t.Errorf("confirm = %+v", c)
	}
	if roots, err := e.c.Roots(ctx); err != nil || len(roots) != 1 || roots[0].Subject != "CN=Pool CA" {
		t.Errorf("Roots = %+v, %v", roots, err)
	}
	if err := e.c.AddRoot(ctx, ca); err != nil {
		t.Errorf("AddRoot: %v", err)
	}
	<-e.codes
	if err := e.c.AddRoot(ctx, newCert(t, false)); !errors.As(err, &re) || re.Code != wire.ErrBadRequest {
		t.Errorf("AddRoot(leaf) = %v, want bad-request", err)
	}
	if err := e.c.RemoveRoot(ctx, strings.Repeat("0f", 32)); err != nil {
		t.Errorf("RemoveRoot: %v", err)
	}
	<-e.codes
	if err := e.c.SignIn(ctx, "1001", "24680"); err != nil {
		t.Errorf("SignIn: %v", err)
	}
	if err := e.c.SignIn(ctx, "1001", "11111"); !errors.As(err, &re) || re.Failure == nil || re.Failure.Code != "E502" {
		t.Errorf("SignIn wrong PIN = %v", err)
	}
	if csr, uri, err := e.c.CSR(ctx, "alice@example.test"); err != nil || string(csr) != "csr-der" || uri != "sip:alice@example.test" {
		t.Errorf("CSR = %q %q %v", csr, uri, err)
	}
	if err := e.c.InstallCert(ctx, newCert(t, false), [][]byte{ca}); err != nil {
		t.Errorf("InstallCert: %v", err)
	}
	<-e.codes
	if err := e.c.Reset(ctx); err != nil {
		t.Errorf("Reset: %v", err)
	}
	<-e.codes
	if err := e.c.Reboot(ctx); err != nil {
		t.Errorf("Reboot: %v", err)
	}
	phone.Lock()
	defer phone.Unlock()
	if phone.Values["registrar"] != "pool2.example.test:5061" || phone.Values["language"] != "de" || len(phone.AddedRoots) != 1 ||
		len(phone.RootSet) != 0 || phone.SignedIn != "1001" || len(phone.Installed) != 1 || phone.Resets != 1 || phone.Reboots != 1 {
		t.Errorf("phone state after commands: %+v", phone)
	}
	for _, pin := range []string{"24680", "11111"} {
		if strings.Contains(e.logs.String(), pin) {
			t.Errorf("logs contain PIN %s", pin)
		}
	}
}

func TestLogsFollowAndCancel(t *testing.T) {
	phone := tethertest.NewPhone()
	phone.FollowLines = make(chan string)
	e := newEnv(t, phone)
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan string, 8)
	done := make(chan error, 1)
	go func() { done <- e.c.Logs(ctx, true, func(l string) error { got <- l; return nil }) }()
	<-got
	<-got
	phone.FollowLines <- "new line"
	if l := <-got; l != "new line" {
		t.Errorf("followed %q", l)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Logs follow ended with %v", err)
	}
	// The phone stopped the follow: the next command is not busy.
	if _, err := e.c.ConfigGet(context.Background(), "language"); err != nil {
		t.Errorf("after follow: %v", err)
	}
}

func TestConfirmDeniedAndTimeout(t *testing.T) {
	phone := tethertest.NewPhone()
	phone.ConfirmFn = tethertest.Deny
	e := newEnv(t, phone)
	var re *RemoteError
	if err := e.c.Reset(context.Background()); !errors.As(err, &re) || re.Code != wire.ErrConfirmationDenied {
		t.Errorf("Reset denied = %v", err)
	}
	phone.Lock()
	phone.ConfirmFn = tethertest.NeverAnswer
	phone.Unlock()
	// The client waits past its own 2 s idle timeout: the confirm event
	// extends the wait to the phone's confirmation timeout.
	if err := e.c.Reset(context.Background()); !errors.As(err, &re) || re.Code != wire.ErrConfirmationTimeout {
		t.Errorf("Reset unanswered = %v", err)
	}
}

func TestCableCutThenRecovered(t *testing.T) {
	phone := tethertest.NewPhone()
	e := newEnv(t, phone, WithTimeout(300*time.Millisecond))
	ctx := context.Background()
	e.modem.Cut(tethertest.ToDevice, 15) // the request is cut mid-frame
	if err := e.c.Reset(ctx); !errors.Is(err, ErrTimeout) {
		t.Fatalf("Reset over a cut cable = %v, want ErrTimeout", err)
	}
	e.modem.Reconnect()
	if _, err := e.c.Status(ctx); err != nil {
		t.Fatalf("Status after reconnect: %v", err)
	}
	if phone.Resets != 0 {
		t.Errorf("phone reset by a partial frame")
	}
	e.modem.Cut(tethertest.ToHost, 30) // the answer is cut mid-frame
	if _, err := e.c.Roots(ctx); !errors.Is(err, ErrTimeout) {
		t.Fatalf("Roots with a cut answer = %v, want ErrTimeout", err)
	}
	e.modem.Reconnect()
	if _, err := e.c.Status(ctx); err != nil {
		t.Fatalf("Status after second reconnect: %v", err)
	}
}

func TestCloseDuringCall(t *testing.T) {
	phone := tethertest.NewPhone()
	phone.ConfirmFn = tethertest.NeverAnswer
	e := newEnv(t, phone)
	done := make(chan error, 1)
	go func() { done <- e.c.Reset(context.Background()) }()
	<-e.codes
	e.c.Close()
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Errorf("Reset on a closed link = %v, want ErrClosed", err)
	}
}

type fakeIssuer struct {
	got  IssueRequest
	cert []byte
	err  error
}

func (f *fakeIssuer) Issue(_ context.Context, req IssueRequest) (*Issued, error) {
	f.got = req
	if f.err != nil {
		return nil, f.err
	}
	return &Issued{Cert: f.cert}, nil
}

func TestProvision(t *testing.T) {
	phone := tethertest.NewPhone()
	e := newEnv(t, phone)
	iss := &fakeIssuer{cert: newCert(t, false)}
	var steps []Step
	res, err := Provision(context.Background(), e.c, iss, "alice@example.test", func(s Step) { steps = append(steps, s) })
	if err != nil {
		t.Fatal(err)
	}
	if iss.got.SIPURI != "sip:alice@example.test" || iss.got.DeviceID != phone.HelloV.DeviceID || string(iss.got.CSR) != "csr-der" ||
		!strings.HasPrefix(iss.got.CertProvURL, "https://pool.example.test/") {
		t.Errorf("issue request = %+v", iss.got)
	}
	if res.CertNotAfter != "2027-05-22T10:00:00Z" || res.Status.State != "registered" {
		t.Errorf("result = %+v", res)
	}
	if len(steps) != 6 || steps[3] != StepIssue {
		t.Errorf("steps = %v", steps)
	}
	if len(phone.Installed) != 1 || phone.CSRUser != "alice@example.test" {
		t.Errorf("phone: installed %d, csr user %q", len(phone.Installed), phone.CSRUser)
	}
	iss.err = errors.New("webticket: 401")
	_, err = Provision(context.Background(), e.c, iss, "alice@example.test", nil)
	var pe *ProvisionError
	if !errors.As(err, &pe) || pe.Step != StepIssue {
		t.Errorf("failing issuer: %v", err)
	}
}

// BenchmarkStatusRoundTrip measures request/response latency through the
// client, the pty null modem and the server.
func BenchmarkStatusRoundTrip(b *testing.B) {
	modem, err := tethertest.NewNullModem()
	if err != nil {
		b.Fatal(err)
	}
	defer modem.Close()
	port, err := serial.Open(modem.DevicePath, &serial.Mode{BaudRate: 115200})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tether.NewServer(port, tethertest.NewPhone().Device(), nil).Run(ctx) }()
	defer func() { cancel(); <-done }()
	c, err := Open(modem.HostPath)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Status(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
