// Package ntpd is labpool's minimal SNTP server (RFC 4330 §5, server mode):
// it answers each NTPv1–4 client-mode request with a server-mode reply
// stamped with the real time (or Config.Now), a configurable stratum, and
// the request's transmit timestamp as originate timestamp. Fault ntp-down
// makes it silent. Garbage and non-client packets are dropped.
package ntpd

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/deskphone/deskphone/tools/labpool/faults"
)

const (
	packetLen = 48
	ntpEpoch  = 2208988800 // seconds from 1900-01-01 to 1970-01-01
	modeCli   = 3
	modeSrv   = 4
)

// Config tunes the answers.
type Config struct {
	// Stratum is the advertised stratum (default 2).
	Stratum int
	// KissCode, when set, turns every answer into a kiss-of-death
	// (stratum 0, reference ID = the code, e.g. "RATE" or "DENY").
	KissCode string
	// Now is the server's clock (default time.Now).
	Now func() time.Time
	// Faults is consulted on every request (ntp-down = silence).
	Faults *faults.Set
}

// Server is an SNTP server.
type Server struct {
	cfg    Config
	logger *slog.Logger
}

// New returns a server for cfg.
func New(cfg Config, logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Stratum == 0 {
		cfg.Stratum = 2
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Server{cfg: cfg, logger: logger.With("component", "ntpd")}
}

// Serve answers on conn until ctx is done (then it returns nil). It does not
// close conn.
func (s *Server) Serve(ctx context.Context, conn net.PacketConn) error {
	stop := context.AfterFunc(ctx, func() { _ = conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	buf := make([]byte, 1024)
	for {
		n, peer, err := conn.ReadFrom(buf)
		recv := s.cfg.Now()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("ntpd: read: %w", err)
		}
		if s.cfg.Faults.Has(faults.NTPDown) {
			s.logger.Debug("dropped", "peer", peer, "fault", faults.NTPDown)
			continue
		}
		resp, ok := s.Reply(buf[:n], recv)
		if !ok {
			s.logger.Debug("ignored", "peer", peer, "len", n)
			continue
		}
		if _, err := conn.WriteTo(resp, peer); err != nil {
			s.logger.Warn("write failed", "peer", peer, "err", err)
		}
	}
}

// Reply builds the server-mode answer to req received at recv, or reports
// false when req is not an NTP client request.
func (s *Server) Reply(req []byte, recv time.Time) ([]byte, bool) {
	if len(req) < packetLen {
		return nil, false
	}
	vn := (req[0] >> 3) & 7
	if req[0]&7 != modeCli || vn < 1 || vn > 4 {
		return nil, false
	}
	r := make([]byte, packetLen)
	r[0] = vn<<3 | modeSrv // LI 0: no warning
	r[1] = byte(s.cfg.Stratum)
	r[2] = req[2]                           // poll
	r[3] = 0xEC                             // precision 2^-20 s
	binary.BigEndian.PutUint32(r[4:], 0)    // root delay
	binary.BigEndian.PutUint32(r[8:], 0x40) // root dispersion ≈ 1 ms
	if s.cfg.KissCode != "" {
		r[0] = vn<<3 | modeSrv | 3<<6 // LI 3: alarm
		r[1] = 0
		copy(r[12:16], s.cfg.KissCode)
	} else {
		copy(r[12:16], "LPOL")
	}
	putTime(r[16:], recv)      // reference
	copy(r[24:32], req[40:48]) // originate = client's transmit
	putTime(r[32:], recv)      // receive
	putTime(r[40:], s.cfg.Now())
	return r, true
}

func putTime(b []byte, t time.Time) {
	secs := uint64(t.Unix() + ntpEpoch)
	frac := (uint64(t.Nanosecond()) << 32) / 1e9
	binary.BigEndian.PutUint32(b, uint32(secs))
	binary.BigEndian.PutUint32(b[4:], uint32(frac))
}
