package tetherclient

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/deskphone/deskphone/device/tether/wire"
)

// Hello negotiates the protocol version and identifies the phone.
func (c *Client) Hello(ctx context.Context, client string) (wire.Hello, error) {
	var h wire.Hello
	err := c.Do(ctx, wire.CmdHello, wire.HelloReq{Versions: []int{wire.Version}, Client: client}, &h, nil)
	return h, err
}

// Status returns the phone's state.
func (c *Client) Status(ctx context.Context) (wire.Status, error) {
	var st wire.Status
	err := c.Do(ctx, wire.CmdStatus, nil, &st, nil)
	return st, err
}

// Logs calls fn with each line of the phone's log ring buffer and, with
// follow, each new line until ctx ends (then it returns nil).
func (c *Client) Logs(ctx context.Context, follow bool, fn func(line string) error) error {
	onEvent := func(m wire.Message) error {
		if m.Cmd != wire.EventLog {
			return nil
		}
		var l wire.LogLine
		if err := json.Unmarshal(m.Body, &l); err != nil {
			return err
		}
		return fn(l.Line)
	}
	err := c.do(ctx, wire.CmdLogs, wire.LogsReq{Follow: follow}, nil, onEvent, callOpts{noIdleTimeout: follow})
	if follow && errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// Diag runs the phone's diagnostics, calling fn with each stage report.
func (c *Client) Diag(ctx context.Context, fn func(report json.RawMessage) error) error {
	return c.do(ctx, wire.CmdDiag, nil, nil, func(m wire.Message) error {
		if m.Cmd != wire.EventDiag {
			return nil
		}
		return fn(m.Body)
	}, callOpts{timeout: 2 * time.Minute})
}

// ConfigGet returns key ("" = every key).
func (c *Client) ConfigGet(ctx context.Context, key string) (map[string]string, error) {
	var r wire.ConfigGetResp
	err := c.Do(ctx, wire.CmdConfigGet, wire.ConfigGetReq{Key: key}, &r, nil)
	return r.Values, err
}

// ConfigSet sets key; registrar, certprov_url and trusted_domains need the
// confirmation key press on the phone.
func (c *Client) ConfigSet(ctx context.Context, key, value string) error {
	return c.Do(ctx, wire.CmdConfigSet, wire.ConfigSetReq{Key: key, Value: value}, nil, nil)
}

// Roots lists the phone's trusted roots.
func (c *Client) Roots(ctx context.Context) ([]wire.RootInfo, error) {
	var r wire.RootsResp
	err := c.Do(ctx, wire.CmdRootsList, nil, &r, nil)
	return r.Roots, err
}

// AddRoot adds a site root (DER); needs confirmation.
func (c *Client) AddRoot(ctx context.Context, der []byte) error {
	return c.Do(ctx, wire.CmdRootsAdd, wire.RootAddReq{DER: der}, nil, nil)
}

// RemoveRoot removes a site root by SHA-256 fingerprint; needs
// confirmation.
func (c *Client) RemoveRoot(ctx context.Context, fingerprint string) error {
	return c.Do(ctx, wire.CmdRootsRemove, wire.RootRemoveReq{Fingerprint: fingerprint}, nil, nil)
}

// SignIn runs the phone's PIN sign-in for user (extension or number).
func (c *Client) SignIn(ctx context.Context, user, pin string) error {
	return c.do(ctx, wire.CmdSignIn, wire.SignInReq{User: user, PIN: pin}, nil, nil, callOpts{timeout: 2 * time.Minute})
}

// CSR asks the phone for a PKCS#10 request for user (sign-in address).
func (c *Client) CSR(ctx context.Context, user string) (csrDER []byte, sipURI string, err error) {
	var r wire.CSRResp
	err = c.do(ctx, wire.CmdCSR, wire.CSRReq{User: user}, &r, nil, callOpts{timeout: 2 * time.Minute})
	return r.CSR, r.SIPURI, err
}

// InstallCert sends the issued certificate and chain; needs confirmation.
func (c *Client) InstallCert(ctx context.Context, cert []byte, chain [][]byte) error {
	return c.do(ctx, wire.CmdInstallCert, wire.InstallCertReq{Cert: cert, Chain: chain}, nil, nil, callOpts{timeout: 2 * time.Minute})
}

// Reset forgets the phone's identity; needs confirmation.
func (c *Client) Reset(ctx context.Context) error {
	return c.Do(ctx, wire.CmdReset, nil, nil, nil)
}

// Reboot reboots the phone.
func (c *Client) Reboot(ctx context.Context) error {
	return c.Do(ctx, wire.CmdReboot, nil, nil, nil)
}
