package ntp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/beevik/ntp"

	"github.com/deskphone/deskphone/board"
	"github.com/deskphone/deskphone/bootstrap/dnsdisco"
	"github.com/deskphone/deskphone/bootstrap/failure"
)

// Defaults.
const (
	DefaultFallback        = "time.windows.com"
	DefaultSamples         = 3
	DefaultMaxRootDistance = 5 * time.Second
	DefaultQueryTimeout    = 2 * time.Second
	// NoFallback disables the fallback server (tests, closed networks).
	NoFallback = "none"
)

// Querier asks one NTP server ("host" or "host:port"; port 123 when
// absent) for one sample. Response.ClockOffset must be relative to the
// clock the Syncer sets (NewQuerier's now).
type Querier func(ctx context.Context, server string) (*ntp.Response, error)

// NewQuerier returns the beevik/ntp querier: names are resolved with r (nil
// = system) and the query's timeout is the context's remaining time (5 s
// without a deadline). now is the local clock the offset is measured
// against (nil = the system clock, with kernel timestamps).
func NewQuerier(r *net.Resolver, now func() time.Time) Querier {
	return func(ctx context.Context, server string) (*ntp.Response, error) {
		timeout := 5 * time.Second
		if dl, ok := ctx.Deadline(); ok {
			timeout = time.Until(dl)
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if timeout <= 0 {
			return nil, context.DeadlineExceeded
		}
		opt := ntp.QueryOptions{
			Timeout:       timeout,
			GetSystemTime: now,
			Dialer: func(_, raddr string) (net.Conn, error) {
				d := net.Dialer{Resolver: r}
				return d.DialContext(ctx, "udp", raddr)
			},
		}
		resp, err := ntp.QueryWithOptions(server, opt)
		if err != nil {
			return nil, fmt.Errorf("ntp: query %s: %w", server, err)
		}
		return resp, nil
	}
}

// Config lists the time sources.
type Config struct {
	// Servers are DHCP option 42 addresses (port 123).
	Servers []string
	// SIPDomain enables SRV _ntp._udp.<SIPDomain> (the SRV port is used).
	SIPDomain string
	// Resolver is used for the SRV lookup and by the default querier.
	Resolver *net.Resolver
	// Fallback is the last resort (default time.windows.com; NoFallback
	// disables it).
	Fallback string
	// Samples per server (default 3); the best by RTT is used.
	Samples int
	// MaxRootDistance rejects answers farther from a reference clock
	// (default 5 s).
	MaxRootDistance time.Duration
	// QueryTimeout bounds one sample (default 2 s).
	QueryTimeout time.Duration
}

// Syncer sets the board clock from the first source that answers well.
type Syncer struct {
	cfg    Config
	clock  board.Clock
	q      Querier
	logger *slog.Logger
}

// NewSyncer returns a Syncer. q nil = NewQuerier(cfg.Resolver, clock.Now).
func NewSyncer(cfg Config, clock board.Clock, q Querier, logger *slog.Logger) *Syncer {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Fallback == "" {
		cfg.Fallback = DefaultFallback
	}
	if cfg.Samples <= 0 {
		cfg.Samples = DefaultSamples
	}
	if cfg.MaxRootDistance <= 0 {
		cfg.MaxRootDistance = DefaultMaxRootDistance
	}
	if cfg.QueryTimeout <= 0 {
		cfg.QueryTimeout = DefaultQueryTimeout
	}
	if q == nil {
		q = NewQuerier(cfg.Resolver, clock.Now)
	}
	return &Syncer{cfg: cfg, clock: clock, q: q, logger: logger.With("component", "ntp")}
}

// ErrBadAnswer marks a response that failed validation.
var ErrBadAnswer = errors.New("ntp: bad answer")

// Sync walks the sources (option 42 → SRV → fallback), takes up to Samples
// samples from each, and sets the clock from the valid sample with the
// lowest RTT of the first source that gave one. Errors are *failure.Error:
// NTPBadAnswer when some server answered but never acceptably, TimeNotSet
// otherwise (including a clock that refuses to be set).
func (s *Syncer) Sync(ctx context.Context) (Result, error) {
	var badSeen bool
	var errs []error
	try := func(server string) (Result, bool) {
		best, bad, err := s.sample(ctx, server)
		badSeen = badSeen || bad
		if err != nil {
			errs = append(errs, err)
			return Result{}, false
		}
		res := Result{
			Server:   server,
			OffsetMS: float64(best.ClockOffset) / float64(time.Millisecond),
			RTTMS:    float64(best.RTT) / float64(time.Millisecond),
			Stratum:  int(best.Stratum),
		}
		return res, true
	}

	var res Result
	ok := false
	for _, srv := range s.cfg.Servers {
		if res, ok = try(withPort(srv, 123)); ok {
			break
		}
	}
	if !ok && s.cfg.SIPDomain != "" && ctx.Err() == nil {
		targets, err := dnsdisco.LookupSRV(ctx, s.cfg.Resolver, "_ntp._udp."+s.cfg.SIPDomain, nil)
		if err != nil {
			errs = append(errs, err)
		}
		for _, t := range targets {
			if res, ok = try(net.JoinHostPort(t.Host, strconv.Itoa(t.Port))); ok {
				break
			}
		}
	}
	if !ok && s.cfg.Fallback != NoFallback && ctx.Err() == nil {
		res, ok = try(withPort(s.cfg.Fallback, 123))
	}
	if !ok {
		if err := ctx.Err(); err != nil {
			return Result{}, err
		}
		code := failure.TimeNotSet
		if badSeen {
			code = failure.NTPBadAnswer
		}
		err := errors.Join(errs...)
		if err == nil {
			err = errors.New("ntp: no time source configured")
		}
		s.logger.Error("no time", "err", err)
		return Result{}, failure.New(failure.StageTime, code, err)
	}

	offset := time.Duration(res.OffsetMS * float64(time.Millisecond))
	if err := s.clock.Set(s.clock.Now().Add(offset)); err != nil {
		return res, failure.New(failure.StageTime, failure.TimeNotSet, fmt.Errorf("ntp: set clock: %w", err))
	}
	res.ClockSet = true
	s.logger.Info("clock set", "server", res.Server, "offset_ms", res.OffsetMS, "rtt_ms", res.RTTMS, "stratum", res.Stratum)
	return res, nil
}

// sample queries server up to Samples times and returns the valid response
// with the lowest RTT. bad reports whether any answer failed validation. A
// kiss-of-death stops the queries to that server (RFC 4330 §8).
func (s *Syncer) sample(ctx context.Context, server string) (best *ntp.Response, bad bool, err error) {
	var lastErr error
	for i := 0; i < s.cfg.Samples; i++ {
		qctx, cancel := context.WithTimeout(ctx, s.cfg.QueryTimeout)
		resp, err := s.q(qctx, server)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return nil, bad, ctx.Err()
			}
			lastErr = err
			s.logger.Debug("no answer", "server", server, "sample", i, "err", err)
			if best == nil && (errors.Is(err, context.DeadlineExceeded) || isTimeout(err)) {
				// A server that is silent on the first sample is not worth
				// two more timeouts: move on to the next source.
				break
			}
			continue
		}
		if err := s.validate(resp); err != nil {
			bad, lastErr = true, fmt.Errorf("%w from %s: %w", ErrBadAnswer, server, err)
			s.logger.Warn("bad answer", "server", server, "sample", i, "err", err)
			if resp.IsKissOfDeath() {
				break
			}
			continue
		}
		if best == nil || resp.RTT < best.RTT {
			best = resp
		}
	}
	if best == nil {
		return nil, bad, lastErr
	}
	return best, bad, nil
}

func (s *Syncer) validate(r *ntp.Response) error {
	if r.IsKissOfDeath() {
		return fmt.Errorf("kiss of death %q", r.KissCode)
	}
	if r.Stratum == 0 || r.Stratum >= 16 {
		return fmt.Errorf("stratum %d", r.Stratum)
	}
	if err := r.Validate(); err != nil {
		return err
	}
	if r.RootDistance > s.cfg.MaxRootDistance {
		return fmt.Errorf("root distance %v over %v", r.RootDistance, s.cfg.MaxRootDistance)
	}
	if r.RTT < 0 {
		return fmt.Errorf("negative rtt %v", r.RTT)
	}
	return nil
}

// withPort appends :port to a host (or IP) without one.
func withPort(server string, port int) string {
	if _, _, err := net.SplitHostPort(server); err == nil {
		return server
	}
	return net.JoinHostPort(server, strconv.Itoa(port))
}

// ErrClockNotTrusted is wrapped by Gate's error.
var ErrClockNotTrusted = errors.New("ntp: clock not trusted")

// Gate reports whether the clock may judge certificates: nil when synced,
// or when now is not earlier than the firmware build date (a restored or
// battery-backed time is the caller's business; Gate only sees now).
// Otherwise a *failure.Error with code TimeNotSet.
func Gate(now, buildDate time.Time, synced bool) error {
	if synced || !now.Before(buildDate) {
		return nil
	}
	return failure.New(failure.StageTime, failure.TimeNotSet,
		fmt.Errorf("%w: %s is before the firmware build date %s", ErrClockNotTrusted,
			now.UTC().Format(time.RFC3339), buildDate.UTC().Format(time.RFC3339)))
}

// isTimeout reports whether err is a network timeout.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
