package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/deskphone/deskphone/board"
	"github.com/deskphone/deskphone/board/sim"
	"github.com/deskphone/deskphone/bootstrap/dnsdisco"
	"github.com/deskphone/deskphone/bootstrap/webticket"
	"github.com/deskphone/deskphone/device/tether/tethertest"
	"github.com/deskphone/deskphone/device/tether/wire"
	"github.com/deskphone/deskphone/tools/labpool"
	"github.com/deskphone/deskphone/tools/tetherclient"
)

// phoneOnTether runs phonesim with its tether on one end of a pty null
// modem, waiting at the sign-in screen (no keys), and returns the host end,
// the pool, the keypad and the report channel.
func phoneOnTether(t *testing.T) (string, *labpool.Pool, *sim.Keypad, func() Report) {
	t.Helper()
	nm, err := tethertest.NewNullModem()
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	t.Cleanup(func() { nm.Close() })
	pools := make(chan *labpool.Pool, 1)
	pads := make(chan *sim.Keypad, 1)
	reports := make(chan Report, 1)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() {
		// No --until: the phone keeps running after it registers, as a phone
		// on a desk does, until the test ends.
		rep, err := Simulate(ctx, Options{Pool: "embedded", State: t.TempDir(), Lang: "en",
			Timeout: 90 * time.Second, TetherPort: nm.DevicePath, LogLevel: 8, Log: os.Stderr,
			PoolHook: func(p *labpool.Pool) { pools <- p }, BoardHook: func(p *sim.Parts) { pads <- p.Keypad }})
		if err != nil && ctx.Err() == nil {
			t.Logf("simulate: %v", err)
		}
		reports <- rep
	}()
	stop := func() Report {
		cancel()
		select {
		case r := <-reports:
			return r
		case <-time.After(20 * time.Second):
			t.Fatal("phone did not stop")
		}
		return Report{}
	}
	return nm.HostPath, <-pools, <-pads, stop
}

// waitState polls the phone over the tether until it reports state.
func waitState(t *testing.T, cl *tetherclient.Client, state string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		st, err := cl.Status(ctx)
		cancel()
		if err == nil && st.State == state {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("phone never reached %s", state)
}

// TestTetherProvisionRelay is the field technician's CSR relay: the phone
// makes the key and CSR, the laptop authenticates to the pool with domain
// credentials and relays the CSR, the phone checks and installs the
// certificate (after OK on its keypad) and signs in — no PIN typed, and the
// private key never leaves the phone.
func TestTetherProvisionRelay(t *testing.T) {
	host, pool, pad, stop := phoneOnTether(t)
	roots := x509.NewCertPool()
	roots.AddCert(pool.CA.Root())
	d := &net.Dialer{Resolver: dnsdisco.Resolver(pool.Ready.DNS)}
	hc := &http.Client{Transport: &http.Transport{DialContext: d.DialContext,
		TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}}
	confirmed := make(chan string, 1)
	cl, err := tetherclient.Open(host, tetherclient.WithTimeout(60*time.Second), tetherclient.WithConfirm(func(c wire.Confirm) {
		confirmed <- c.Code
		pad.Press(board.KeyOK) // the person at the phone checks the code and presses OK
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	waitState(t, cl, "need-credentials")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	start := time.Now()
	iss := &tetherclient.PoolIssuer{HTTP: hc, Login: `EXAMPLE\alice`, Password: webticket.Secret("Alice-2468")}
	res, err := tetherclient.Provision(ctx, cl, iss, "alice@example.test", nil)
	if err != nil {
		t.Fatalf("provision: %v", err)
	}
	code := <-confirmed
	if len(code) != 6 {
		t.Fatalf("confirmation code %q", code)
	}
	t.Logf("tether provision → registered: %v (%s)", time.Since(start), res.SIPURI)
	if res.Status.State != "registered" && res.Status.State != "provisioned" {
		t.Fatalf("status after provision: %+v", res.Status)
	}
	rep := stop()
	if rep.Auth != "TLS-DSK" || rep.SIPURI != "sip:alice@example.test" {
		t.Fatalf("report %+v %+v", rep, rep.Error)
	}
	if rep.PINOKToRegisteredMS != nil {
		t.Fatal("no PIN was typed, yet the report has a PIN time")
	}
	if len(pool.Dir.Published("sip:alice@example.test")) == 0 {
		t.Fatal("pool has no published certificate")
	}
}

// TestTetherSignIn: extension + PIN sent over the tether run the normal PIN
// flow on the phone.
func TestTetherSignIn(t *testing.T) {
	host, _, _, stop := phoneOnTether(t)
	cl, err := tetherclient.Open(host, tetherclient.WithTimeout(60*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	waitState(t, cl, "need-credentials")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	start := time.Now()
	if err := cl.SignIn(ctx, "1001", "24680"); err != nil {
		t.Fatalf("signin: %v", err)
	}
	t.Logf("tether signin → registered: %v", time.Since(start))
	st, err := cl.Status(ctx)
	if err != nil || st.SIPURI != "sip:alice@example.test" {
		t.Fatalf("status %+v %v", st, err)
	}
	rep := stop()
	if rep.Auth != "TLS-DSK" {
		t.Fatalf("report %+v", rep)
	}
}
