package tlsdsk

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"reflect"
	"sync"
	"time"
)

// engine drives one crypto/tls handshake over an in-memory net.Conn. The handshake runs in
// its own goroutine; the conn buffers what it writes, and when it blocks on Read the
// buffered bytes become the output of the current Step, and the next Step's input becomes
// readable.
type engine struct {
	isClient bool
	tls      *tls.Conn

	// onServerFlight, if set (client side), sees the first server leg before the TLS stack.
	onServerFlight func(leg []byte) error

	feed   chan []byte   // Step → Read: the next token
	need   chan struct{} // Read → Step: blocked for input, output is complete
	result chan error    // handshake goroutine → Step: Handshake returned
	closed chan struct{}

	closeOnce sync.Once
	wg        sync.WaitGroup

	mu           sync.Mutex // guards out, clientRandom, master
	out          []byte
	clientRandom []byte
	master       []byte

	in []byte // readable bytes; only the handshake goroutine touches it

	// Step-side state; Step is not called concurrently.
	started         bool
	sawServerFlight bool
	finished        bool
	err             error
	serverRandom    []byte
	keys            Keys
	peers           []*x509.Certificate
}

func newEngine(isClient bool) *engine {
	return &engine{
		isClient: isClient,
		feed:     make(chan []byte),
		need:     make(chan struct{}),
		result:   make(chan error, 1),
		closed:   make(chan struct{}),
	}
}

func (e *engine) conn() net.Conn { return (*pipeConn)(e) }

func (e *engine) side() string {
	if e.isClient {
		return "client"
	}
	return "server"
}

// step feeds in to the TLS stack and returns what it writes before it next blocks.
func (e *engine) step(ctx context.Context, in []byte) ([]byte, bool, error) {
	if e.err != nil {
		return nil, false, e.err
	}
	if e.finished {
		return nil, true, ErrDone
	}
	select {
	case <-e.closed:
		return nil, false, ErrClosed
	default:
	}
	if e.isClient && !e.sawServerFlight && len(in) > 0 {
		e.sawServerFlight = true
		if e.onServerFlight != nil {
			if err := e.onServerFlight(in); err != nil {
				return nil, false, e.fail(err)
			}
		}
		// A malformed leg leaves serverRandom nil; the TLS stack reports the error.
		e.serverRandom, _ = serverRandom(in)
	}
	if !e.started {
		e.started = true
		e.in = in
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			e.result <- e.tls.Handshake()
		}()
	} else {
		if len(in) == 0 {
			return nil, false, e.fail(ErrEmptyToken)
		}
		select {
		case e.feed <- in:
		case <-ctx.Done():
			return nil, false, e.fail(ctx.Err())
		}
	}
	select {
	case <-e.need:
		out := e.takeOut()
		if len(out) == 0 {
			return nil, false, e.fail(ErrTruncated)
		}
		if !e.isClient && e.serverRandom == nil {
			e.serverRandom, _ = serverRandom(out)
		}
		return out, false, nil
	case err := <-e.result:
		out := e.takeOut()
		if err != nil {
			return out, false, e.fail(withAlert(err, out))
		}
		if !e.isClient && e.serverRandom == nil {
			e.serverRandom, _ = serverRandom(out)
		}
		if err := e.complete(); err != nil {
			return nil, false, e.fail(err)
		}
		return out, true, nil
	case <-ctx.Done():
		return nil, false, e.fail(ctx.Err())
	}
}

// fail records a sticky error and stops the handshake goroutine.
func (e *engine) fail(err error) error {
	e.err = fmt.Errorf("tlsdsk: %s handshake: %w", e.side(), err)
	e.shutdown()
	return e.err
}

// takeOut returns the leg written so far, its plaintext handshake records
// coalesced into one (see coalesceHandshake).
func (e *engine) takeOut() []byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := e.out
	e.out = nil
	return coalesceHandshake(out)
}

// complete derives the keys after a successful handshake.
func (e *engine) complete() error {
	cs := e.tls.ConnectionState()
	e.mu.Lock()
	cr, master := e.clientRandom, e.master
	e.mu.Unlock()
	if master == nil {
		return errors.New("no master secret in key log")
	}
	if len(e.serverRandom) != 32 {
		return errors.New("no server random")
	}
	c, s := DeriveKeys(cs.Version, master, cr, e.serverRandom)
	e.keys = Keys{Client: c, Server: s, Alg: suiteAlg(cs.CipherSuite), Version: cs.Version, CipherSuite: cs.CipherSuite}
	e.peers = cs.PeerCertificates
	e.finished = true
	return nil
}

func (e *engine) getKeys() (Keys, error) {
	if !e.finished {
		return Keys{}, ErrNotDone
	}
	k := e.keys
	k.Client = bytes.Clone(k.Client)
	k.Server = bytes.Clone(k.Server)
	return k, nil
}

func (e *engine) peerCertificates() []*x509.Certificate {
	if !e.finished {
		return nil
	}
	return e.peers
}

// shutdown unblocks the handshake goroutine and waits for it to exit.
func (e *engine) shutdown() {
	e.closeOnce.Do(func() { close(e.closed) })
	e.wg.Wait()
}

// keyLog returns the KeyLogWriter that captures the TLS ≤ 1.2 master secret from the
// NSS key log line "CLIENT_RANDOM <client_random> <master_secret>".
func (e *engine) keyLog() keyLogWriter { return keyLogWriter{e} }

type keyLogWriter struct{ e *engine }

func (w keyLogWriter) Write(p []byte) (int, error) {
	f := bytes.Fields(p)
	if len(f) == 3 && string(f[0]) == "CLIENT_RANDOM" {
		cr, err1 := hex.DecodeString(string(f[1]))
		ms, err2 := hex.DecodeString(string(f[2]))
		if err1 == nil && err2 == nil {
			w.e.mu.Lock()
			w.e.clientRandom, w.e.master = cr, ms
			w.e.mu.Unlock()
		}
	}
	return len(p), nil
}

// pipeConn is the in-memory net.Conn under the TLS stack.
type pipeConn engine

func (c *pipeConn) Read(b []byte) (int, error) {
	e := (*engine)(c)
	for len(e.in) == 0 {
		select {
		case e.need <- struct{}{}:
		case <-e.closed:
			return 0, net.ErrClosed
		}
		select {
		case e.in = <-e.feed:
		case <-e.closed:
			return 0, net.ErrClosed
		}
	}
	n := copy(b, e.in)
	e.in = e.in[n:]
	return n, nil
}

func (c *pipeConn) Write(b []byte) (int, error) {
	e := (*engine)(c)
	select {
	case <-e.closed:
		return 0, net.ErrClosed
	default:
	}
	e.mu.Lock()
	e.out = append(e.out, b...)
	e.mu.Unlock()
	return len(b), nil
}

func (c *pipeConn) Close() error                     { return nil }
func (c *pipeConn) LocalAddr() net.Addr              { return pipeAddr{} }
func (c *pipeConn) RemoteAddr() net.Addr             { return pipeAddr{} }
func (c *pipeConn) SetDeadline(time.Time) error      { return nil }
func (c *pipeConn) SetReadDeadline(time.Time) error  { return nil }
func (c *pipeConn) SetWriteDeadline(time.Time) error { return nil }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "tlsdsk" }
func (pipeAddr) String() string  { return "gssapi-data" }

// withAlert wraps a handshake error with the TLS alert involved, so that
// errors.As(err, new(tls.AlertError)) works: a received alert travels inside a
// *net.OpError; an alert we sent before ChangeCipherSpec is visible in out.
func withAlert(err error, out []byte) error {
	if _, ok := errors.AsType[tls.AlertError](err); ok {
		return err
	}
	if op, ok := errors.AsType[*net.OpError](err); ok && op.Err != nil {
		if v := reflect.ValueOf(op.Err); v.Kind() == reflect.Uint8 && v.Type().PkgPath() == "crypto/tls" {
			return fmt.Errorf("%w%.0w", err, tls.AlertError(v.Uint()))
		}
	}
	if a, ok := plainAlert(out); ok {
		return fmt.Errorf("%w (sent alert %v)%.0w", err, tls.AlertError(a), tls.AlertError(a))
	}
	return err
}
