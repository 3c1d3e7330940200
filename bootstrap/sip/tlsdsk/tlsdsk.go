// Package tlsdsk runs the TLS-DSK handshake of [MS-SIPAE] (client and server side) with
// Go crypto/tls over an in-memory connection whose records travel as gssapi-data tokens,
// and derives the SIP signing keys from the result (MS-SIPAE 3.2.5.1).
package tlsdsk

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"time"

	"github.com/deskphone/deskphone/bootstrap/sip/sign"
)

// ErrNotDone is returned by Keys before the handshake has completed.
var ErrNotDone = errors.New("tlsdsk: handshake not complete")

// Keys are the TLS-DSK session keys of an established security association.
type Keys struct {
	Client, Server []byte   // 32 bytes each: PRF output [64:96] and [96:128]
	Alg            sign.Alg // MAC algorithm (SHA1 for *_SHA suites)
	Version        uint16   // negotiated TLS version
	CipherSuite    uint16
}

// ClientConfig configures the phone side of the handshake.
type ClientConfig struct {
	Certificate   tls.Certificate // CertProv user certificate and key
	RootCAs       *x509.CertPool  // trust anchors for the server certificate
	Intermediates *x509.CertPool  // optional extra intermediates
	ServerName    string          // expected server name (the targetname)
	// MinVersion and MaxVersion default to TLS 1.0.
	MinVersion, MaxVersion uint16
	Time                   func() time.Time // optional clock
	Rand                   io.Reader        // optional entropy source
}

// Client is the client side of one TLS-DSK handshake.
type Client struct{}

// NewClient returns a client that has not started its handshake.
func NewClient(cfg ClientConfig) *Client { return &Client{} }

// Step advances the handshake. in is the decoded gssapi-data of the last 401 (nil on the
// first call); out is the token for the next Authorization's gssapi-data. done is true once
// the server's ChangeCipherSpec and Finished have been consumed and verified.
func (c *Client) Step(ctx context.Context, in []byte) (out []byte, done bool, err error) {
	return nil, false, errors.New("tlsdsk: not implemented")
}

// Keys returns the session keys once the handshake is done.
func (c *Client) Keys() (Keys, error) { return Keys{}, ErrNotDone }

// PeerCertificates returns the server's certificate chain once the handshake is done.
func (c *Client) PeerCertificates() []*x509.Certificate { return nil }

// Close releases the handshake goroutine.
func (c *Client) Close() {}

// ServerConfig configures the registrar side of the handshake.
type ServerConfig struct {
	Certificate  tls.Certificate
	VerifyClient func(chain []*x509.Certificate) error
	// MinVersion and MaxVersion default to TLS 1.0.
	MinVersion, MaxVersion uint16
	Time                   func() time.Time
}

// Server is the server side of one TLS-DSK handshake.
type Server struct{}

// NewServer returns a server waiting for the ClientHello.
func NewServer(cfg ServerConfig) *Server { return &Server{} }

// Step advances the handshake with the decoded gssapi-data of the client's Authorization.
func (s *Server) Step(ctx context.Context, in []byte) (out []byte, done bool, err error) {
	return nil, false, errors.New("tlsdsk: not implemented")
}

// Keys returns the session keys once the handshake is done.
func (s *Server) Keys() (Keys, error) { return Keys{}, ErrNotDone }

// PeerCertificates returns the client's certificate chain once the handshake is done.
func (s *Server) PeerCertificates() []*x509.Certificate { return nil }

// Close releases the handshake goroutine.
func (s *Server) Close() {}

// DeriveKeys derives the TLS-DSK client and server signing keys from the master secret:
// PRF(master, "client EAP encryption", client_random ‖ server_random)[64:128], with the
// TLS 1.0/1.1 PRF or, for TLS 1.2, the SHA-256 PRF.
func DeriveKeys(version uint16, master, clientRandom, serverRandom []byte) (client, server []byte) {
	return nil, nil
}

// PRF10 is the TLS 1.0/1.1 PRF (P_MD5 ⊕ P_SHA1), RFC 2246 section 5.
func PRF10(secret []byte, label string, seed []byte, n int) []byte { return nil }
