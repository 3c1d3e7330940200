package tether

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/deskphone/deskphone/bootstrap/failure"
	"github.com/deskphone/deskphone/device/tether/frame"
	"github.com/deskphone/deskphone/device/tether/wire"
)

// Defaults for the server options.
const (
	DefaultConfirmTimeout = 60 * time.Second
	DefaultCommandTimeout = 5 * time.Minute
)

// Server serves the tether protocol on one link. Create it with NewServer
// and call Run once.
type Server struct {
	rw             io.ReadWriteCloser
	dev            Device
	log            *slog.Logger
	confirmTimeout time.Duration
	cmdTimeout     time.Duration
	now            func() time.Time
	limiter        *Limiter

	// ctrl carries answers that do not belong to the running job (hello,
	// status, cancel, busy, link errors); it is written first, so a busy
	// log stream never delays them. events carries the running job's
	// events and then its final answer, in order, and state events.
	ctrl   chan []byte
	events chan []byte

	mu      sync.Mutex
	running *job
}

type job struct {
	id     uint64
	cmd    string
	cancel context.CancelFunc
}

// Option configures a Server.
type Option func(*Server)

// WithConfirmTimeout sets how long the phone waits for OK (default 60 s).
func WithConfirmTimeout(d time.Duration) Option { return func(s *Server) { s.confirmTimeout = d } }

// WithCommandTimeout bounds each command except logs --follow (default 5 min).
func WithCommandTimeout(d time.Duration) Option { return func(s *Server) { s.cmdTimeout = d } }

// WithLimiter shares a confirmation Limiter (default: a NewLimiter per
// server).
func WithLimiter(l *Limiter) Option { return func(s *Server) { s.limiter = l } }

// WithNow sets the clock used by the Limiter (default time.Now).
func WithNow(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// NewServer returns a server for the link rw (the server owns rw and closes
// it when Run returns) and the device dev.
func NewServer(rw io.ReadWriteCloser, dev Device, logger *slog.Logger, opts ...Option) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		rw:             rw,
		dev:            dev,
		log:            logger.With("component", "tether"),
		confirmTimeout: DefaultConfirmTimeout,
		cmdTimeout:     DefaultCommandTimeout,
		now:            time.Now,
		ctrl:           make(chan []byte, 16),
		events:         make(chan []byte, 64),
	}
	for _, o := range opts {
		o(s)
	}
	if s.limiter == nil {
		s.limiter = NewLimiter()
	}
	return s
}

// Run serves requests until ctx is done (it returns ctx.Err()) or the link
// fails (it returns the read error; reopen the port and start a new Server,
// sharing the Limiter). Run closes the link before returning.
func (s *Server) Run(parent context.Context) error {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { s.writeLoop(ctx) })
	wg.Go(func() {
		<-ctx.Done()
		_ = s.rw.Close() // unblocks the reader
	})
	if s.dev.Watcher != nil {
		wg.Go(func() {
			err := s.dev.WatchStatus(ctx, func(st Status) {
				s.tryEvent(0, wire.EventState, st)
			})
			if err != nil && ctx.Err() == nil {
				s.log.Warn("status watch ended", "err", err)
			}
		})
	}
	s.log.Info("tether serving")
	err := s.readLoop(ctx, &wg)
	cancel()
	wg.Wait()
	if parent.Err() != nil {
		return parent.Err()
	}
	return err
}

func (s *Server) readLoop(ctx context.Context, wg *sync.WaitGroup) error {
	dec := frame.NewDecoder(s.rw)
	for {
		p, err := dec.Next()
		if err != nil {
			if frame.Recoverable(err) {
				s.log.Debug("bad frame", "err", err)
				s.sendError(ctx, 0, "", &wire.Error{Code: frameErrCode(err), Message: err.Error()})
				continue
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("tether: read: %w", err)
		}
		var m wire.Message
		if err := json.Unmarshal(p, &m); err != nil {
			s.log.Debug("bad message", "err", err)
			s.sendError(ctx, 0, "", &wire.Error{Code: wire.ErrBadMessage, Message: "not a JSON message"})
			continue
		}
		s.log.Debug("frame in", "id", m.ID, "type", m.Type, "cmd", m.Cmd, "bytes", len(p))
		s.dispatch(ctx, wg, &m)
	}
}

func frameErrCode(err error) string {
	switch {
	case errors.Is(err, frame.ErrBadCRC):
		return wire.ErrBadCRC
	case errors.Is(err, frame.ErrTooLarge):
		return wire.ErrTooLarge
	}
	return wire.ErrBadFrame
}

// writeLoop owns rw.Write. Control frames go before queued events so that a
// busy log stream never delays a response.
func (s *Server) writeLoop(ctx context.Context) {
	for {
		var b []byte
		select {
		case b = <-s.ctrl:
		default:
			select {
			case b = <-s.ctrl:
			case b = <-s.events:
			case <-ctx.Done():
				return
			}
		}
		if _, err := s.rw.Write(b); err != nil && ctx.Err() == nil {
			s.log.Debug("write failed", "err", err)
		}
	}
}

// encode returns the frame for m, with a leading delimiter that flushes any
// partial frame at the receiver.
func (s *Server) encode(m wire.Message) []byte {
	m.V = wire.Version
	p, err := json.Marshal(m)
	if err == nil && len(p) > frame.MaxPayload {
		err = frame.ErrTooLarge
	}
	if err != nil {
		s.log.Error("cannot encode message", "cmd", m.Cmd, "err", err)
		body, _ := json.Marshal(wire.Error{Code: wire.ErrInternal, Message: "message too large"})
		p, _ = json.Marshal(wire.Message{V: wire.Version, ID: m.ID, Type: wire.TypeError, Cmd: m.Cmd, Body: body})
	}
	b, _ := frame.Append([]byte{frame.Delimiter}, p)
	return b
}

func (s *Server) send(ctx context.Context, ch chan []byte, m wire.Message) error {
	b := s.encode(m)
	select {
	case ch <- b:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func mustJSON(v any) json.RawMessage {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("tether: marshal %T: %v", v, err)) // programmer error: bodies are plain structs
	}
	return b
}

func (s *Server) sendError(ctx context.Context, id uint64, cmd string, e *wire.Error) {
	_ = s.send(ctx, s.ctrl, wire.Message{ID: id, Type: wire.TypeError, Cmd: cmd, Body: mustJSON(e)})
}

// event sends an event bound to request id, waiting for room in the queue.
func (s *Server) event(ctx context.Context, id uint64, name string, body any) error {
	return s.send(ctx, s.events, wire.Message{ID: id, Type: wire.TypeEvent, Cmd: name, Body: mustJSON(body)})
}

// tryEvent queues an unsolicited event, dropping it when the queue is full.
func (s *Server) tryEvent(id uint64, name string, body any) {
	select {
	case s.events <- s.encode(wire.Message{ID: id, Type: wire.TypeEvent, Cmd: name, Body: mustJSON(body)}):
	default:
		s.log.Debug("event dropped", "cmd", name)
	}
}

func (s *Server) dispatch(ctx context.Context, wg *sync.WaitGroup, m *wire.Message) {
	if m.V != wire.Version {
		s.sendError(ctx, m.ID, m.Cmd, &wire.Error{Code: wire.ErrUnsupportedVersion, Message: fmt.Sprintf("protocol version %d not supported, want %d", m.V, wire.Version)})
		return
	}
	if m.Type != wire.TypeReq {
		s.sendError(ctx, m.ID, m.Cmd, &wire.Error{Code: wire.ErrBadMessage, Message: "expected a request"})
		return
	}
	switch m.Cmd {
	case wire.CmdHello:
		body, err := s.hello(m)
		s.reply(ctx, m, body, err)
		return
	case wire.CmdCancel:
		var req wire.CancelReq
		if err := decodeBody(m, &req); err != nil {
			s.reply(ctx, m, nil, err)
			return
		}
		s.mu.Lock()
		if s.running != nil && s.running.id == req.Target {
			s.running.cancel()
		}
		s.mu.Unlock()
		s.reply(ctx, m, struct{}{}, nil)
		return
	case wire.CmdStatus:
		if s.dev.Info == nil {
			s.reply(ctx, m, nil, &wire.Error{Code: wire.ErrUnsupported})
			return
		}
		s.reply(ctx, m, s.dev.Status(), nil)
		return
	}
	h, ok := handlers[m.Cmd]
	if !ok {
		s.sendError(ctx, m.ID, m.Cmd, &wire.Error{Code: wire.ErrUnknownCommand, Message: "unknown command " + quoteShort(m.Cmd)})
		return
	}
	if !h.available(s.dev) {
		s.sendError(ctx, m.ID, m.Cmd, &wire.Error{Code: wire.ErrUnsupported, Message: m.Cmd + " is not supported by this device"})
		return
	}
	s.mu.Lock()
	if r := s.running; r != nil {
		s.mu.Unlock()
		s.sendError(ctx, m.ID, m.Cmd, &wire.Error{Code: wire.ErrBusy, Message: fmt.Sprintf("command %d (%s) is running", r.id, r.cmd)})
		return
	}
	var jctx context.Context
	var jcancel context.CancelFunc
	if h.unbounded(m) {
		jctx, jcancel = context.WithCancel(ctx)
	} else {
		jctx, jcancel = context.WithTimeout(ctx, s.cmdTimeout)
	}
	s.running = &job{id: m.ID, cmd: m.Cmd, cancel: jcancel}
	s.mu.Unlock()
	s.log.Info("tether command", "cmd", m.Cmd, "id", m.ID)
	wg.Go(func() {
		defer jcancel()
		body, err := h.run(jctx, s, m)
		s.mu.Lock()
		s.running = nil
		s.mu.Unlock()
		s.replyOn(ctx, s.events, m, body, err) // after the job's own events
	})
}

func quoteShort(s string) string {
	if len(s) > 32 {
		s = s[:32] + "…"
	}
	return fmt.Sprintf("%q", s)
}

func (s *Server) hello(m *wire.Message) (any, error) {
	var req wire.HelloReq
	if err := decodeBody(m, &req); err != nil {
		return nil, err
	}
	if len(req.Versions) > 0 && !slices.Contains(req.Versions, wire.Version) {
		return nil, &wire.Error{Code: wire.ErrUnsupportedVersion, Message: fmt.Sprintf("device speaks version %d", wire.Version)}
	}
	var h Hello
	if s.dev.Info != nil {
		h = s.dev.Hello()
	}
	h.Version = wire.Version
	h.MaxPayload = frame.MaxPayload
	h.Capabilities = []string{wire.CmdHello, wire.CmdCancel}
	if s.dev.Info != nil {
		h.Capabilities = append(h.Capabilities, wire.CmdStatus)
	}
	for _, name := range handlerOrder {
		if handlers[name].available(s.dev) {
			h.Capabilities = append(h.Capabilities, name)
		}
	}
	if s.dev.Confirmer != nil {
		h.Capabilities = append(h.Capabilities, "confirm")
	}
	if s.dev.Watcher != nil {
		h.Capabilities = append(h.Capabilities, "events:state")
	}
	return h, nil
}

// reply sends the response or error for m. Errors of the Device become
// user-safe error bodies.
func (s *Server) reply(ctx context.Context, m *wire.Message, body any, err error) {
	s.replyOn(ctx, s.ctrl, m, body, err)
}

func (s *Server) replyOn(ctx context.Context, ch chan []byte, m *wire.Message, body any, err error) {
	if err == nil {
		if body == nil {
			body = struct{}{}
		}
		_ = s.send(ctx, ch, wire.Message{ID: m.ID, Type: wire.TypeResp, Cmd: m.Cmd, Body: mustJSON(body)})
		return
	}
	e := toWireError(err)
	if e.Code != wire.ErrCanceled {
		s.log.Info("tether command failed", "cmd", m.Cmd, "id", m.ID, "code", e.Code)
	}
	_ = s.send(ctx, ch, wire.Message{ID: m.ID, Type: wire.TypeError, Cmd: m.Cmd, Body: mustJSON(e)})
}

func toWireError(err error) *wire.Error {
	var we *wire.Error
	switch {
	case errors.As(err, &we):
		return we
	case errors.Is(err, context.Canceled):
		return &wire.Error{Code: wire.ErrCanceled}
	case errors.Is(err, context.DeadlineExceeded):
		return &wire.Error{Code: wire.ErrTimeout, Message: "command timed out"}
	case errors.Is(err, ErrInvalid):
		return &wire.Error{Code: wire.ErrBadRequest, Message: err.Error()}
	}
	if fe := failure.As(err); fe != nil {
		return &wire.Error{Code: wire.ErrFailed, Message: err.Error(),
			Failure: &ErrorInfo{Stage: fe.Stage, Code: string(fe.Code), Cause: fe.Detail()}}
	}
	return &wire.Error{Code: wire.ErrFailed, Message: err.Error()}
}

func decodeBody(m *wire.Message, v any) error {
	if len(m.Body) == 0 {
		return nil
	}
	if err := json.Unmarshal(m.Body, v); err != nil {
		return &wire.Error{Code: wire.ErrBadRequest, Message: "malformed body"}
	}
	return nil
}

func badRequest(format string, args ...any) error {
	return &wire.Error{Code: wire.ErrBadRequest, Message: fmt.Sprintf(format, args...)}
}

// confirm asks the phone's user to approve action for request id: it
// checks the lockout, makes a 6-digit code, sends it to the host in a
// confirm event and waits for the Confirmer.
func (s *Server) confirm(ctx context.Context, id uint64, action string) error {
	if s.dev.Confirmer == nil {
		return &wire.Error{Code: wire.ErrUnsupported, Message: "this device cannot confirm changes"}
	}
	if wait := s.limiter.Wait(s.now()); wait > 0 {
		return &wire.Error{Code: wire.ErrRateLimited, Message: "too many refused confirmations", RetryAfterMS: wait.Milliseconds()}
	}
	code, err := sixDigits()
	if err != nil {
		return err
	}
	if err := s.send(ctx, s.events, wire.Message{ID: id, Type: wire.TypeEvent, Cmd: wire.EventConfirm,
		Body: mustJSON(wire.Confirm{Action: action, Code: code, TimeoutMS: s.confirmTimeout.Milliseconds()})}); err != nil {
		return err
	}
	s.log.Info("confirmation requested", "action", action, "id", id)
	cctx, cancel := context.WithTimeout(ctx, s.confirmTimeout)
	defer cancel()
	ok, err := s.dev.Confirm(cctx, action, code)
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case err == nil && ok:
		s.limiter.Success()
		s.log.Info("confirmation accepted", "action", action, "id", id)
		return nil
	case err == nil || errors.Is(err, context.DeadlineExceeded):
		s.limiter.Fail(s.now())
		if err == nil {
			s.log.Info("confirmation denied", "action", action, "id", id)
			return &wire.Error{Code: wire.ErrConfirmationDenied, Message: "refused on the phone"}
		}
		s.log.Info("confirmation timed out", "action", action, "id", id)
		return &wire.Error{Code: wire.ErrConfirmationTimeout, Message: "nobody pressed OK on the phone"}
	}
	return fmt.Errorf("tether: confirm: %w", err)
}

func sixDigits() (string, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		return "", fmt.Errorf("tether: confirmation code: %w", err)
	}
	return fmt.Sprintf("%06d", n.Int64()), nil
}

// handler is one command that runs as the link's single job.
type handler struct {
	available func(Device) bool
	unbounded func(*wire.Message) bool
	run       func(ctx context.Context, s *Server, m *wire.Message) (any, error)
}

var handlerOrder = []string{
	wire.CmdLogs, wire.CmdDiag, wire.CmdConfigGet, wire.CmdConfigSet,
	wire.CmdRootsList, wire.CmdRootsAdd, wire.CmdRootsRemove,
	wire.CmdSignIn, wire.CmdCSR, wire.CmdInstallCert, wire.CmdReset, wire.CmdReboot,
}

func hasInfo(d Device) bool      { return d.Info != nil }
func hasConfig(d Device) bool    { return d.Config != nil }
func hasTrust(d Device) bool     { return d.Trust != nil }
func hasIdentity(d Device) bool  { return d.Identity != nil }
func bounded(*wire.Message) bool { return false }

var handlers map[string]handler

func init() {
	handlers = map[string]handler{
		wire.CmdLogs: {hasInfo, func(m *wire.Message) bool {
			var req wire.LogsReq
			return decodeBody(m, &req) == nil && req.Follow
		}, runLogs},
		wire.CmdDiag:        {hasInfo, bounded, runDiag},
		wire.CmdConfigGet:   {hasConfig, bounded, runConfigGet},
		wire.CmdConfigSet:   {hasConfig, bounded, runConfigSet},
		wire.CmdRootsList:   {hasTrust, bounded, runRootsList},
		wire.CmdRootsAdd:    {hasTrust, bounded, runRootsAdd},
		wire.CmdRootsRemove: {hasTrust, bounded, runRootsRemove},
		wire.CmdSignIn:      {hasIdentity, bounded, runSignIn},
		wire.CmdCSR:         {hasIdentity, bounded, runCSR},
		wire.CmdInstallCert: {hasIdentity, bounded, runInstallCert},
		wire.CmdReset:       {hasIdentity, bounded, runReset},
		wire.CmdReboot:      {hasIdentity, bounded, runReboot},
	}
}

// maxLogLine keeps one log event well inside a frame.
const maxLogLine = 8 << 10

func runLogs(ctx context.Context, s *Server, m *wire.Message) (any, error) {
	var req wire.LogsReq
	if err := decodeBody(m, &req); err != nil {
		return nil, err
	}
	err := s.dev.Logs(ctx, req.Follow, func(line string) error {
		if len(line) > maxLogLine {
			line = line[:maxLogLine] + "…"
		}
		return s.event(ctx, m.ID, wire.EventLog, wire.LogLine{Line: line})
	})
	return nil, err
}

func runDiag(ctx context.Context, s *Server, m *wire.Message) (any, error) {
	err := s.dev.Diag(ctx, func(report json.RawMessage) error {
		if !json.Valid(report) {
			return fmt.Errorf("tether: diag report is not JSON")
		}
		return s.event(ctx, m.ID, wire.EventDiag, report)
	})
	return nil, err
}

func validKey(key string, allowEmpty bool) error {
	if key == "" && allowEmpty || slices.Contains(wire.ConfigKeys, key) {
		return nil
	}
	return badRequest("unknown configuration key %s (known: %s)", quoteShort(key), strings.Join(wire.ConfigKeys, ", "))
}

func runConfigGet(_ context.Context, s *Server, m *wire.Message) (any, error) {
	var req wire.ConfigGetReq
	if err := decodeBody(m, &req); err != nil {
		return nil, err
	}
	if err := validKey(req.Key, true); err != nil {
		return nil, err
	}
	v, err := s.dev.ConfigGet(req.Key)
	if err != nil {
		return nil, err
	}
	return wire.ConfigGetResp{Values: v}, nil
}

func runConfigSet(ctx context.Context, s *Server, m *wire.Message) (any, error) {
	var req wire.ConfigSetReq
	if err := decodeBody(m, &req); err != nil {
		return nil, err
	}
	if err := validKey(req.Key, false); err != nil {
		return nil, err
	}
	if slices.Contains(wire.ConfirmedKeys, req.Key) {
		if err := s.confirm(ctx, m.ID, ActionConfigSet+":"+req.Key); err != nil {
			return nil, err
		}
	}
	return nil, s.dev.ConfigSet(req.Key, req.Value)
}

func runRootsList(_ context.Context, s *Server, _ *wire.Message) (any, error) {
	roots, err := s.dev.Roots()
	if err != nil {
		return nil, err
	}
	if roots == nil {
		roots = []RootInfo{}
	}
	return wire.RootsResp{Roots: roots}, nil
}

func runRootsAdd(ctx context.Context, s *Server, m *wire.Message) (any, error) {
	var req wire.RootAddReq
	if err := decodeBody(m, &req); err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(req.DER)
	if err != nil {
		return nil, badRequest("not a DER certificate")
	}
	if !cert.IsCA {
		return nil, badRequest("not a CA certificate")
	}
	if err := s.confirm(ctx, m.ID, ActionRootsAdd); err != nil {
		return nil, err
	}
	return nil, s.dev.AddRoot(req.DER)
}

func runRootsRemove(ctx context.Context, s *Server, m *wire.Message) (any, error) {
	var req wire.RootRemoveReq
	if err := decodeBody(m, &req); err != nil {
		return nil, err
	}
	fp := strings.ToLower(strings.ReplaceAll(req.Fingerprint, ":", ""))
	if b, err := hex.DecodeString(fp); err != nil || len(b) != 32 {
		return nil, badRequest("fingerprint must be a SHA-256 in hex")
	}
	if err := s.confirm(ctx, m.ID, ActionRootsRemove); err != nil {
		return nil, err
	}
	return nil, s.dev.RemoveRoot(fp)
}

func runSignIn(ctx context.Context, s *Server, m *wire.Message) (any, error) {
	var req wire.SignInReq
	if err := decodeBody(m, &req); err != nil {
		return nil, err
	}
	pin := Secret(req.PIN)
	req.PIN = ""
	if req.User == "" || pin == "" {
		return nil, badRequest("user and pin are required")
	}
	err := s.dev.SignIn(ctx, req.User, pin)
	if err == nil {
		return nil, nil
	}
	e := toWireError(err)
	scrubbed := *e // never echo the PIN, even if the device put it in an error
	if len(pin) >= 3 {
		scrubbed.Message = strings.ReplaceAll(e.Message, pin.Reveal(), "REDACTED")
		if e.Failure != nil {
			f := *e.Failure
			f.Cause = strings.ReplaceAll(f.Cause, pin.Reveal(), "REDACTED")
			scrubbed.Failure = &f
		}
	}
	return nil, &scrubbed
}

func runCSR(ctx context.Context, s *Server, m *wire.Message) (any, error) {
	var req wire.CSRReq
	if err := decodeBody(m, &req); err != nil {
		return nil, err
	}
	der, uri, err := s.dev.CSR(ctx, req.User)
	if err != nil {
		return nil, err
	}
	return wire.CSRResp{CSR: der, SIPURI: uri}, nil
}

func runInstallCert(ctx context.Context, s *Server, m *wire.Message) (any, error) {
	var req wire.InstallCertReq
	if err := decodeBody(m, &req); err != nil {
		return nil, err
	}
	if _, err := x509.ParseCertificate(req.Cert); err != nil {
		return nil, badRequest("not a DER certificate")
	}
	for i, c := range req.Chain {
		if _, err := x509.ParseCertificate(c); err != nil {
			return nil, badRequest("chain certificate %d is not DER", i)
		}
	}
	if err := s.confirm(ctx, m.ID, ActionInstallCert); err != nil {
		return nil, err
	}
	return nil, s.dev.InstallCert(ctx, req.Cert, req.Chain)
}

func runReset(ctx context.Context, s *Server, m *wire.Message) (any, error) {
	if err := s.confirm(ctx, m.ID, ActionReset); err != nil {
		return nil, err
	}
	return nil, s.dev.Reset(ctx)
}

func runReboot(ctx context.Context, s *Server, _ *wire.Message) (any, error) {
	return nil, s.dev.Reboot(ctx)
}
