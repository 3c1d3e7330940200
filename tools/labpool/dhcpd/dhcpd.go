// Package dhcpd is labpool's DHCP responder. It behaves like the Lync
// registrar's built-in responder (Set-CsRegistrarConfiguration
// -EnableDHCPServer): it hands out no addresses and answers only DHCPINFORM
// with vendor class MS-UC-Client, with a DHCPACK (yiaddr 0.0.0.0) carrying
// option 43 (MS-UC-Client sub-options 1–5), option 120 (the registrar
// FQDN), option 15 (the domain) and, when configured, option 42.
//
// Fault opt43-truncated cuts option 43 in the middle of sub-option 5, as
// Cisco IOS does with `option 43 hex` longer than 180 hex digits.
//
// References: platform-notes.md §1.1–§1.4; RFC 2131 §4.3.5.
package dhcpd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/server4"

	"github.com/deskphone/deskphone/bootstrap/dhcp/msuc"
	"github.com/deskphone/deskphone/tools/labpool/faults"
)

// Config is what the responder advertises.
type Config struct {
	// Domain goes into option 15 (e.g. "example.test").
	Domain string
	// WebFQDN and WebPort build option 43 (port default 443).
	WebFQDN string
	WebPort int
	// Registrar is the option 120 FQDN (default: WebFQDN).
	Registrar string
	// NTP, when non-empty, is sent as option 42. labpool's own NTP server
	// usually listens on a non-123 port and is advertised by SRV instead.
	NTP []net.IP
	// ServerID is option 54 (default: the conn's local IPv4, else 127.0.0.1).
	ServerID net.IP
	// Broadcast sends replies to 255.255.255.255:68 as well, for a server
	// bound to an interface (the conn must allow broadcast; see Listen).
	Broadcast bool
	// Faults is consulted on every request (nil = none).
	Faults *faults.Set
}

// Server answers INFORMs on one PacketConn.
type Server struct {
	cfg    Config
	logger *slog.Logger
}

// New returns a responder for cfg.
func New(cfg Config, logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.WebPort == 0 {
		cfg.WebPort = msuc.DefaultPort
	}
	if cfg.Registrar == "" {
		cfg.Registrar = cfg.WebFQDN
	}
	return &Server{cfg: cfg, logger: logger.With("component", "dhcpd")}
}

// Listen opens a broadcast-capable UDP socket on port (67 by default) bound
// to iface ("" = any), for Serve with Config.Broadcast.
func Listen(iface string, port int) (net.PacketConn, error) {
	if port == 0 {
		port = dhcpv4.ServerPort
	}
	c, err := server4.NewIPv4UDPConn(iface, &net.UDPAddr{Port: port})
	if err != nil {
		return nil, fmt.Errorf("dhcpd: listen %s:%d: %w", iface, port, err)
	}
	return c, nil
}

// Serve answers requests on conn until ctx is done (then it returns nil).
// It does not close conn.
func (s *Server) Serve(ctx context.Context, conn net.PacketConn) error {
	stop := context.AfterFunc(ctx, func() { _ = conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	buf := make([]byte, 1500)
	for {
		n, peer, err := conn.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("dhcpd: read: %w", err)
		}
		req, err := dhcpv4.FromBytes(buf[:n])
		if err != nil {
			s.logger.Debug("bad packet", "peer", peer, "err", err)
			continue
		}
		resp, err := s.Reply(req, localIPv4(conn.LocalAddr()))
		if err != nil {
			s.logger.Debug("no reply", "peer", peer, "xid", req.TransactionID, "why", err)
			continue
		}
		for _, dst := range s.destinations(req, peer) {
			if _, err := conn.WriteTo(resp.ToBytes(), dst); err != nil {
				s.logger.Warn("write failed", "to", dst, "err", err)
			}
		}
		s.logger.Debug("ack", "peer", peer, "xid", req.TransactionID)
	}
}

// errIgnored explains why a request gets no answer.
var errIgnored = errors.New("ignored")

// Reply builds the DHCPACK for an INFORM from an MS-UC-Client, or returns an
// error (no answer) for anything else. local is the server identifier
// fallback.
func (s *Server) Reply(req *dhcpv4.DHCPv4, local net.IP) (*dhcpv4.DHCPv4, error) {
	if req.OpCode != dhcpv4.OpcodeBootRequest || req.MessageType() != dhcpv4.MessageTypeInform {
		return nil, fmt.Errorf("%w: message type %s", errIgnored, req.MessageType())
	}
	if vc := req.ClassIdentifier(); vc != msuc.VendorClass {
		return nil, fmt.Errorf("%w: vendor class %q", errIgnored, vc)
	}
	opt43, err := msuc.EncodeOpt43(msuc.Info{
		UCIdentifier: msuc.VendorClass,
		Scheme:       "https",
		WebFQDN:      s.cfg.WebFQDN,
		Port:         s.cfg.WebPort,
		RelPath:      msuc.DefaultRelPath,
	})
	if err != nil {
		return nil, err
	}
	if s.cfg.Faults.Has(faults.Opt43Truncated) {
		opt43 = truncateInRelPath(opt43)
	}
	opt120, err := msuc.EncodeOpt120Names(s.cfg.Registrar)
	if err != nil {
		return nil, err
	}
	sid := s.cfg.ServerID
	if sid == nil {
		sid = local
	}
	if sid == nil {
		sid = net.IPv4(127, 0, 0, 1)
	}
	mods := []dhcpv4.Modifier{
		dhcpv4.WithMessageType(dhcpv4.MessageTypeAck),
		dhcpv4.WithYourIP(net.IPv4zero),
		dhcpv4.WithClientIP(req.ClientIPAddr),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(sid)),
		dhcpv4.WithGeneric(dhcpv4.OptionVendorSpecificInformation, opt43),
		dhcpv4.WithGeneric(dhcpv4.OptionSIPServers, opt120),
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier(msuc.VendorClass)),
	}
	if s.cfg.Domain != "" {
		mods = append(mods, dhcpv4.WithOption(dhcpv4.OptDomainName(s.cfg.Domain)))
	}
	if len(s.cfg.NTP) > 0 {
		mods = append(mods, dhcpv4.WithOption(dhcpv4.OptNTPServers(s.cfg.NTP...)))
	}
	return dhcpv4.NewReplyFromRequest(req, mods...)
}

// truncateInRelPath cuts an encoded option 43 in the middle of the value of
// sub-option 5 (the CertProv path).
func truncateInRelPath(b []byte) []byte {
	for i := 0; i+1 < len(b); i += 2 + int(b[i+1]) {
		if b[i] == msuc.SubRelPath {
			return b[:i+2+int(b[i+1])/2]
		}
	}
	return b[:len(b)/2]
}

// destinations: the sender's address when it has one (loopback tests,
// relays), else ciaddr:68 (RFC 2131 §4.3.5), and 255.255.255.255:68 when
// Config.Broadcast is set or nothing else is known.
func (s *Server) destinations(req *dhcpv4.DHCPv4, peer net.Addr) []net.Addr {
	var out []net.Addr
	if ua, ok := peer.(*net.UDPAddr); ok && !ua.IP.IsUnspecified() {
		out = append(out, ua)
	} else if req.ClientIPAddr != nil && !req.ClientIPAddr.IsUnspecified() {
		out = append(out, &net.UDPAddr{IP: req.ClientIPAddr, Port: dhcpv4.ClientPort})
	}
	if s.cfg.Broadcast || len(out) == 0 {
		out = append(out, &net.UDPAddr{IP: net.IPv4bcast, Port: dhcpv4.ClientPort})
	}
	return out
}

func localIPv4(a net.Addr) net.IP {
	if ua, ok := a.(*net.UDPAddr); ok && ua.IP.To4() != nil && !ua.IP.IsUnspecified() {
		return ua.IP.To4()
	}
	return nil
}
