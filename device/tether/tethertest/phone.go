// Package tethertest holds fakes for the tether server: Phone, a fake
// Device with exported state, and (on Linux) NullModem, two pty pairs joined
// like a null-modem cable so that both ends open through go.bug.st/serial.
package tethertest

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/deskphone/deskphone/bootstrap/failure"
	"github.com/deskphone/deskphone/device/tether"
)

var (
	_ tether.Info      = (*Phone)(nil)
	_ tether.Config    = (*Phone)(nil)
	_ tether.Trust     = (*Phone)(nil)
	_ tether.Identity  = (*Phone)(nil)
	_ tether.Confirmer = (*Phone)(nil)
	_ tether.Watcher   = (*Phone)(nil)
)

// ConfirmFunc answers a confirmation request.
type ConfirmFunc func(ctx context.Context, action, code string) (bool, error)

// Accept is a ConfirmFunc pressing OK.
func Accept(context.Context, string, string) (bool, error) { return true, nil }

// Deny is a ConfirmFunc pressing Back.
func Deny(context.Context, string, string) (bool, error) { return false, nil }

// NeverAnswer is a ConfirmFunc nobody answers: it waits for ctx.
func NeverAnswer(ctx context.Context, _, _ string) (bool, error) {
	<-ctx.Done()
	return false, ctx.Err()
}

// Phone is a fake device. Set the exported fields before serving; read them
// under Lock/Unlock (or with Calls) while serving.
type Phone struct {
	sync.Mutex

	HelloV  tether.Hello
	StatusV tether.Status
	// LogLines is the ring buffer; FollowLines feeds logs --follow.
	LogLines    []string
	FollowLines chan string
	// Reports are the diag stage reports.
	Reports []json.RawMessage
	Values  map[string]string
	RootSet []tether.RootInfo
	// AddedRoots records AddRoot calls.
	AddedRoots [][]byte
	// PIN is the PIN SignIn accepts for any user.
	PIN string
	// SignedIn is the last user signed in.
	SignedIn string
	CSRDER   []byte
	CSRUser  string
	// Installed records InstallCert calls (leaf certificates).
	Installed [][]byte
	Resets    int
	Reboots   int
	// Confirm answers confirmations (default Accept); Codes records the
	// codes shown.
	ConfirmFn ConfirmFunc
	Codes     []string
	// States feeds WatchStatus.
	States chan tether.Status
	calls  []string
}

// NewPhone returns a Phone with demo values.
func NewPhone() *Phone {
	return &Phone{
		HelloV: tether.Hello{Model: "DP-1", Firmware: "1.0.0-test", Serial: "SN0001",
			DeviceID: "{2f6a3a3e-6c5b-4a55-9e43-0d1f9b1e9b77}"},
		StatusV: tether.Status{State: "registered", SIPURI: "sip:alice@example.test",
			Registrar: "pool.example.test:5061", CertNotAfter: "2027-05-22T10:00:00Z", Firmware: "1.0.0-test"},
		LogLines: []string{"boot", "dhcp lease 192.0.2.10"},
		Reports:  []json.RawMessage{json.RawMessage(`{"stage":"discover","ok":true,"ms":4.2,"detail":{},"error":null}`)},
		Values: map[string]string{"registrar": "pool.example.test:5061", "certprov_url": "https://pool.example.test/CertProv/CertProvisioningService.svc",
			"sip_domain": "example.test", "trusted_domains": "example.test", "ntp_servers": "pool.example.test", "language": "en"},
		PIN:       "24680",
		CSRDER:    []byte("csr-der"),
		ConfirmFn: Accept,
	}
}

// Device returns the tether.Device backed by p (Watcher only if States is
// set).
func (p *Phone) Device() tether.Device {
	d := tether.Device{Info: p, Config: p, Trust: p, Identity: p, Confirmer: p}
	if p.States != nil {
		d.Watcher = p
	}
	return d
}

// Calls returns the methods called so far, in order.
func (p *Phone) Calls() []string {
	p.Lock()
	defer p.Unlock()
	return slices.Clone(p.calls)
}

func (p *Phone) called(name string) {
	p.Lock()
	p.calls = append(p.calls, name)
	p.Unlock()
}

// Hello implements tether.Info.
func (p *Phone) Hello() tether.Hello {
	p.Lock()
	defer p.Unlock()
	return p.HelloV
}

// Status implements tether.Info.
func (p *Phone) Status() tether.Status {
	p.Lock()
	defer p.Unlock()
	return p.StatusV
}

// Logs implements tether.Info.
func (p *Phone) Logs(ctx context.Context, follow bool, fn func(line string) error) error {
	p.called("Logs")
	p.Lock()
	lines := slices.Clone(p.LogLines)
	p.Unlock()
	for _, l := range lines {
		if err := fn(l); err != nil {
			return err
		}
	}
	if !follow {
		return nil
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case l, ok := <-p.FollowLines:
			if !ok {
				<-ctx.Done()
				return ctx.Err()
			}
			if err := fn(l); err != nil {
				return err
			}
		}
	}
}

// Diag implements tether.Info.
func (p *Phone) Diag(ctx context.Context, fn func(report json.RawMessage) error) error {
	p.called("Diag")
	p.Lock()
	reports := slices.Clone(p.Reports)
	p.Unlock()
	for _, r := range reports {
		if err := fn(r); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// ConfigGet implements tether.Config.
func (p *Phone) ConfigGet(key string) (map[string]string, error) {
	p.called("ConfigGet")
	p.Lock()
	defer p.Unlock()
	if key == "" {
		return maps.Clone(p.Values), nil
	}
	return map[string]string{key: p.Values[key]}, nil
}

// ConfigSet implements tether.Config.
func (p *Phone) ConfigSet(key, value string) error {
	p.called("ConfigSet")
	if key == "language" && !slices.Contains([]string{"en", "fr", "de"}, value) {
		return fmt.Errorf("config: language %q: %w", value, tether.ErrInvalid)
	}
	p.Lock()
	defer p.Unlock()
	if p.Values == nil {
		p.Values = map[string]string{}
	}
	p.Values[key] = value
	return nil
}

// Roots implements tether.Trust.
func (p *Phone) Roots() ([]tether.RootInfo, error) {
	p.called("Roots")
	p.Lock()
	defer p.Unlock()
	return slices.Clone(p.RootSet), nil
}

// AddRoot implements tether.Trust.
func (p *Phone) AddRoot(der []byte) error {
	p.called("AddRoot")
	p.Lock()
	defer p.Unlock()
	p.AddedRoots = append(p.AddedRoots, der)
	return nil
}

// RemoveRoot implements tether.Trust.
func (p *Phone) RemoveRoot(fp string) error {
	p.called("RemoveRoot")
	p.Lock()
	defer p.Unlock()
	i := slices.IndexFunc(p.RootSet, func(r tether.RootInfo) bool { return r.Fingerprint == fp })
	if i < 0 {
		return fmt.Errorf("trust: no root %s: %w", fp, tether.ErrInvalid)
	}
	p.RootSet = slices.Delete(p.RootSet, i, i+1)
	return nil
}

// SignIn implements tether.Identity. A wrong PIN fails like the pool does,
// with a careless error that quotes the PIN (the server must scrub it).
func (p *Phone) SignIn(_ context.Context, user string, pin tether.Secret) error {
	p.called("SignIn")
	p.Lock()
	defer p.Unlock()
	if pin.Reveal() != p.PIN {
		return failure.Errorf(failure.StageTicket, failure.PINInvalid, "pool refused user %s pin %s", user, pin.Reveal())
	}
	p.SignedIn = user
	return nil
}

// CSR implements tether.Identity.
func (p *Phone) CSR(_ context.Context, user string) ([]byte, string, error) {
	p.called("CSR")
	p.Lock()
	defer p.Unlock()
	p.CSRUser = user
	uri := "sip:" + user
	if user == "" {
		uri = p.StatusV.SIPURI
	}
	return slices.Clone(p.CSRDER), uri, nil
}

// InstallCert implements tether.Identity.
func (p *Phone) InstallCert(_ context.Context, cert []byte, _ [][]byte) error {
	p.called("InstallCert")
	p.Lock()
	defer p.Unlock()
	p.Installed = append(p.Installed, cert)
	return nil
}

// Reset implements tether.Identity.
func (p *Phone) Reset(context.Context) error {
	p.called("Reset")
	p.Lock()
	defer p.Unlock()
	p.Resets++
	return nil
}

// Reboot implements tether.Identity.
func (p *Phone) Reboot(context.Context) error {
	p.called("Reboot")
	p.Lock()
	defer p.Unlock()
	p.Reboots++
	return nil
}

// Confirm implements tether.Confirmer.
func (p *Phone) Confirm(ctx context.Context, action, code string) (bool, error) {
	p.called("Confirm")
	p.Lock()
	fn := p.ConfirmFn
	p.Codes = append(p.Codes, code)
	p.Unlock()
	if fn == nil {
		fn = Accept
	}
	return fn(ctx, action, code)
}

// WatchStatus implements tether.Watcher.
func (p *Phone) WatchStatus(ctx context.Context, fn func(tether.Status)) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case st := <-p.States:
			fn(st)
		}
	}
}
