// Package labpool is the simulated Lync / Skype for Business pool that every
// test, demo and QA rig signs in to: a DHCP INFORM responder, a DNS server for
// the pool domain, an SNTP server, the web services (anonymous chain download,
// WebTicket, CertProv) and a TLS SIP registrar speaking MS-SIPAE TLS-DSK.
//
// Start brings every listener up on loopback (or a given address) and fills
// in Ready, the JSON line `labpool serve` prints (cli-contract.md).
package labpool

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/deskphone/deskphone/tools/labpool/dhcpd"
	"github.com/deskphone/deskphone/tools/labpool/directory"
	"github.com/deskphone/deskphone/tools/labpool/dnsd"
	"github.com/deskphone/deskphone/tools/labpool/faults"
	"github.com/deskphone/deskphone/tools/labpool/ntpd"
	"github.com/deskphone/deskphone/tools/labpool/pki"
	"github.com/deskphone/deskphone/tools/labpool/registrar"
	"github.com/deskphone/deskphone/tools/labpool/web"
)

// Options configures a pool. Zero ports pick free ones.
type Options struct {
	Domain                                                   string // default example.test; the pool FQDN is pool.<domain>
	StateDir                                                 string // CA, users, published certificates; "" = a temporary directory
	Listen                                                   string // IP to listen on, default 127.0.0.1
	SIPPort, HTTPSPort, HTTPPort, DNSPort, NTPPort, DHCPPort int
	// DHCPIface, when set, serves DHCP broadcast on that interface (port 67)
	// instead of the UDP port.
	DHCPIface string
	// NoDHCP disables the DHCP responder.
	NoDHCP bool
	// Demo adds the demo users (alice, bob).
	Demo   bool
	Faults *faults.Set
	Logger *slog.Logger
	// Now is the pool's clock (tests); nil = time.Now.
	Now func() time.Time
}

// Ready is the line `labpool serve` prints when every listener is up.
type Ready struct {
	Ready  bool   `json:"ready"`
	Domain string `json:"domain"`
	CAPEM  string `json:"ca_pem"`
	SIP    string `json:"sip"`
	HTTPS  string `json:"https"`
	HTTP   string `json:"http"`
	DNS    string `json:"dns"`
	NTP    string `json:"ntp"`
	DHCP   string `json:"dhcp,omitempty"`
}

// Pool is a running simulated pool.
type Pool struct {
	Ready  Ready
	FQDN   string
	CA     *pki.CA
	Dir    *directory.Directory
	Faults *faults.Set
	Reg    *registrar.Server

	log     *slog.Logger
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	closers []func() error
	tmpDir  string
	errMu   sync.Mutex
	errs    []error
}

// Start starts every service and returns once all listeners are up.
func Start(ctx context.Context, o Options) (p *Pool, err error) {
	if o.Domain == "" {
		o.Domain = "example.test"
	}
	if o.Listen == "" {
		o.Listen = "127.0.0.1"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Faults == nil {
		o.Faults = new(faults.Set)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	ip := net.ParseIP(o.Listen)
	if ip == nil {
		return nil, fmt.Errorf("labpool: listen address %q is not an IP", o.Listen)
	}
	ctx, cancel := context.WithCancel(ctx)
	p = &Pool{FQDN: "pool." + o.Domain, Faults: o.Faults, log: o.Logger.With("component", "labpool"), cancel: cancel}
	defer func() {
		if err != nil {
			p.Close()
		}
	}()
	if o.StateDir == "" {
		d, err := os.MkdirTemp("", "labpool-")
		if err != nil {
			return nil, fmt.Errorf("labpool: %w", err)
		}
		p.tmpDir, o.StateDir = d, d
	}
	if err := os.MkdirAll(o.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("labpool: state dir: %w", err)
	}
	if p.CA, err = pki.Load(filepath.Join(o.StateDir, "pki"), o.Domain, o.Logger); err != nil {
		return nil, err
	}
	if p.Dir, err = directory.Open(o.StateDir, o.Logger, directory.WithClock(o.Now)); err != nil {
		return nil, err
	}
	if o.Demo {
		if err := p.Dir.AddDemoUsers(); err != nil {
			return nil, err
		}
	}

	// Listeners first, so that every advertised port is real.
	lc := net.ListenConfig{}
	listen := func(port int) (net.Listener, error) {
		return lc.Listen(ctx, "tcp", net.JoinHostPort(o.Listen, strconv.Itoa(port)))
	}
	listenUDP := func(port int) (net.PacketConn, error) {
		return lc.ListenPacket(ctx, "udp", net.JoinHostPort(o.Listen, strconv.Itoa(port)))
	}
	sipLn, err := listen(o.SIPPort)
	if err != nil {
		return nil, fmt.Errorf("labpool: sip: %w", err)
	}
	p.closers = append(p.closers, sipLn.Close)
	httpsLn, err := listen(o.HTTPSPort)
	if err != nil {
		return nil, fmt.Errorf("labpool: https: %w", err)
	}
	p.closers = append(p.closers, httpsLn.Close)
	httpLn, err := listen(o.HTTPPort)
	if err != nil {
		return nil, fmt.Errorf("labpool: http: %w", err)
	}
	p.closers = append(p.closers, httpLn.Close)
	dnsUDP, err := listenUDP(o.DNSPort)
	if err != nil {
		return nil, fmt.Errorf("labpool: dns: %w", err)
	}
	p.closers = append(p.closers, dnsUDP.Close)
	dnsPort := dnsUDP.LocalAddr().(*net.UDPAddr).Port
	dnsTCP, err := listen(dnsPort)
	if err != nil {
		return nil, fmt.Errorf("labpool: dns tcp: %w", err)
	}
	p.closers = append(p.closers, dnsTCP.Close)
	ntpConn, err := listenUDP(o.NTPPort)
	if err != nil {
		return nil, fmt.Errorf("labpool: ntp: %w", err)
	}
	p.closers = append(p.closers, ntpConn.Close)

	sipPort := sipLn.Addr().(*net.TCPAddr).Port
	httpsPort := httpsLn.Addr().(*net.TCPAddr).Port
	ntpPort := ntpConn.LocalAddr().(*net.UDPAddr).Port
	certProv := fmt.Sprintf("https://%s:%d/CertProv/CertProvisioningService.svc", p.FQDN, httpsPort)

	// Web services.
	ws, err := web.New(web.Config{Domain: o.Domain, FQDN: p.FQDN, HTTPSPort: httpsPort, CA: p.CA, Dir: p.Dir, Faults: o.Faults, Now: o.Now}, o.Logger)
	if err != nil {
		return nil, err
	}
	httpsSrv := &http.Server{Handler: ws.HTTPSHandler(), TLSConfig: ws.TLSConfig(), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(o.Logger.Handler(), slog.LevelDebug)}
	httpSrv := &http.Server{Handler: ws.HTTPHandler(), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(o.Logger.Handler(), slog.LevelDebug)}
	p.closers = append(p.closers, httpsSrv.Close, httpSrv.Close)
	p.serve("https", func() error { return ignoreClosed(httpsSrv.Serve(tls.NewListener(httpsLn, ws.TLSConfig()))) })
	p.serve("http", func() error { return ignoreClosed(httpSrv.Serve(httpLn)) })

	// SIP registrar.
	srvCert := p.CA.ServerCertificate()
	p.Reg, err = registrar.New(registrar.Config{
		Domain: o.Domain, FQDN: p.FQDN,
		TLS:            &tls.Config{Certificates: []tls.Certificate{srvCert}, MinVersion: tls.VersionTLS12},
		DSKCertificate: srvCert, Certs: p.Dir, STSURI: certProv,
		Faults: o.Faults, Now: o.Now, Logger: o.Logger,
	})
	if err != nil {
		return nil, err
	}
	p.serve("sip", func() error { return p.Reg.ServeTLS(ctx, sipLn) })

	// DNS, NTP, DHCP.
	dnsSrv := dnsd.New(dnsd.Config{Domain: o.Domain, PoolIP: ip, SIPPort: sipPort, NTPPort: ntpPort, Faults: o.Faults}, o.Logger)
	p.serve("dns", func() error { return dnsSrv.Serve(ctx, dnsUDP, dnsTCP) })
	ntpSrv := ntpd.New(ntpd.Config{Faults: o.Faults}, o.Logger)
	p.serve("ntp", func() error { return ntpSrv.Serve(ctx, ntpConn) })

	p.Ready = Ready{Ready: true, Domain: o.Domain, CAPEM: p.CA.RootPEMPath(),
		SIP: sipLn.Addr().String(), HTTPS: httpsLn.Addr().String(), HTTP: httpLn.Addr().String(),
		DNS: dnsUDP.LocalAddr().String(), NTP: ntpConn.LocalAddr().String()}
	if abs, err := filepath.Abs(p.Ready.CAPEM); err == nil {
		p.Ready.CAPEM = abs
	}

	if !o.NoDHCP {
		dcfg := dhcpd.Config{Domain: o.Domain, WebFQDN: p.FQDN, WebPort: httpsPort, Registrar: p.FQDN, Faults: o.Faults, ServerID: ip.To4()}
		var dconn net.PacketConn
		if o.DHCPIface != "" {
			dconn, err = dhcpd.Listen(o.DHCPIface, 67)
			dcfg.Broadcast = true
		} else {
			dconn, err = listenUDP(o.DHCPPort)
		}
		if err != nil {
			return nil, fmt.Errorf("labpool: dhcp: %w", err)
		}
		p.closers = append(p.closers, dconn.Close)
		dsrv := dhcpd.New(dcfg, o.Logger)
		p.serve("dhcp", func() error { return dsrv.Serve(ctx, dconn) })
		p.Ready.DHCP = dconn.LocalAddr().String()
	}
	p.log.Info("pool ready", "fqdn", p.FQDN, "sip", p.Ready.SIP, "https", p.Ready.HTTPS, "faults", o.Faults.List())
	return p, nil
}

func ignoreClosed(err error) error {
	if errors.Is(err, http.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

func (p *Pool) serve(name string, fn func() error) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		if err := fn(); err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, net.ErrClosed) {
			p.log.Error("service stopped", "service", name, "err", err)
			p.errMu.Lock()
			p.errs = append(p.errs, fmt.Errorf("%s: %w", name, err))
			p.errMu.Unlock()
		}
	}()
}

// Err returns the errors of services that stopped on their own.
func (p *Pool) Err() error {
	p.errMu.Lock()
	defer p.errMu.Unlock()
	return errors.Join(p.errs...)
}

// Close stops every service and waits for them.
func (p *Pool) Close() error {
	p.cancel()
	for i := len(p.closers) - 1; i >= 0; i-- {
		_ = p.closers[i]()
	}
	p.wg.Wait()
	if p.tmpDir != "" {
		_ = os.RemoveAll(p.tmpDir)
	}
	return nil
}
