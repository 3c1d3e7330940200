// Package tlsdsk runs the TLS-DSK handshake of [MS-SIPAE] (client and server side) with
// Go crypto/tls over an in-memory connection whose records travel as gssapi-data tokens,
// and derives the SIP signing keys from the result (MS-SIPAE 3.2.5.1).
package tlsdsk

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/deskphone/deskphone/bootstrap/sip/sign"
)

// Errors reported by Step and Keys.
var (
	// ErrNotDone is returned by Keys before the handshake has completed.
	ErrNotDone = errors.New("tlsdsk: handshake not complete")
	// ErrDone is returned by Step after the handshake has completed.
	ErrDone = errors.New("tlsdsk: handshake already complete")
	// ErrClosed is returned by Step after Close.
	ErrClosed = errors.New("tlsdsk: closed")
	// ErrTruncated means a token ended before the TLS flight it carries was complete.
	ErrTruncated = errors.New("tlsdsk: token ends mid-flight")
	// ErrEmptyToken means a handshake leg carried no gssapi-data.
	ErrEmptyToken = errors.New("tlsdsk: empty token")
)

// CipherSuites are the suites offered and accepted: RSA key exchange with AES-CBC and
// HMAC-SHA1, the suites Lync pools accept for TLS-DSK.
var CipherSuites = []uint16{tls.TLS_RSA_WITH_AES_256_CBC_SHA, tls.TLS_RSA_WITH_AES_128_CBC_SHA}

// Keys are the TLS-DSK session keys of an established security association.
type Keys struct {
	Client      []byte   // 32 bytes, PRF output [64:96]: signs client→server messages
	Server      []byte   // 32 bytes, PRF output [96:128]: signs server→client messages (rspauth)
	Alg         sign.Alg // MAC algorithm: the MAC hash of the cipher suite (SHA1 for *_SHA)
	Version     uint16   // negotiated TLS version
	CipherSuite uint16   // negotiated cipher suite
}

// LogValue implements slog.LogValuer; keys are never logged.
func (k Keys) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("keys", "REDACTED"),
		slog.String("alg", k.Alg.String()),
		slog.String("version", tls.VersionName(k.Version)),
		slog.String("cipher_suite", tls.CipherSuiteName(k.CipherSuite)),
	)
}

// ClientConfig configures the phone side of the handshake.
type ClientConfig struct {
	Certificate tls.Certificate // CertProv user certificate and private key, sent as the client certificate
	RootCAs     *x509.CertPool  // trust anchors for the server certificate (required)
	// Intermediates are extra intermediate certificates used, with the server's own chain,
	// to build a path from the server certificate to RootCAs. Optional.
	Intermediates *x509.CertPool
	ServerName    string // name the server certificate must be valid for (the targetname FQDN)
	// MinVersion and MaxVersion bound the TLS version; both default to TLS 1.0 and may be
	// raised up to TLS 1.2.
	MinVersion, MaxVersion uint16
	Time                   func() time.Time // clock for certificate validity; nil means time.Now
	Rand                   io.Reader        // entropy source; nil means crypto/rand
}

// ServerConfig configures the registrar side of the handshake.
type ServerConfig struct {
	Certificate tls.Certificate // server certificate and key
	// VerifyClient checks the client chain (leaf first); the client must present a
	// certificate. If nil, any client certificate is accepted and the caller must check
	// PeerCertificates itself.
	VerifyClient func(chain []*x509.Certificate) error
	// MinVersion and MaxVersion bound the TLS version; both default to TLS 1.0 and may be
	// raised up to TLS 1.2.
	MinVersion, MaxVersion uint16
	Time                   func() time.Time // clock; nil means time.Now
}

// Client is the client side of one TLS-DSK handshake. Its methods must not be called
// concurrently.
type Client struct {
	e   *engine
	cfg ClientConfig
}

// NewClient returns a client that has not started its handshake.
func NewClient(cfg ClientConfig) *Client {
	c := &Client{cfg: cfg}
	c.e = newEngine(true)
	return c
}

// Step advances the handshake. in is the decoded gssapi-data of the last 401 (nil on the
// first call); out is the token for the next Authorization's gssapi-data: the ClientHello,
// then Certificate+ClientKeyExchange+CertificateVerify, ChangeCipherSpec and Finished.
// done is true once the server's ChangeCipherSpec and Finished have been consumed and
// verified; out is then empty. On a handshake failure the error wraps the TLS alert
// (errors.As with tls.AlertError) when one is known, and out may hold the alert record
// the TLS stack emitted.
func (c *Client) Step(ctx context.Context, in []byte) (out []byte, done bool, err error) {
	if !c.e.started {
		if len(in) > 0 {
			return nil, false, errors.New("tlsdsk: client step: first step takes no input")
		}
		cfg, err := c.tlsConfig()
		if err != nil {
			return nil, false, fmt.Errorf("tlsdsk: client step: %w", err)
		}
		c.e.tls = tls.Client(c.e.conn(), cfg)
	}
	return c.e.step(ctx, in)
}

func (c *Client) tlsConfig() (*tls.Config, error) {
	minV, maxV, err := versions(c.cfg.MinVersion, c.cfg.MaxVersion)
	if err != nil {
		return nil, err
	}
	if c.cfg.RootCAs == nil {
		return nil, errors.New("no root CAs")
	}
	if c.cfg.ServerName == "" {
		return nil, errors.New("no server name")
	}
	cert := c.cfg.Certificate
	cfg := &tls.Config{
		Rand:       c.cfg.Rand,
		Time:       c.cfg.Time,
		RootCAs:    c.cfg.RootCAs,
		ServerName: c.cfg.ServerName,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return &cert, nil
		},
		CipherSuites:           CipherSuites,
		MinVersion:             minV,
		MaxVersion:             maxV,
		SessionTicketsDisabled: true,
		Renegotiation:          tls.RenegotiateNever,
		KeyLogWriter:           c.e.keyLog(),
	}
	if c.cfg.Intermediates != nil {
		// Go verifies only with the chain the server sent. Path building through extra
		// intermediates happens in prepareClientRoots once the server Certificate is
		// seen; VerifyConnection then re-checks the chain against the real roots.
		c.e.onServerFlight = func(leg []byte) error { return c.prepareRoots(cfg, leg) }
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			_, err := c.verifyChain(certsOf(cs.PeerCertificates))
			return err
		}
	}
	return cfg, nil
}

// Keys returns the session keys once the handshake is done.
func (c *Client) Keys() (Keys, error) { return c.e.getKeys() }

// PeerCertificates returns the server's certificate chain once the handshake is done,
// nil before.
func (c *Client) PeerCertificates() []*x509.Certificate { return c.e.peerCertificates() }

// Close stops the handshake goroutine and waits for it to exit. It is safe to call more
// than once.
func (c *Client) Close() { c.e.shutdown() }

// Server is the server side of one TLS-DSK handshake. Its methods must not be called
// concurrently.
type Server struct {
	e   *engine
	cfg ServerConfig
}

// NewServer returns a server waiting for the ClientHello.
func NewServer(cfg ServerConfig) *Server {
	return &Server{cfg: cfg, e: newEngine(false)}
}

// Step advances the handshake with the decoded gssapi-data of the client's Authorization.
// The first call takes the ClientHello and returns ServerHello…ServerHelloDone; the second
// takes the client's Certificate…Finished and returns ChangeCipherSpec+Finished with
// done = true. On failure the error wraps the TLS alert when one is known, and out may
// hold the alert record.
func (s *Server) Step(ctx context.Context, in []byte) (out []byte, done bool, err error) {
	if !s.e.started {
		if len(in) == 0 {
			return nil, false, fmt.Errorf("tlsdsk: server step: %w", ErrEmptyToken)
		}
		minV, maxV, err := versions(s.cfg.MinVersion, s.cfg.MaxVersion)
		if err != nil {
			return nil, false, fmt.Errorf("tlsdsk: server step: %w", err)
		}
		cert := s.cfg.Certificate
		verify := s.cfg.VerifyClient
		cfg := &tls.Config{
			Time:                   s.cfg.Time,
			Certificates:           []tls.Certificate{cert},
			ClientAuth:             tls.RequireAnyClientCert,
			CipherSuites:           CipherSuites,
			MinVersion:             minV,
			MaxVersion:             maxV,
			SessionTicketsDisabled: true,
			KeyLogWriter:           s.e.keyLog(),
		}
		if verify != nil {
			cfg.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
				chain := make([]*x509.Certificate, 0, len(raw))
				for _, r := range raw {
					c, err := x509.ParseCertificate(r)
					if err != nil {
						return fmt.Errorf("parse client certificate: %w", err)
					}
					chain = append(chain, c)
				}
				return verify(chain)
			}
		}
		s.e.tls = tls.Server(s.e.conn(), cfg)
	}
	return s.e.step(ctx, in)
}

// Keys returns the session keys once the handshake is done.
func (s *Server) Keys() (Keys, error) { return s.e.getKeys() }

// PeerCertificates returns the client's certificate chain once the handshake is done,
// nil before.
func (s *Server) PeerCertificates() []*x509.Certificate { return s.e.peerCertificates() }

// Close stops the handshake goroutine and waits for it to exit. It is safe to call more
// than once.
func (s *Server) Close() { s.e.shutdown() }

func versions(minV, maxV uint16) (uint16, uint16, error) {
	if minV == 0 {
		minV = tls.VersionTLS10
	}
	if maxV == 0 {
		maxV = tls.VersionTLS10
	}
	if minV < tls.VersionTLS10 || maxV > tls.VersionTLS12 || minV > maxV {
		return 0, 0, fmt.Errorf("unsupported version range %#04x-%#04x", minV, maxV)
	}
	return minV, maxV, nil
}

// suiteAlg maps a cipher suite to the TLS-DSK MAC algorithm (its record MAC hash).
func suiteAlg(id uint16) sign.Alg {
	if strings.HasSuffix(tls.CipherSuiteName(id), "_MD5") {
		return sign.MD5
	}
	return sign.SHA1
}
