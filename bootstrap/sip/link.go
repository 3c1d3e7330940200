package sip

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	gosip "github.com/emiago/sipgo/sip"

	"github.com/deskphone/deskphone/bootstrap/discover"
)

// link is one TLS connection to one registrar with its own sipgo user agent.
//
// We dial the connection ourselves (injected resolver, TLS config from
// certstore, context deadline) and give it to sipgo through a listener that
// yields exactly this connection: sipgo's transport layer then reads it,
// parses it and keys it in its connection pool by the remote address, and
// requests whose destination is that address reuse it. Owning the net.Conn
// lets us see when it dies (lost) and drop it on a bad signature.
type link struct {
	ep     discover.Endpoint
	raddr  string // ip:port, the sipgo pool key and request destination
	conn   *watchConn
	ln     *oneConnListener
	ua     *sipgo.UserAgent
	client *sipgo.Client
	srv    *sipgo.Server

	serveDone chan struct{}
	closeOnce sync.Once
}

func dial(ctx context.Context, cfg *Config, ep discover.Endpoint, onRequest func(*gosip.Request, gosip.ServerTransaction)) (*link, error) {
	if ep.Port == 0 {
		ep.Port = DefaultPort
	}
	if net.ParseIP(ep.Host) != nil {
		// TLS needs a name (discover.Endpoint contract); refuse rather than
		// verify a certificate against an IP.
		return nil, fmt.Errorf("sip: dial %s: registrar must be an FQDN", ep.Host)
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	ips, err := cfg.Resolver.LookupIPAddr(ctx, ep.Host)
	if err != nil {
		return nil, fmt.Errorf("sip: resolve %s: %w", ep.Host, err)
	}
	tcfg := cfg.TLSConfig(ep.Host)
	if tcfg == nil {
		return nil, fmt.Errorf("sip: dial %s: no TLS configuration", ep.Host)
	}
	tcfg = tcfg.Clone()
	if tcfg.ServerName == "" {
		tcfg.ServerName = ep.Host
	}
	var d net.Dialer
	var raw net.Conn
	for _, ip := range ips {
		raw, err = d.DialContext(ctx, "tcp", net.JoinHostPort(ip.IP.String(), strconv.Itoa(ep.Port)))
		if err == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("sip: connect %s:%d: %w", ep.Host, ep.Port, err)
	}
	tc := tls.Client(raw, tcfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, fmt.Errorf("sip: tls handshake with %s: %w", ep.Host, err)
	}

	sipLog := slog.New(debugOnly{cfg.Logger.Handler()}).With("component", "sipgo")
	ua, err := sipgo.NewUA(
		sipgo.WithUserAgent(cfg.UserAgent),
		sipgo.WithUserAgentDNSResolver(cfg.Resolver),
		sipgo.WithUserAgentParser(phoneParser()),
		sipgo.WithUserAgenTLSConfig(tcfg),
		sipgo.WithUserAgentTransportLayerOptions(gosip.WithTransportLayerLogger(sipLog)),
		sipgo.WithUserAgentTransactionLayerOptions(
			gosip.WithTransactionLayerLogger(sipLog),
			gosip.WithTransactionLayerTerminateOnConnClose(),
			gosip.WithTransactionLayerUnhandledResponseHandler(func(*gosip.Response) {}),
		),
	)
	if err != nil {
		tc.Close()
		return nil, fmt.Errorf("sip: user agent: %w", err)
	}
	client, err := sipgo.NewClient(ua, sipgo.WithClientLogger(sipLog))
	if err != nil {
		ua.Close()
		tc.Close()
		return nil, fmt.Errorf("sip: client: %w", err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(sipLog))
	if err != nil {
		ua.Close()
		tc.Close()
		return nil, fmt.Errorf("sip: server: %w", err)
	}
	if onRequest != nil {
		srv.OnNoRoute(onRequest)
	}

	l := &link{
		ep:        ep,
		conn:      newWatchConn(tc),
		ua:        ua,
		client:    client,
		srv:       srv,
		serveDone: make(chan struct{}),
	}
	l.raddr = tc.RemoteAddr().String()
	l.ln = newOneConnListener(l.conn)
	go func() {
		defer close(l.serveDone)
		_ = ua.TransportLayer().ServeTLS(l.ln)
	}()
	// sipgo has registered the connection once it asks for the next one.
	select {
	case <-l.ln.adopted:
	case <-ctx.Done():
		l.close()
		return nil, fmt.Errorf("sip: adopt connection: %w", ctx.Err())
	}
	return l, nil
}

// lost is closed when the connection is gone (read error, peer close, drop).
func (l *link) lost() <-chan struct{} { return l.conn.dead }

// drop closes the connection at once (bad signature).
func (l *link) drop() { l.conn.Close() }

// keepAlive writes a CRLF CRLF ping (RFC 5626 §3.5.1).
func (l *link) keepAlive() error {
	_, err := l.conn.Write([]byte("\r\n\r\n"))
	return err
}

// close tears the link down and waits for sipgo's reader to stop.
func (l *link) close() {
	l.closeOnce.Do(func() {
		l.ln.Close()
		l.conn.Close()
		l.ua.Close()
		<-l.serveDone
		select {
		case <-l.conn.dead:
		case <-time.After(2 * time.Second):
		}
	})
}

// prepare sets the routing of a request to this link's connection.
func (l *link) prepare(req *gosip.Request) {
	req.SetTransport("TLS")
	req.SetDestination(l.raddr)
}

// watchConn is a net.Conn whose death (read error or Close) closes dead.
type watchConn struct {
	net.Conn
	dead chan struct{}
	once sync.Once
	mu   sync.Mutex // serializes our keep-alive writes with sipgo's writes
}

func newWatchConn(c net.Conn) *watchConn { return &watchConn{Conn: c, dead: make(chan struct{})} }

func (c *watchConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if err != nil {
		c.once.Do(func() { close(c.dead) })
	}
	return n, err
}

func (c *watchConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Conn.Write(b)
}

func (c *watchConn) Close() error {
	err := c.Conn.Close()
	return err
}

// oneConnListener hands out one connection, then blocks until closed.
type oneConnListener struct {
	c       net.Conn
	mu      sync.Mutex
	given   bool
	adopted chan struct{} // closed at the second Accept: sipgo holds the conn
	closed  chan struct{}
	once    sync.Once
}

func newOneConnListener(c net.Conn) *oneConnListener {
	return &oneConnListener{c: c, adopted: make(chan struct{}), closed: make(chan struct{})}
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	if !l.given {
		l.given = true
		l.mu.Unlock()
		return l.c, nil
	}
	l.mu.Unlock()
	select {
	case <-l.adopted:
	default:
		close(l.adopted)
	}
	<-l.closed
	return nil, net.ErrClosed
}

func (l *oneConnListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *oneConnListener) Addr() net.Addr { return l.c.LocalAddr() }

// debugOnly demotes every record of sipgo's chatty logger to Debug.
type debugOnly struct{ h slog.Handler }

func (d debugOnly) Enabled(ctx context.Context, _ slog.Level) bool {
	return d.h.Enabled(ctx, slog.LevelDebug)
}

func (d debugOnly) Handle(ctx context.Context, r slog.Record) error {
	r.Level = slog.LevelDebug
	return d.h.Handle(ctx, r)
}

func (d debugOnly) WithAttrs(as []slog.Attr) slog.Handler { return debugOnly{d.h.WithAttrs(as)} }
func (d debugOnly) WithGroup(n string) slog.Handler       { return debugOnly{d.h.WithGroup(n)} }
