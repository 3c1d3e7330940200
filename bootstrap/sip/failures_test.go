package sip

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/deskphone/deskphone/bootstrap/discover"
	"github.com/deskphone/deskphone/bootstrap/failure"
	"github.com/deskphone/deskphone/tools/labpool/faults"
	"github.com/deskphone/deskphone/tools/labpool/registrar"
)

func withFaults(names ...string) func(*registrar.Config) {
	return func(c *registrar.Config) {
		fs, err := faults.Parse(names)
		if err != nil {
			panic(err)
		}
		c.Faults = fs
	}
}

func TestRedirect(t *testing.T) {
	res := testDNS(t)
	home := startPool(t, "home.example.test", nil)
	down := closedPort(t)
	dir := startPool(t, "pool.example.test", func(c *registrar.Config) {
		c.Director = true
		c.Homes = map[string][]registrar.Contact{"alice@example.test": {
			{Host: "home.example.test", Port: home.ep.Port, Q: 0.3}, // backup
			{Host: "backup.example.test", Port: down, Q: 0.7},       // primary, down
		}}
	})
	s, err := Register(context.Background(), phoneConfig(t, res, nil, dir.ep))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	info := s.Info()
	if info.Registrar != home.ep || info.Redirects != 1 {
		t.Errorf("registrar %v redirects %d, want %v 1", info.Registrar, info.Redirects, home.ep)
	}
	if len(home.srv.Registrations()) != 1 || len(dir.srv.Registrations()) != 0 {
		t.Errorf("home %d dir %d registrations", len(home.srv.Registrations()), len(dir.srv.Registrations()))
	}
}

func TestRedirectLoop(t *testing.T) {
	res := testDNS(t)
	var a, b *pool
	homes := map[string][]registrar.Contact{}
	homes2 := map[string][]registrar.Contact{}
	a = startPool(t, "pool.example.test", func(c *registrar.Config) { c.Director, c.Homes = true, homes })
	b = startPool(t, "dir2.example.test", func(c *registrar.Config) { c.Director, c.Homes = true, homes2 })
	homes["alice@example.test"] = []registrar.Contact{{Host: "dir2.example.test", Port: b.ep.Port, Q: 1}}
	homes2["alice@example.test"] = []registrar.Contact{{Host: "pool.example.test", Port: a.ep.Port, Q: 1}}
	_, err := Register(context.Background(), phoneConfig(t, res, nil, a.ep))
	if code(err) != failure.RedirectLoop || !errors.Is(err, ErrRedirectLoop) {
		t.Fatalf("err = %v", err)
	}
}

func TestFailover(t *testing.T) {
	res := testDNS(t)
	good := startPool(t, "pool.example.test", nil)
	busy := startPool(t, "busy.example.test", withFaults(faults.Registrar503))
	down := discover.Endpoint{Host: "down.example.test", Port: closedPort(t)}

	t.Run("down and busy then good", func(t *testing.T) {
		s, err := Register(context.Background(), phoneConfig(t, res, nil, down, busy.ep, good.ep))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if s.Info().Registrar != good.ep {
			t.Errorf("registered at %v", s.Info().Registrar)
		}
	})
	t.Run("all busy", func(t *testing.T) {
		_, err := Register(context.Background(), phoneConfig(t, res, nil, busy.ep, busy.ep))
		var ra *RetryAfterError
		if code(err) != failure.RegistrarBusy || !errors.As(err, &ra) || ra.After != 30*time.Second {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("all down", func(t *testing.T) {
		_, err := Register(context.Background(), phoneConfig(t, res, nil, down))
		if code(err) != failure.RegistrarUnreachable {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("dropped connection", func(t *testing.T) {
		drop := startPool(t, "home.example.test", withFaults(faults.DropConnection))
		_, err := Register(context.Background(), phoneConfig(t, res, nil, drop.ep))
		if code(err) != failure.RegistrarUnreachable {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestBadRspauth(t *testing.T) {
	res := testDNS(t)
	pl := startPool(t, "pool.example.test", withFaults(faults.BadRspauth))
	logs := &logBuf{}
	_, err := Register(context.Background(), phoneConfig(t, res, logs, pl.ep))
	if code(err) != failure.BadSignature || !errors.Is(err, ErrBadSignature) {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(logs.String(), "dropping connection") {
		t.Errorf("connection not dropped")
	}
	if len(pl.srv.Registrations()) != 1 {
		t.Errorf("registrar should have accepted the (valid) client side")
	}
}

func TestReplayedCNum(t *testing.T) {
	res := testDNS(t)
	pl := startPool(t, "pool.example.test", nil)
	s, err := Register(context.Background(), phoneConfig(t, res, nil, pl.ep))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Replay cnum 1 (the final REGISTER's) on a SERVICE.
	req := s.newRequest(gosip.RequestMethod("SERVICE"), s.aor, randHex(16), 1, s.aor)
	req.SetBody(nil)
	s.currentSA().signWith(req, "Authorization", randHex(4), 1)
	r, err := s.do(context.Background(), req, false)
	if err != nil {
		t.Fatal(err)
	}
	if r.StatusCode != 403 || !strings.Contains(r.GetHeader("ms-diagnostics").Value(), "Replayed") {
		t.Fatalf("replay answered %d %v", r.StatusCode, r.GetHeader("ms-diagnostics"))
	}
	if !strings.Contains(pl.logs.String(), "replayed cnum rejected") {
		t.Errorf("registrar did not log the replay")
	}
	// The session still works with fresh numbers.
	if _, err := s.locationProfile(context.Background(), ""); err != nil {
		t.Fatalf("after replay: %v", err)
	}
}

func TestNoUsableScheme(t *testing.T) {
	res := testDNS(t)
	pl := startPool(t, "pool.example.test", func(c *registrar.Config) { c.Schemes = []string{"NTLM", "Kerberos"} })
	_, err := Register(context.Background(), phoneConfig(t, res, nil, pl.ep))
	if code(err) != failure.AuthRejected || !errors.Is(err, ErrNoScheme) {
		t.Fatalf("err = %v", err)
	}
}

func TestNeedCertificate(t *testing.T) {
	res := testDNS(t)
	p := getPKI(t)
	for _, tt := range []struct {
		name   string
		cert   tls.Certificate
		revoke bool
	}{
		{"none", tls.Certificate{}, false},
		{"expired", p.expired, false},
		{"revoked", p.alice, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pl := startPool(t, "pool.example.test", nil)
			if tt.revoke {
				pl.dir.revoked[p.alice.Leaf.SerialNumber.String()] = true
			}
			cfg := phoneConfig(t, res, nil, pl.ep)
			cfg.Certificate = tt.cert
			_, err := Register(context.Background(), cfg)
			var nc *NeedCertificateError
			if !errors.Is(err, ErrNeedCertificate) || !errors.As(err, &nc) || code(err) != failure.AuthRejected {
				t.Fatalf("err = %v", err)
			}
			if nc.STSURI != "https://pool.example.test:443/CertProv/CertProvisioningService.svc" {
				t.Errorf("sts-uri = %q", nc.STSURI)
			}
		})
	}
}

func TestRegistrarNeverAnswers(t *testing.T) {
	res := testDNS(t)
	p := getPKI(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{p.pool}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, c)
		c.Close()
	}()
	defer func() { ln.Close(); <-done }()
	cfg := phoneConfig(t, res, nil, discover.Endpoint{Host: "mute.example.test", Port: ln.Addr().(*net.TCPAddr).Port})
	cfg.Timeout = 300 * time.Millisecond
	start := time.Now()
	_, err = Register(context.Background(), cfg)
	if code(err) != failure.RegistrarUnreachable || !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestRefreshKeepsRegistration(t *testing.T) {
	res := testDNS(t)
	pl := startPool(t, "pool.example.test", func(c *registrar.Config) {
		c.Expires = 1 * time.Second
		c.KeepAlive = 1 * time.Second
	})
	s, err := Register(context.Background(), phoneConfig(t, res, nil, pl.ep))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Info().Expires != time.Second || s.Info().KeepAlive != time.Second {
		t.Fatalf("info %+v", s.Info())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 1800*time.Millisecond)
	defer cancel()
	if err := s.Run(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("run: %v", err)
	}
	regs := pl.srv.Registrations()
	if len(regs) != 1 || regs[0].Refreshes < 2 {
		t.Fatalf("registrations = %+v", regs)
	}
}

func TestRunDetectsLoss(t *testing.T) {
	res := testDNS(t)
	pl := startPool(t, "pool.example.test", nil)
	s, err := Register(context.Background(), phoneConfig(t, res, nil, pl.ep))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	errc := make(chan error, 1)
	go func() { errc <- s.Run(context.Background()) }()
	pl.srv.DropConnectionsForTest()
	select {
	case err := <-errc:
		if !errors.Is(err, ErrLost) || code(err) != failure.RegistrarUnreachable {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("run did not notice the loss")
	}
}
