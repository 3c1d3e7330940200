package tether_test

import (
	"bytes"
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
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.bug.st/serial"
	"go.uber.org/goleak"

	"github.com/deskphone/deskphone/device/tether"
	"github.com/deskphone/deskphone/device/tether/frame"
	"github.com/deskphone/deskphone/device/tether/tethertest"
	"github.com/deskphone/deskphone/device/tether/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// rig is a server on the device end of a null modem and a raw frame client
// on the host end.
type rig struct {
	t      *testing.T
	modem  *tethertest.NullModem
	phone  *tethertest.Phone
	host   serial.Port
	frames chan wire.Message
	logs   *tethertest.LogBuffer
	wire   *tethertest.LogBuffer // every byte the host received
	done   chan error
	cancel context.CancelFunc
	nextID uint64
	stash  []wire.Message
}

func newRig(t *testing.T, phone *tethertest.Phone, opts ...tether.Option) *rig {
	t.Helper()
	modem, err := tethertest.NewNullModem()
	if err != nil {
		t.Fatal(err)
	}
	devPort, err := serial.Open(modem.DevicePath, &serial.Mode{BaudRate: 115200})
	if err != nil {
		modem.Close()
		t.Fatal(err)
	}
	r := &rig{t: t, modem: modem, phone: phone, logs: &tethertest.LogBuffer{}, wire: &tethertest.LogBuffer{}, done: make(chan error, 1), nextID: 100}
	logger := slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := tether.NewServer(devPort, phone.Device(), logger, opts...)
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- srv.Run(ctx) }()
	r.open()
	t.Cleanup(func() {
		cancel()
		if err := <-r.done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v, want context.Canceled", err)
		}
		r.host.Close()
		modem.Close()
		if t.Failed() {
			t.Logf("server log:\n%s", r.logs.String())
		}
	})
	return r
}

// open (re)opens the host end and starts reading frames from it.
func (r *rig) open() {
	host, err := serial.Open(r.modem.HostPath, &serial.Mode{BaudRate: 115200})
	if err != nil {
		r.t.Fatal(err)
	}
	r.host = host
	frames := make(chan wire.Message, 256)
	r.frames = frames
	go func() {
		defer close(frames)
		dec := frame.NewDecoder(teeReader{host, r.wire})
		for {
			p, err := dec.Next()
			if err != nil {
				if frame.Recoverable(err) {
					continue
				}
				return
			}
			var m wire.Message
			if json.Unmarshal(p, &m) == nil {
				frames <- m
			}
		}
	}()
}

type teeReader struct {
	r interface{ Read([]byte) (int, error) }
	w *tethertest.LogBuffer
}

func (t teeReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	t.w.Write(p[:n])
	return n, err
}

func (r *rig) raw(b []byte) {
	r.t.Helper()
	if _, err := r.host.Write(b); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) send(cmd string, body any) uint64 {
	r.t.Helper()
	r.nextID++
	var raw json.RawMessage
	if body != nil {
		raw, _ = json.Marshal(body)
	}
	p, _ := json.Marshal(wire.Message{V: 1, ID: r.nextID, Type: wire.TypeReq, Cmd: cmd, Body: raw})
	b, err := frame.Append([]byte{0}, p)
	if err != nil {
		r.t.Fatal(err)
	}
	r.raw(b)
	return r.nextID
}

func (r *rig) recv() wire.Message {
	r.t.Helper()
	select {
	case m, ok := <-r.frames:
		if !ok {
			r.t.Fatal("link closed")
		}
		return m
	case <-time.After(5 * time.Second):
		r.t.Fatal("no frame within 5s")
	}
	return wire.Message{}
}

// final returns the resp or error for id, collecting the events before it.
func (r *rig) final(id uint64) (wire.Message, []wire.Message) {
	r.t.Helper()
	var events []wire.Message
	for {
		var m wire.Message
		if i := slices.IndexFunc(r.stash, func(m wire.Message) bool { return m.ID == id }); i >= 0 {
			m = r.stash[i]
			r.stash = slices.Delete(r.stash, i, i+1)
		} else {
			m = r.recv()
		}
		switch {
		case m.ID == id && m.Type == wire.TypeEvent:
			events = append(events, m)
		case m.ID == id:
			return m, events
		case m.ID != 0:
			r.stash = append(r.stash, m) // another request's frame, kept for its final
		}
	}
}

func (r *rig) call(cmd string, body any) (wire.Message, []wire.Message) {
	r.t.Helper()
	return r.final(r.send(cmd, body))
}

func errCode(t *testing.T, m wire.Message) string {
	t.Helper()
	if m.Type != wire.TypeError {
		return ""
	}
	var e wire.Error
	if err := json.Unmarshal(m.Body, &e); err != nil {
		t.Fatal(err)
	}
	return e.Code
}

func TestHelloAndStatus(t *testing.T) {
	r := newRig(t, tethertest.NewPhone())
	m, _ := r.call(wire.CmdHello, wire.HelloReq{Versions: []int{1}, Client: "test"})
	var h wire.Hello
	if err := json.Unmarshal(m.Body, &h); err != nil || m.Type != wire.TypeResp {
		t.Fatalf("hello: %+v %v", m, err)
	}
	if h.Version != 1 || h.Model != "DP-1" || h.MaxPayload != frame.MaxPayload || !strings.Contains(strings.Join(h.Capabilities, ","), "install-cert") {
		t.Errorf("hello = %+v", h)
	}
	m, _ = r.call(wire.CmdHello, wire.HelloReq{Versions: []int{7}})
	if c := errCode(t, m); c != wire.ErrUnsupportedVersion {
		t.Errorf("hello v7: code %q", c)
	}
	m, _ = r.call(wire.CmdStatus, nil)
	var st wire.Status
	json.Unmarshal(m.Body, &st)
	if st.State != "registered" || st.SIPURI != "sip:alice@example.test" {
		t.Errorf("status = %+v", st)
	}
}

func TestRobustness(t *testing.T) {
	good, _ := frame.Encode([]byte(`{"v":1,"id":5,"type":"req","cmd":"status"}`))
	badCRC := bytes.Clone(good)
	badCRC[5] ^= 0x20
	oversized := append(bytes.Repeat([]byte{0x41}, frame.MaxEncoded+100), 0)
	notJSON, _ := frame.Encode([]byte("hello?"))
	v2, _ := frame.Encode([]byte(`{"v":2,"id":6,"type":"req","cmd":"status"}`))
	unknown, _ := frame.Encode([]byte(`{"v":1,"id":7,"type":"req","cmd":"selfdestruct"}`))
	for _, tt := range []struct {
		name  string
		input []byte
		want  string // error code (id 0 or the request's id)
	}{
		{"garbage", []byte("AT\r\nATZ\r\n\x00"), wire.ErrBadFrame},
		{"wrong crc", badCRC, wire.ErrBadCRC},
		{"partial frame", append(good[:6:6], 0), wire.ErrBadFrame},
		{"oversized", oversized, wire.ErrTooLarge},
		{"not json", notJSON, wire.ErrBadMessage},
		{"version 2", v2, wire.ErrUnsupportedVersion},
		{"unknown command", unknown, wire.ErrUnknownCommand},
	} {
		t.Run(tt.name, func(t *testing.T) {
			phone := tethertest.NewPhone()
			r := newRig(t, phone)
			r.raw(tt.input)
			m := r.recv()
			if c := errCode(t, m); c != tt.want {
				t.Fatalf("got %+v (code %q), want error %q", m, c, tt.want)
			}
			// The link recovers: the next request is answered.
			if m, _ := r.call(wire.CmdStatus, nil); m.Type != wire.TypeResp {
				t.Fatalf("status after %s: %+v", tt.name, m)
			}
			if calls := phone.Calls(); len(calls) != 0 {
				t.Errorf("device calls = %v, want none", calls)
			}
		})
	}
}

func TestHostClosedMidFrame(t *testing.T) {
	phone := tethertest.NewPhone()
	r := newRig(t, phone)
	p, _ := json.Marshal(wire.Message{V: 1, ID: 9, Type: wire.TypeReq, Cmd: wire.CmdReset})
	enc, _ := frame.Append([]byte{0}, p)
	r.raw(enc[:len(enc)/2]) // the technician pulls the cable mid-frame
	r.host.Close()
	for range r.frames {
	}
	r.open() // and plugs it back in
	m, _ := r.call(wire.CmdStatus, nil)
	if m.Type != wire.TypeResp {
		t.Fatalf("status after reconnect: %+v", m)
	}
	if calls := phone.Calls(); len(calls) != 0 {
		t.Errorf("device calls = %v, want none (half a reset is no reset)", calls)
	}
}

func TestDeviceOutputCutMidFrame(t *testing.T) {
	phone := tethertest.NewPhone()
	r := newRig(t, phone)
	r.modem.Cut(tethertest.ToHost, 20) // the response is cut after 20 bytes
	id := r.send(wire.CmdRootsList, nil)
	select {
	case m := <-r.frames:
		t.Fatalf("got %+v through a cut cable", m)
	case <-time.After(200 * time.Millisecond): // the host's response timeout
	}
	r.modem.Reconnect()
	m, _ := r.call(wire.CmdStatus, nil)
	if m.Type != wire.TypeResp || m.ID == id {
		t.Fatalf("status after reconnect: %+v", m)
	}
}

func newCA(t testing.TB) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Site Root"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

var sixDigits = regexp.MustCompile(`^[0-9]{6}$`)

func TestConfirmation(t *testing.T) {
	ca := newCA(t)
	for _, tt := range []struct {
		name    string
		fn      tethertest.ConfirmFunc
		want    string // error code, "" = success
		added   int
		timeout time.Duration
	}{
		{"accept", tethertest.Accept, "", 1, time.Minute},
		{"deny", tethertest.Deny, wire.ErrConfirmationDenied, 0, time.Minute},
		{"timeout", tethertest.NeverAnswer, wire.ErrConfirmationTimeout, 0, 50 * time.Millisecond},
	} {
		t.Run(tt.name, func(t *testing.T) {
			phone := tethertest.NewPhone()
			phone.ConfirmFn = tt.fn
			r := newRig(t, phone, tether.WithConfirmTimeout(tt.timeout))
			m, events := r.call(wire.CmdRootsAdd, wire.RootAddReq{DER: ca})
			if c := errCode(t, m); c != tt.want {
				t.Fatalf("roots-add: %+v, want code %q", m, tt.want)
			}
			if len(events) != 1 || events[0].Cmd != wire.EventConfirm {
				t.Fatalf("events = %+v, want one confirm", events)
			}
			var c wire.Confirm
			json.Unmarshal(events[0].Body, &c)
			phone.Lock()
			shown, added := phone.Codes, len(phone.AddedRoots)
			phone.Unlock()
			if !sixDigits.MatchString(c.Code) || len(shown) != 1 || shown[0] != c.Code || c.Action != tether.ActionRootsAdd {
				t.Errorf("confirm event %+v, phone showed %v", c, shown)
			}
			if added != tt.added {
				t.Errorf("roots added = %d, want %d", added, tt.added)
			}
		})
	}
}

func TestConfirmationNeededFor(t *testing.T) {
	ca := newCA(t)
	fp := strings.Repeat("ab", 32)
	for _, tt := range []struct {
		cmd     string
		body    any
		confirm bool
	}{
		{wire.CmdRootsAdd, wire.RootAddReq{DER: ca}, true},
		{wire.CmdRootsRemove, wire.RootRemoveReq{Fingerprint: fp}, true},
		{wire.CmdInstallCert, wire.InstallCertReq{Cert: ca}, true},
		{wire.CmdReset, nil, true},
		{wire.CmdConfigSet, wire.ConfigSetReq{Key: "registrar", Value: "pool2.example.test:5061"}, true},
		{wire.CmdConfigSet, wire.ConfigSetReq{Key: "certprov_url", Value: "https://x.example.test/"}, true},
		{wire.CmdConfigSet, wire.ConfigSetReq{Key: "trusted_domains", Value: "example.test"}, true},
		{wire.CmdConfigSet, wire.ConfigSetReq{Key: "language", Value: "fr"}, false},
		{wire.CmdConfigGet, nil, false},
		{wire.CmdRootsList, nil, false},
		{wire.CmdCSR, wire.CSRReq{User: "alice@example.test"}, false},
		{wire.CmdDiag, nil, false},
		{wire.CmdLogs, nil, false},
		{wire.CmdReboot, nil, false},
	} {
		t.Run(tt.cmd, func(t *testing.T) {
			phone := tethertest.NewPhone()
			phone.ConfirmFn = tethertest.Deny
			r := newRig(t, phone)
			m, events := r.call(tt.cmd, tt.body)
			gotConfirm := len(events) > 0 && events[0].Cmd == wire.EventConfirm
			if gotConfirm != tt.confirm {
				t.Errorf("confirm asked = %v, want %v (%+v)", gotConfirm, tt.confirm, m)
			}
			if tt.confirm && errCode(t, m) != wire.ErrConfirmationDenied {
				t.Errorf("denied %s answered %+v", tt.cmd, m)
			}
			if !tt.confirm && m.Type != wire.TypeResp {
				t.Errorf("%s answered %+v", tt.cmd, m)
			}
			for _, c := range phone.Calls() {
				if tt.confirm && c != "Confirm" {
					t.Errorf("denied %s still called %s", tt.cmd, c)
				}
			}
		})
	}
}

func TestConfirmationRateLimit(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	phone := tethertest.NewPhone()
	phone.ConfirmFn = tethertest.Deny
	r := newRig(t, phone, tether.WithNow(clock))
	reset := func() (string, int64) {
		m, _ := r.call(wire.CmdReset, nil)
		var e wire.Error
		json.Unmarshal(m.Body, &e)
		return e.Code, e.RetryAfterMS
	}
	for round, lockout := range []time.Duration{30 * time.Second, 60 * time.Second} {
		for i := range 3 {
			if c, _ := reset(); c != wire.ErrConfirmationDenied {
				t.Fatalf("round %d try %d: %q, want denied", round, i, c)
			}
		}
		c, after := reset()
		if c != wire.ErrRateLimited || after != lockout.Milliseconds() {
			t.Fatalf("round %d: %q retry %d ms, want rate-limited %v", round, c, after, lockout)
		}
		advance(lockout - time.Second)
		if c, _ := reset(); c != wire.ErrRateLimited {
			t.Fatalf("round %d: still locked expected, got %q", round, c)
		}
		advance(time.Second)
	}
	phone.Lock()
	shown := len(phone.Codes)
	phone.ConfirmFn = tethertest.Accept
	phone.Unlock()
	if shown != 6 {
		t.Errorf("confirm screen shown %d times, want 6 (never during lockout)", shown)
	}
	if c, _ := reset(); c != "" {
		t.Fatalf("accepted reset: %q", c)
	}
}

func TestBusyAndFollow(t *testing.T) {
	phone := tethertest.NewPhone()
	phone.FollowLines = make(chan string)
	r := newRig(t, phone)
	logsID := r.send(wire.CmdLogs, wire.LogsReq{Follow: true})
	for _, want := range phone.LogLines {
		m := r.recv()
		var l wire.LogLine
		json.Unmarshal(m.Body, &l)
		if m.ID != logsID || l.Line != want {
			t.Fatalf("got %+v, want log %q", m, want)
		}
	}
	// Another command is refused while logs --follow runs; status is served.
	if m, _ := r.call(wire.CmdConfigGet, nil); errCode(t, m) != wire.ErrBusy {
		t.Errorf("config-get during follow: %+v", m)
	}
	if m, _ := r.call(wire.CmdStatus, nil); m.Type != wire.TypeResp {
		t.Errorf("status during follow: %+v", m)
	}
	phone.FollowLines <- "sip registered"
	if m := r.recv(); m.ID != logsID || !strings.Contains(string(m.Body), "sip registered") {
		t.Errorf("follow line: %+v", m)
	}
	if m, _ := r.call(wire.CmdCancel, wire.CancelReq{Target: logsID}); m.Type != wire.TypeResp {
		t.Errorf("cancel: %+v", m)
	}
	if m, _ := r.final(logsID); errCode(t, m) != wire.ErrCanceled {
		t.Errorf("logs end: %+v", m)
	}
	if m, _ := r.call(wire.CmdConfigGet, nil); m.Type != wire.TypeResp {
		t.Errorf("config-get after cancel: %+v", m)
	}
}

func TestStateEvents(t *testing.T) {
	phone := tethertest.NewPhone()
	phone.States = make(chan tether.Status)
	r := newRig(t, phone)
	phone.States <- tether.Status{State: "cert-issued"}
	m := r.recv()
	if m.ID != 0 || m.Cmd != wire.EventState || !strings.Contains(string(m.Body), "cert-issued") {
		t.Errorf("state event = %+v", m)
	}
}

func TestPINNeverLoggedOrEchoed(t *testing.T) {
	const pin = "97531"
	phone := tethertest.NewPhone()
	r := newRig(t, phone)
	m, _ := r.call(wire.CmdSignIn, wire.SignInReq{User: "1001", PIN: pin})
	if errCode(t, m) != wire.ErrFailed {
		t.Fatalf("signin with a wrong pin: %+v", m)
	}
	var e wire.Error
	json.Unmarshal(m.Body, &e)
	if e.Failure == nil || e.Failure.Code != "E502" || e.Failure.Stage != "ticket" {
		t.Errorf("failure = %+v", e.Failure)
	}
	m, _ = r.call(wire.CmdSignIn, wire.SignInReq{User: "1001", PIN: phone.PIN})
	if m.Type != wire.TypeResp {
		t.Errorf("signin: %+v", m)
	}
	for what, s := range map[string]string{"server log": r.logs.String(), "frames to host": r.wire.String()} {
		for _, secret := range []string{pin, phone.PIN} {
			if strings.Contains(s, secret) {
				t.Errorf("%s contains the PIN %s:\n%s", what, secret, s)
			}
		}
	}
	if !strings.Contains(r.logs.String(), "cmd=signin") {
		t.Errorf("server log lacks the signin command:\n%s", r.logs.String())
	}
}

// BenchmarkPtyFrames measures one-way frame throughput device -> host over
// the pty null modem, through go.bug.st/serial on both ends.
func BenchmarkPtyFrames(b *testing.B) {
	for _, size := range []int{64, 1024, 16 << 10} {
		b.Run(byteSize(size), func(b *testing.B) {
			modem, err := tethertest.NewNullModem()
			if err != nil {
				b.Fatal(err)
			}
			defer modem.Close()
			dev, err := serial.Open(modem.DevicePath, &serial.Mode{BaudRate: 115200})
			if err != nil {
				b.Fatal(err)
			}
			defer dev.Close()
			host, err := serial.Open(modem.HostPath, &serial.Mode{BaudRate: 115200})
			if err != nil {
				b.Fatal(err)
			}
			defer host.Close()
			payload := bytes.Repeat([]byte("x"), size)
			enc, _ := frame.Encode(payload)
			n := b.N
			errc := make(chan error, 1)
			go func() {
				for range n {
					if _, err := dev.Write(enc); err != nil {
						errc <- err
						return
					}
				}
				errc <- nil
			}()
			dec := frame.NewDecoder(host)
			b.SetBytes(int64(size))
			b.ResetTimer()
			start := time.Now()
			for range n {
				if _, err := dec.Next(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)/time.Since(start).Seconds(), "frames/s")
			if err := <-errc; err != nil {
				b.Fatal(err)
			}
		})
	}
}

func byteSize(n int) string {
	if n >= 1024 {
		return strings.TrimSuffix(big.NewInt(int64(n/1024)).String(), "") + "KiB"
	}
	return big.NewInt(int64(n)).String() + "B"
}
