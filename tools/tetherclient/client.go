// Package tetherclient is the host side of the deskphone tether protocol v1
// (docs/tether-protocol.md): a Client over a serial port (go.bug.st/serial,
// or any io.ReadWriteCloser), port discovery by USB VID/PID, and the
// provisioning relay that carries the phone's CSR to the pool's CertProv
// service and the certificate back.
package tetherclient

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"go.bug.st/serial"

	"github.com/deskphone/deskphone/device/tether/frame"
	"github.com/deskphone/deskphone/device/tether/wire"
)

// ErrTimeout means the phone did not answer in time (cable unplugged,
// phone busy or rebooting).
var ErrTimeout = errors.New("tetherclient: no answer from the phone")

// ErrClosed means the link was closed or failed.
var ErrClosed = errors.New("tetherclient: link closed")

// RemoteError is an error frame from the phone (wire.Error).
type RemoteError = wire.Error

// ConfirmFunc is called when the phone shows a confirmation code and waits
// for OK.
type ConfirmFunc func(c wire.Confirm)

// Client talks to one phone. Methods may be called from several goroutines
// but the phone runs one command at a time (others get a busy error).
type Client struct {
	rw        io.ReadWriteCloser
	log       *slog.Logger
	timeout   time.Duration
	onConfirm ConfirmFunc
	onState   func(wire.Status)

	wmu sync.Mutex // serialises writes

	mu      sync.Mutex
	nextID  uint64
	pending map[uint64]*call
	err     error // set when the reader stops
	done    chan struct{}
	wg      sync.WaitGroup
}

type call struct {
	msgs chan wire.Message
	gone chan struct{} // closed when the caller stops waiting
}

// Option configures a Client.
type Option func(*Client)

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(c *Client) { c.log = l } }

// WithTimeout sets how long to wait for an answer or an event before giving
// up (default 10 s; waiting for the confirmation key press uses the phone's
// confirmation timeout instead).
func WithTimeout(d time.Duration) Option { return func(c *Client) { c.timeout = d } }

// WithConfirm sets the function told about confirmation codes.
func WithConfirm(fn ConfirmFunc) Option { return func(c *Client) { c.onConfirm = fn } }

// WithStateEvents sets the function told about state events.
func WithStateEvents(fn func(wire.Status)) Option { return func(c *Client) { c.onState = fn } }

// Mode is the serial mode used by Open. USB CDC-ACM and ptys ignore the
// speed; 115200 8N1 suits a real UART rig.
var Mode = serial.Mode{BaudRate: 115200, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit}

// Open opens the serial device at path and returns a Client on it.
func Open(path string, opts ...Option) (*Client, error) {
	mode := Mode
	port, err := serial.Open(path, &mode)
	if err != nil {
		return nil, fmt.Errorf("tetherclient: open %s: %w", path, err)
	}
	return New(port, opts...), nil
}

// New returns a Client on rw; the Client owns rw and closes it in Close.
func New(rw io.ReadWriteCloser, opts ...Option) *Client {
	var seed [4]byte
	_, _ = rand.Read(seed[:])
	c := &Client{
		rw:      rw,
		log:     slog.New(slog.DiscardHandler),
		timeout: 10 * time.Second,
		// Ids start at a random value so that a late answer meant for an
		// earlier session on the same link is not taken for ours.
		nextID:  uint64(binary.BigEndian.Uint32(seed[:]))<<8 | 1,
		pending: map[uint64]*call{},
		done:    make(chan struct{}),
	}
	for _, o := range opts {
		o(c)
	}
	c.log = c.log.With("component", "tetherclient")
	c.wg.Go(c.readLoop)
	return c
}

// Close closes the link and waits for the reader.
func (c *Client) Close() error {
	err := c.rw.Close()
	c.wg.Wait()
	return err
}

func (c *Client) readLoop() {
	dec := frame.NewDecoder(c.rw)
	var err error
	for {
		var p []byte
		p, err = dec.Next()
		if err != nil {
			if frame.Recoverable(err) {
				c.log.Debug("bad frame from phone", "err", err)
				continue
			}
			break
		}
		var m wire.Message
		if err := json.Unmarshal(p, &m); err != nil {
			c.log.Debug("bad message from phone", "err", err)
			continue
		}
		c.log.Debug("frame in", "id", m.ID, "type", m.Type, "cmd", m.Cmd, "bytes", len(p))
		if m.ID == 0 {
			c.unsolicited(m)
			continue
		}
		c.mu.Lock()
		pc := c.pending[m.ID]
		c.mu.Unlock()
		if pc == nil {
			continue // a late answer to a request we gave up on
		}
		select {
		case pc.msgs <- m:
		case <-pc.gone:
		}
	}
	c.mu.Lock()
	c.err = fmt.Errorf("%w: %w", ErrClosed, err)
	c.mu.Unlock()
	close(c.done)
}

func (c *Client) unsolicited(m wire.Message) {
	switch {
	case m.Type == wire.TypeEvent && m.Cmd == wire.EventState && c.onState != nil:
		var st wire.Status
		if json.Unmarshal(m.Body, &st) == nil {
			c.onState(st)
		}
	case m.Type == wire.TypeError:
		// The phone tells us about a bad frame, usually the remains of an
		// earlier session's partial frame; our own requests are
		// retried by the caller if they were hit.
		c.log.Debug("phone reported a link error", "body", string(m.Body))
	}
}

func (c *Client) linkErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	return ErrClosed
}

func (c *Client) write(m wire.Message) error {
	m.V = wire.Version
	p, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("tetherclient: encode %s: %w", m.Cmd, err)
	}
	b, err := frame.Append([]byte{frame.Delimiter}, p)
	if err != nil {
		return fmt.Errorf("tetherclient: %s: %w", m.Cmd, err)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if _, err := c.rw.Write(b); err != nil {
		return fmt.Errorf("tetherclient: write: %w", err)
	}
	return nil
}

// callOpts tune one request.
type callOpts struct {
	noIdleTimeout bool // logs --follow: silence is normal
	timeout       time.Duration
}

// Do sends request cmd with body, calls onEvent for each event bound to it,
// and decodes the response body into out (if not nil). An error frame is
// returned as *RemoteError. When ctx ends, Do asks the phone to cancel the
// command and returns ctx's error.
func (c *Client) Do(ctx context.Context, cmd string, body, out any, onEvent func(wire.Message) error) error {
	return c.do(ctx, cmd, body, out, onEvent, callOpts{})
}

func (c *Client) do(ctx context.Context, cmd string, body, out any, onEvent func(wire.Message) error, o callOpts) error {
	var raw json.RawMessage
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return fmt.Errorf("tetherclient: encode %s: %w", cmd, err)
		}
	}
	pc := &call{msgs: make(chan wire.Message, 16), gone: make(chan struct{})}
	c.mu.Lock()
	c.nextID++
	id := c.nextID
	c.pending[id] = pc
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
		close(pc.gone)
	}()
	if err := c.write(wire.Message{ID: id, Type: wire.TypeReq, Cmd: cmd, Body: raw}); err != nil {
		return err
	}
	idle := o.timeout
	if idle == 0 {
		idle = c.timeout
	}
	timer := time.NewTimer(idle)
	defer timer.Stop()
	if o.noIdleTimeout {
		timer.Stop()
	}
	for {
		select {
		case <-ctx.Done():
			c.cancelAndWait(id, pc)
			return ctx.Err()
		case <-timer.C:
			c.cancel(id)
			return fmt.Errorf("%w (%s after %v)", ErrTimeout, cmd, idle)
		case <-c.done:
			return c.linkErr()
		case m := <-pc.msgs:
			switch m.Type {
			case wire.TypeEvent:
				wait := idle
				if m.Cmd == wire.EventConfirm {
					var cf wire.Confirm
					if err := json.Unmarshal(m.Body, &cf); err == nil {
						if c.onConfirm != nil {
							c.onConfirm(cf)
						}
						wait = time.Duration(cf.TimeoutMS)*time.Millisecond + idle
					}
				}
				if onEvent != nil {
					if err := onEvent(m); err != nil {
						c.cancelAndWait(id, pc)
						return err
					}
				}
				if !o.noIdleTimeout {
					timer.Reset(wait)
				}
			case wire.TypeError:
				e := &RemoteError{}
				if err := json.Unmarshal(m.Body, e); err != nil || e.Code == "" {
					e = &RemoteError{Code: wire.ErrInternal, Message: "malformed error from phone"}
				}
				return e
			case wire.TypeResp:
				if out != nil && len(m.Body) > 0 {
					if err := json.Unmarshal(m.Body, out); err != nil {
						return fmt.Errorf("tetherclient: decode %s answer: %w", cmd, err)
					}
				}
				return nil
			}
		}
	}
}

// cancelAndWait cancels command id and waits (briefly) for its final frame,
// so that the phone has finished it before the caller sends the next
// command (one command at a time: otherwise the next one may get busy).
func (c *Client) cancelAndWait(id uint64, pc *call) {
	c.cancel(id)
	t := time.NewTimer(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case m := <-pc.msgs:
			if m.Type != wire.TypeEvent {
				return
			}
		case <-c.done:
			return
		case <-t.C:
			return
		}
	}
}

// cancel asks the phone to stop command id (best effort).
func (c *Client) cancel(id uint64) {
	c.mu.Lock()
	c.nextID++
	cid := c.nextID
	c.mu.Unlock()
	raw, _ := json.Marshal(wire.CancelReq{Target: id})
	if err := c.write(wire.Message{ID: cid, Type: wire.TypeReq, Cmd: wire.CmdCancel, Body: raw}); err != nil {
		c.log.Debug("cancel not sent", "err", err)
	}
}
