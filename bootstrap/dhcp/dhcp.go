// Package dhcp is the phone's DHCP step: a DHCPINFORM with vendor class
// MS-UC-Client (option 60) asking for options 1, 2, 3, 6, 15, 42, 43, 119
// and 120, sent broadcast on an interface (nclient4 raw socket), unicast
// over UDP to a server:port (labpool, phonesim, loopback tests), or over an
// injected net.PacketConn; retried with jittered backoff. Optionally it
// first takes a lease with DISCOVER/REQUEST for boards without an OS DHCP
// client ("lease+inform").
//
// The answer's options are decoded into a Result with the pure codec in
// package msuc. Decoding problems of options 43/120 are reported in the
// Result (Opt43Err, Opt120Err), not as a failed exchange: the discover stage
// decides what they mean.
//
// References: platform-notes.md §1; RFC 2131 §3.4 and §4.3.5 (DHCPINFORM),
// RFC 2132, RFC 3361, RFC 3397.
package dhcp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"

	"github.com/deskphone/deskphone/bootstrap/dhcp/msuc"
	"github.com/deskphone/deskphone/bootstrap/failure"
)

// Mode selects how the INFORM is sent.
type Mode string

// Modes.
const (
	ModeOff           Mode = "off"          // no DHCP
	ModeBroadcast     Mode = "broadcast"    // nclient4 raw socket on Iface, to 255.255.255.255:67
	ModeUnicast       Mode = "unicast"      // UDP to Server ("ADDR:PORT"), or over Conn when set
	ModeLeaseInform   Mode = "lease+inform" // DISCOVER/REQUEST on Iface, then INFORM with the leased address
	defaultTimeout         = 2 * time.Second
	defaultRetries         = 2
	defaultBackoffCap      = 2 * time.Second
)

// RequestedOptions is the parameter request list (option 55) of the INFORM.
var RequestedOptions = []dhcpv4.OptionCode{
	dhcpv4.OptionSubnetMask,                // 1
	dhcpv4.OptionTimeOffset,                // 2
	dhcpv4.OptionRouter,                    // 3
	dhcpv4.OptionDomainNameServer,          // 6
	dhcpv4.OptionDomainName,                // 15
	dhcpv4.OptionNTPServers,                // 42
	dhcpv4.OptionVendorSpecificInformation, // 43
	dhcpv4.OptionDNSDomainSearchList,       // 119
	dhcpv4.OptionSIPServers,                // 120
}

// ErrNoAnswer is returned (wrapped in a *failure.Error with code
// DHCPNoAnswer) when no server answered any attempt.
var ErrNoAnswer = errors.New("dhcp: no answer")

// Config says how to reach the DHCP server.
type Config struct {
	Mode Mode
	// Iface is the interface for ModeBroadcast and ModeLeaseInform.
	Iface string
	// Server is "ADDR:PORT" for ModeUnicast (and the destination when Conn
	// is set; default 255.255.255.255:67).
	Server string
	// Conn, when set, carries the exchange (tests, simulators); it is not
	// closed.
	Conn net.PacketConn
	// HWAddr is chaddr; default: Iface's MAC, else a random locally
	// administered MAC.
	HWAddr net.HardwareAddr
	// LocalIP is ciaddr; default: Iface's first IPv4 address, else the
	// source address the kernel would use towards Server.
	LocalIP net.IP
	// Timeout is how long one attempt waits for the ACK (default 2s).
	Timeout time.Duration
	// Retries is the number of attempts after the first (default 2; <0 = 0).
	Retries int
	// Rand drives the backoff jitter and generated MACs (default: random).
	Rand *rand.Rand
}

// Result is what one DHCPACK said.
type Result struct {
	// Server is the answering server: its server identifier (option 54)
	// when present, else the packet's source address.
	Server string
	// MSUC is option 43 (nil when absent); on Opt43Err it holds what was
	// read before the error.
	MSUC     *msuc.Info
	Opt43Err error
	// SIPServers is option 120 (nil when absent or invalid).
	SIPServers *msuc.SIPServers
	Opt120Err  error
	NTPServers []net.IP
	// TimeOffset is option 2 in seconds (nil when absent).
	TimeOffset   *int32
	DomainName   string
	DomainSearch []string
	DNSServers   []net.IP
	Routers      []net.IP
	// LeasedIP is the address from DISCOVER/REQUEST (ModeLeaseInform only);
	// configuring it on the interface is the board's job.
	LeasedIP net.IP
	// Ack is the raw answer.
	Ack *dhcpv4.DHCPv4
}

// Inform runs the exchange described by cfg and decodes the answer. Errors
// are *failure.Error (DHCPNoAnswer; NetworkDown for a missing interface or
// address).
func Inform(ctx context.Context, cfg Config, logger *slog.Logger) (*Result, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "dhcp")
	if cfg.Timeout <= 0 {
		cfg.Timeout = defaultTimeout
	}
	if cfg.Retries == 0 {
		cfg.Retries = defaultRetries
	} else if cfg.Retries < 0 {
		cfg.Retries = 0
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}

	c, err := open(cfg)
	if err != nil {
		return nil, failure.New(failure.StageNetwork, failure.NetworkDown, err)
	}
	defer c.close()

	var leased net.IP
	if cfg.Mode == ModeLeaseInform {
		lease, err := c.cl.Request(ctx, dhcpv4.WithOption(dhcpv4.OptClassIdentifier(msuc.VendorClass)),
			dhcpv4.WithRequestedOptions(RequestedOptions...))
		if err != nil {
			return nil, failure.New(failure.StageNetwork, failure.DHCPNoAnswer, fmt.Errorf("dhcp: lease on %s: %w", cfg.Iface, err))
		}
		leased = lease.ACK.YourIPAddr
		c.localIP = leased
		logger.Info("lease", "ip", leased, "server", lease.ACK.ServerIdentifier())
	}
	if c.localIP == nil || c.localIP.To4() == nil {
		return nil, failure.New(failure.StageNetwork, failure.NetworkDown, fmt.Errorf("dhcp: no local ipv4 address for ciaddr"))
	}

	var lastErr error
	for attempt := 0; attempt <= cfg.Retries; attempt++ {
		if attempt > 0 {
			d := backoff(attempt, cfg.Rand)
			logger.Debug("retry", "attempt", attempt, "backoff", d, "err", lastErr)
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, ctx.Err()
			case <-t.C:
			}
		}
		ack, err := c.cl.Inform(ctx, c.localIP,
			dhcpv4.WithOption(dhcpv4.OptClassIdentifier(msuc.VendorClass)),
			dhcpv4.WithRequestedOptions(RequestedOptions...))
		if err == nil {
			res := Decode(ack)
			res.LeasedIP = leased
			logger.Info("inform answered", "server", res.Server, "attempt", attempt)
			return res, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		lastErr = err
	}
	logger.Warn("no answer", "attempts", cfg.Retries+1, "err", lastErr)
	return nil, failure.New(failure.StageNetwork, failure.DHCPNoAnswer,
		fmt.Errorf("%w after %d attempts: %w", ErrNoAnswer, cfg.Retries+1, lastErr))
}

// backoff is n²·100 ms, capped at 2 s, times a random factor in [0.5, 1.5).
func backoff(n int, r *rand.Rand) time.Duration {
	d := time.Duration(n*n) * 100 * time.Millisecond
	if d > defaultBackoffCap {
		d = defaultBackoffCap
	}
	return time.Duration(float64(d) * (0.5 + r.Float64()))
}

// Decode extracts the options the phone uses from an ACK.
func Decode(ack *dhcpv4.DHCPv4) *Result {
	res := &Result{Ack: ack}
	if sid := ack.ServerIdentifier(); sid != nil && !sid.IsUnspecified() {
		res.Server = sid.String()
	} else if ack.ServerIPAddr != nil && !ack.ServerIPAddr.IsUnspecified() {
		res.Server = ack.ServerIPAddr.String()
	}
	if v := ack.Options.Get(dhcpv4.OptionVendorSpecificInformation); v != nil {
		info, err := msuc.DecodeOpt43(v)
		res.MSUC, res.Opt43Err = &info, err
	}
	if v := ack.Options.Get(dhcpv4.OptionSIPServers); v != nil {
		s, err := msuc.DecodeOpt120(v)
		if err != nil {
			res.Opt120Err = err
		} else {
			res.SIPServers = &s
		}
	}
	res.NTPServers = ack.NTPServers()
	if v := ack.Options.Get(dhcpv4.OptionTimeOffset); len(v) == 4 {
		off := int32(binary.BigEndian.Uint32(v))
		res.TimeOffset = &off
	}
	res.DomainName = ack.DomainName()
	if l := ack.DomainSearch(); l != nil {
		res.DomainSearch = l.Labels
	}
	res.DNSServers = ack.DNS()
	res.Routers = ack.Router()
	return res
}

// client is an nclient4 client plus what Inform needs around it.
type client struct {
	cl      *nclient4.Client
	localIP net.IP
	close   func()
}

func open(cfg Config) (*client, error) {
	var ifc *net.Interface
	if cfg.Iface != "" {
		i, err := net.InterfaceByName(cfg.Iface)
		if err != nil {
			return nil, fmt.Errorf("dhcp: interface %q: %w", cfg.Iface, err)
		}
		ifc = i
	}
	hw := cfg.HWAddr
	if hw == nil && ifc != nil && len(ifc.HardwareAddr) > 0 {
		hw = ifc.HardwareAddr
	}
	if hw == nil {
		hw = make(net.HardwareAddr, 6)
		binary.BigEndian.PutUint32(hw[2:], cfg.Rand.Uint32())
		hw[0], hw[1] = 0x02, byte(cfg.Rand.Uint32()) // locally administered, unicast
	}
	c := &client{localIP: cfg.LocalIP}
	if c.localIP == nil && ifc != nil {
		if ips, err := dhcpv4.IPv4AddrsForInterface(ifc); err == nil && len(ips) > 0 {
			c.localIP = ips[0]
		}
	}
	opts := []nclient4.ClientOpt{nclient4.WithTimeout(cfg.Timeout), nclient4.WithRetry(1), nclient4.WithHWAddr(hw)}

	var server *net.UDPAddr
	if cfg.Server != "" {
		a, err := net.ResolveUDPAddr("udp4", cfg.Server)
		if err != nil {
			return nil, fmt.Errorf("dhcp: server %q: %w", cfg.Server, err)
		}
		server = a
		opts = append(opts, nclient4.WithServerAddr(a))
	}

	switch {
	case cfg.Conn != nil:
		conn := &keepOpen{PacketConn: cfg.Conn}
		cl, err := nclient4.NewWithConn(conn, hw, opts...)
		if err != nil {
			return nil, fmt.Errorf("dhcp: client: %w", err)
		}
		if c.localIP == nil {
			c.localIP = localIPOf(cfg.Conn.LocalAddr(), server)
		}
		c.cl = cl
		c.close = func() { _ = cl.Close(); _ = cfg.Conn.SetReadDeadline(time.Time{}) }
	case cfg.Mode == ModeUnicast:
		if server == nil {
			return nil, fmt.Errorf("dhcp: unicast mode needs a server address")
		}
		pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: cfg.LocalIP})
		if err != nil {
			return nil, fmt.Errorf("dhcp: listen: %w", err)
		}
		cl, err := nclient4.NewWithConn(pc, hw, opts...)
		if err != nil {
			_ = pc.Close()
			return nil, fmt.Errorf("dhcp: client: %w", err)
		}
		if c.localIP == nil {
			c.localIP = localIPOf(pc.LocalAddr(), server)
		}
		c.cl = cl
		c.close = func() { _ = cl.Close() }
	case cfg.Mode == ModeBroadcast || cfg.Mode == ModeLeaseInform:
		if cfg.Iface == "" {
			return nil, fmt.Errorf("dhcp: %s mode needs an interface", cfg.Mode)
		}
		cl, err := nclient4.New(cfg.Iface, opts...)
		if err != nil {
			return nil, fmt.Errorf("dhcp: raw socket on %s: %w", cfg.Iface, err)
		}
		c.cl = cl
		c.close = func() { _ = cl.Close() }
	default:
		return nil, fmt.Errorf("dhcp: mode %q", cfg.Mode)
	}
	return c, nil
}

// localIPOf is the conn's own IPv4 address, or the one the kernel picks
// towards server (a connected UDP socket sends nothing).
func localIPOf(a net.Addr, server *net.UDPAddr) net.IP {
	if ua, ok := a.(*net.UDPAddr); ok && ua.IP.To4() != nil && !ua.IP.IsUnspecified() {
		return ua.IP.To4()
	}
	if server == nil || server.IP.Equal(net.IPv4bcast) {
		return nil
	}
	c, err := net.DialUDP("udp4", nil, server)
	if err != nil {
		return nil
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).IP.To4()
}

// keepOpen keeps an injected conn open when nclient4 closes the client: it
// only unblocks the pending read with a past deadline.
type keepOpen struct{ net.PacketConn }

// Close implements net.PacketConn without closing the injected conn.
func (k *keepOpen) Close() error { return k.PacketConn.SetReadDeadline(time.Unix(1, 0)) }
