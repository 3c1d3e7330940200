// Package storm drives many lightweight phones against one labpool: the
// boot storm (N cold sign-ins, then N warm sign-ins) and the registration
// soak (many re-registrations with RSS and goroutines sampled).
//
// A storm phone is lighter than the full device.Agent: it skips DHCP, NTP
// and the chain download (the pool's CA and intermediates are given) and
// runs the sign-in proper with the bootstrap packages, exactly as the agent
// wires them:
//
//   - cold: webticket.Discover + ByPIN, certprov.BuildCSR +
//     GetAndPublishCert with a key from a pre-generated pool (a real phone
//     generates it while the user types the PIN), then sip.Register
//     (TLS-DSK, in-band provisioning) and Close (un-REGISTER);
//   - warm: sip.Register with the certificate issued in the cold round,
//     then Close.
//
// Everything runs on loopback against an in-process pool; loops are bounded
// and stop on their own.
package storm

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"

	"github.com/deskphone/deskphone/bootstrap/certprov"
	"github.com/deskphone/deskphone/bootstrap/discover"
	"github.com/deskphone/deskphone/bootstrap/dnsdisco"
	"github.com/deskphone/deskphone/bootstrap/sip"
	"github.com/deskphone/deskphone/bootstrap/webticket"
	"github.com/deskphone/deskphone/certstore"
	"github.com/deskphone/deskphone/tools/labpool"
	"github.com/deskphone/deskphone/tools/labpool/directory"
)

// Options configures Run.
type Options struct {
	// Phones is the number of phones (default 100).
	Phones int
	// Concurrency bounds the phones signing in at once (default 32).
	Concurrency int
	// Keys is the number of distinct pre-generated RSA-2048 keys, used round
	// robin (default min(Phones, 16)); key generation is not timed.
	Keys int
	// FirstExtension numbers the storm users' extensions (default 20000).
	FirstExtension int
	// Logger receives progress (default: discard).
	Logger *slog.Logger
}

// PIN is the PIN of every storm user.
const PIN = "86420"

// Round is the outcome of one round of sign-ins.
type Round struct {
	SignInsPerS float64  `json:"sign_ins_per_s"`
	P50MS       float64  `json:"p50_ms"`
	P95MS       float64  `json:"p95_ms"`
	MaxMS       float64  `json:"max_ms"`
	WallMS      float64  `json:"wall_ms"`
	Failures    int      `json:"failures"`
	Errors      []string `json:"errors,omitempty"` // the first few failures
}

// Report is the storm's JSON document.
type Report struct {
	Machine     string  `json:"machine"`
	Phones      int     `json:"phones"`
	Concurrency int     `json:"concurrency"`
	Keys        int     `json:"keys"`
	SetupMS     float64 `json:"setup_ms"` // users added and keys generated (not timed in the rounds)
	Cold        Round   `json:"cold"`
	Warm        Round   `json:"warm"`
	PeakRSSKiB  int64   `json:"peak_rss_kib"`
}

// Err returns an error when a round had failures.
func (r Report) Err() error {
	if r.Cold.Failures > 0 || r.Warm.Failures > 0 {
		return fmt.Errorf("storm: %d cold and %d warm sign-ins failed", r.Cold.Failures, r.Warm.Failures)
	}
	return nil
}

// Machine describes this machine for reports.
func Machine() string {
	return fmt.Sprintf("%s/%s, %d CPU, %s", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version())
}

func (o *Options) defaults() {
	if o.Phones <= 0 {
		o.Phones = 100
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 32
	}
	if o.Keys <= 0 {
		o.Keys = min(o.Phones, 16)
	}
	if o.FirstExtension <= 0 {
		o.FirstExtension = 20000
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Run adds o.Phones users to p's directory, then runs the cold round and the
// warm round. It returns an error only when the storm could not be set up;
// sign-in failures are counted in the report (see Report.Err).
func Run(ctx context.Context, p *labpool.Pool, o Options) (Report, error) {
	o.defaults()
	log := o.Logger.With("component", "storm")
	rep := Report{Machine: Machine(), Phones: o.Phones, Concurrency: o.Concurrency, Keys: o.Keys}
	env, err := NewEnv(p)
	if err != nil {
		return rep, err
	}
	start := time.Now()
	phones, err := AddPhones(ctx, p, o.Phones, o.FirstExtension, o.Concurrency)
	if err != nil {
		return rep, err
	}
	keys, err := GenerateKeys(ctx, o.Keys)
	if err != nil {
		return rep, err
	}
	for i, ph := range phones {
		ph.Key = keys[i%len(keys)]
	}
	rep.SetupMS = ms(time.Since(start))
	log.Info("storm set up", "phones", o.Phones, "keys", o.Keys, "ms", rep.SetupMS)

	rep.Cold = round(ctx, phones, o.Concurrency, func(ctx context.Context, ph *Phone) (time.Duration, error) { return ph.Cold(ctx, env) })
	log.Info("cold round done", "sign_ins_per_s", rep.Cold.SignInsPerS, "p95_ms", rep.Cold.P95MS, "failures", rep.Cold.Failures)
	rep.Warm = round(ctx, phones, o.Concurrency, func(ctx context.Context, ph *Phone) (time.Duration, error) { return ph.Warm(ctx, env) })
	log.Info("warm round done", "sign_ins_per_s", rep.Warm.SignInsPerS, "p95_ms", rep.Warm.P95MS, "failures", rep.Warm.Failures)
	rep.PeakRSSKiB = procStatus("VmHWM:")
	return rep, ctx.Err()
}

// round runs fn for every phone, at most conc at once; fn returns the
// sign-in latency (power-on state to registered).
func round(ctx context.Context, phones []*Phone, conc int, fn func(context.Context, *Phone) (time.Duration, error)) Round {
	var (
		mu   sync.Mutex
		lat  []float64
		errs []string
		fail int
	)
	var next atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for range min(conc, len(phones)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= len(phones) {
					return
				}
				lt, err := fn(ctx, phones[i])
				d := ms(lt)
				mu.Lock()
				if err != nil {
					fail++
					if len(errs) < 5 {
						errs = append(errs, fmt.Sprintf("%s: %v", phones[i].Extension, err))
					}
				} else {
					lat = append(lat, d)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	r := Round{WallMS: ms(wall), Failures: fail, Errors: errs}
	if n := len(lat); n > 0 {
		slices.Sort(lat)
		r.P50MS, r.P95MS, r.MaxMS = pct(lat, 0.50), pct(lat, 0.95), lat[n-1]
		r.SignInsPerS = round2(float64(n) / wall.Seconds())
	}
	// Phones never started (ctx ended) are failures too.
	if missing := len(phones) - len(lat) - fail; missing > 0 {
		r.Failures += missing
	}
	return r
}

func pct(sorted []float64, p float64) float64 {
	return sorted[min(len(sorted)-1, int(p*float64(len(sorted))))]
}

// Env is what every storm phone knows about the pool: its addresses and the
// trust a QA image for that pool carries.
type Env struct {
	// CertProvURL is the CertProv service URL (what DHCP option 43 gives).
	CertProvURL string
	// Registrar is the pool's SIP endpoint (what the SRV lookup gives).
	Registrar discover.Endpoint
	// Trust holds the pool's root as a site root and its intermediates (what
	// the chain download gives).
	Trust *certstore.Trust
	// Resolver sends every lookup to the pool's DNS.
	Resolver *net.Resolver
}

// NewEnv builds the environment of phones signing in to p.
func NewEnv(p *labpool.Pool) (*Env, error) {
	_, httpsPort, err := net.SplitHostPort(p.Ready.HTTPS)
	if err != nil {
		return nil, fmt.Errorf("storm: pool https address: %w", err)
	}
	_, sipPort, err := net.SplitHostPort(p.Ready.SIP)
	if err != nil {
		return nil, fmt.Errorf("storm: pool sip address: %w", err)
	}
	port, err := strconv.Atoi(sipPort)
	if err != nil {
		return nil, fmt.Errorf("storm: pool sip port: %w", err)
	}
	trust := certstore.NewTrust([]*x509.Certificate{p.CA.Root()}, false).WithIntermediates(p.CA.Chain())
	return &Env{
		CertProvURL: "https://" + net.JoinHostPort(p.FQDN, httpsPort) + "/CertProv/CertProvisioningService.svc",
		Registrar:   discover.Endpoint{Host: p.FQDN, Port: port},
		Trust:       trust,
		Resolver:    dnsdisco.Resolver(p.Ready.DNS),
	}, nil
}

// httpClient returns a client that verifies the pool against e.Trust (with
// hostname verification and SNI), as the agent's web client does.
func (e *Env) httpClient() *http.Client {
	d := &net.Dialer{Resolver: e.Resolver, Timeout: 10 * time.Second}
	tr := &http.Transport{
		DialContext: d.DialContext,
		DialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			raw, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			c := tls.Client(raw, e.Trust.TLSConfig(host, time.Now))
			if err := c.HandshakeContext(ctx); err != nil {
				raw.Close()
				return nil, err
			}
			return c, nil
		},
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     30 * time.Second,
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// Phone is one storm phone: a directory user and what the phone keeps in
// flash (device id, endpoint id, key, issued certificate).
type Phone struct {
	Extension string
	SIPURI    string
	DeviceID  string
	Epid      string
	Key       crypto.Signer
	// Record is the identity after a cold sign-in (nil before).
	Record *certstore.Record
	// Expires is the registration lifetime asked for (0 = sip default).
	Expires time.Duration
}

// AddPhones adds n users (sip:sNNNNN@<domain>, extension first+i, PIN PIN)
// to p's directory, conc at a time, and returns their phones (without keys).
func AddPhones(ctx context.Context, p *labpool.Pool, n, first, conc int) ([]*Phone, error) {
	phones := make([]*Phone, n)
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(max(conc, 1))
	for i := range n {
		ext := strconv.Itoa(first + i)
		ph := &Phone{Extension: ext, SIPURI: fmt.Sprintf("sip:s%s@%s", ext, p.Ready.Domain),
			DeviceID: uuid.NewString(), Epid: fmt.Sprintf("%010x", first+i)}
		phones[i] = ph
		g.Go(func() error {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			err := p.Dir.Add(directory.User{SIPURI: ph.SIPURI, Extension: ext}, PIN, "")
			if err != nil && !errors.Is(err, directory.ErrExists) {
				return fmt.Errorf("storm: add user %s: %w", ext, err)
			}
			return nil
		})
	}
	return phones, g.Wait()
}

// GenerateKeys generates n RSA-2048 enrolment keys, using every CPU.
func GenerateKeys(ctx context.Context, n int) ([]crypto.Signer, error) {
	keys := make([]crypto.Signer, n)
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.NumCPU())
	for i := range n {
		g.Go(func() error {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			k, err := certprov.GenerateKey()
			if err != nil {
				return fmt.Errorf("storm: keygen: %w", err)
			}
			keys[i] = k
			return nil
		})
	}
	return keys, g.Wait()
}

// Enroll runs the web half of a cold sign-in: web ticket by PIN, CSR,
// GetAndPublishCert. It sets ph.Record.
func (ph *Phone) Enroll(ctx context.Context, e *Env) error {
	if ph.Key == nil {
		return errors.New("storm: phone has no key")
	}
	hc := e.httpClient()
	defer hc.CloseIdleConnections()
	wt := &webticket.Client{HTTP: hc}
	ep, err := wt.Discover(ctx, e.CertProvURL)
	if err != nil {
		return err
	}
	ticket, err := wt.ByPIN(ctx, ep, ph.Extension, webticket.Secret(PIN))
	if err != nil {
		return err
	}
	csr, err := certprov.BuildCSR(ph.Key, ticket.SIPURI)
	if err != nil {
		return fmt.Errorf("storm: csr: %w", err)
	}
	cp := &certprov.Client{HTTP: hc}
	iss, err := cp.GetAndPublishCert(ctx, ep.CertProvPort, ticket, csr, ph.DeviceID)
	if err != nil {
		return err
	}
	ph.Record = &certstore.Record{Key: ph.Key, Cert: iss.Cert, Chain: iss.Chain, SIPURI: ticket.SIPURI,
		DeviceID: ph.DeviceID, Epid: ph.Epid, NotAfter: iss.Cert.NotAfter}
	return nil
}

// Register signs in to the registrar with the stored certificate and
// returns the live session.
func (ph *Phone) Register(ctx context.Context, e *Env) (*sip.Session, error) {
	if ph.Record == nil {
		return nil, errors.New("storm: phone has no certificate")
	}
	return sip.Register(ctx, sip.Config{
		SIPURI:      ph.Record.SIPURI,
		Registrars:  []discover.Endpoint{e.Registrar},
		Certificate: ph.Record.TLSCertificate(),
		TLSConfig:   func(name string) *tls.Config { return e.Trust.TLSConfig(name, time.Now) },
		Resolver:    e.Resolver,
		Epid:        ph.Epid,
		UserAgent:   "deskphone-storm",
		Expires:     ph.Expires,
	})
}

// Cold is a cold sign-in: Enroll, then Register and Close. It returns the
// time from the PIN to registered (Close excluded).
func (ph *Phone) Cold(ctx context.Context, e *Env) (time.Duration, error) {
	start := time.Now()
	if err := ph.Enroll(ctx, e); err != nil {
		return 0, err
	}
	s, err := ph.Register(ctx, e)
	if err != nil {
		return 0, err
	}
	d := time.Since(start)
	return d, s.Close()
}

// Warm is a warm sign-in: Register with the stored certificate, then Close.
// It returns the time to registered (Close excluded).
func (ph *Phone) Warm(ctx context.Context, e *Env) (time.Duration, error) {
	start := time.Now()
	s, err := ph.Register(ctx, e)
	if err != nil {
		return 0, err
	}
	d := time.Since(start)
	return d, s.Close()
}

func ms(d time.Duration) float64 { return round2(float64(d.Microseconds()) / 1000) }

func round2(x float64) float64 { return float64(int64(x*100+0.5)) / 100 }
