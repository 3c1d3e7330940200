package storm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/deskphone/deskphone/bootstrap/sip"
	"github.com/deskphone/deskphone/tools/labpool"
)

// SoakOptions configures Soak.
type SoakOptions struct {
	// Refreshes is the number of re-registrations to wait for (default 1000).
	Refreshes int
	// Sessions is the number of phones refreshing at once (default 10). The
	// registrar grants whole seconds, so one session with a 1 s grant
	// refreshes every 500 ms; several sessions make 1,000 refreshes take
	// seconds instead of minutes.
	Sessions int
	// Expires is the registration lifetime asked for (default 1 s).
	Expires time.Duration
	// SampleEvery takes an RSS and goroutine sample every that many
	// refreshes (default 50).
	SampleEvery int
	// FirstExtension numbers the soak users (default 30000).
	FirstExtension int
	// Logger receives progress (default: discard).
	Logger *slog.Logger
}

// Sample is one measurement during the soak.
type Sample struct {
	Refreshes  int   `json:"refreshes"`
	RSSKiB     int64 `json:"rss_kib"`
	HeapKiB    int64 `json:"heap_kib"`
	Goroutines int   `json:"goroutines"`
}

// SoakReport is the soak's JSON document.
type SoakReport struct {
	Machine   string   `json:"machine"`
	Sessions  int      `json:"sessions"`
	ExpiresMS float64  `json:"expires_ms"`
	Refreshes int      `json:"refreshes"`
	WallMS    float64  `json:"wall_ms"`
	Samples   []Sample `json:"samples"`
	Failures  int      `json:"failures"`
	Errors    []string `json:"errors,omitempty"`
	// Flat is true when RSS and goroutines stayed flat (see Flatness).
	Flat bool `json:"flat"`
	// Verdict explains Flat.
	Verdict string `json:"verdict"`
}

// Flatness limits: the last sample may exceed the first by these margins.
const (
	rssFactor      = 1.5
	rssSlackKiB    = 4 << 10
	goroutineSlack = 4
)

// Flatness reports whether the last sample stays within the limits of the
// first: RSS ≤ first×1.5 + 4 MiB, goroutines ≤ first + 4.
func Flatness(samples []Sample) error {
	if len(samples) < 2 {
		return errors.New("storm: fewer than two samples")
	}
	first, last := samples[0], samples[len(samples)-1]
	var errs []error
	if lim := int64(float64(first.RSSKiB)*rssFactor) + rssSlackKiB; last.RSSKiB > lim {
		errs = append(errs, fmt.Errorf("rss grew from %d to %d KiB (limit %d)", first.RSSKiB, last.RSSKiB, lim))
	}
	if lim := first.Goroutines + goroutineSlack; last.Goroutines > lim {
		errs = append(errs, fmt.Errorf("goroutines grew from %d to %d (limit %d)", first.Goroutines, last.Goroutines, lim))
	}
	return errors.Join(errs...)
}

func (o *SoakOptions) defaults() {
	if o.Refreshes <= 0 {
		o.Refreshes = 1000
	}
	if o.Sessions <= 0 {
		o.Sessions = 10
	}
	if o.Expires <= 0 {
		o.Expires = time.Second
	}
	if o.SampleEvery <= 0 {
		o.SampleEvery = 50
	}
	if o.FirstExtension <= 0 {
		o.FirstExtension = 30000
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Soak signs o.Sessions phones in to p with a short registration lifetime,
// keeps each session alive with sip.Session.Run (which re-REGISTERs before
// expiry), and counts the refreshes the registrar sees until o.Refreshes.
// Every o.SampleEvery refreshes it samples RSS (VmRSS), heap and
// runtime.NumGoroutine. Every session is closed and every goroutine it
// started has returned when Soak returns.
func Soak(ctx context.Context, p *labpool.Pool, o SoakOptions) (SoakReport, error) {
	o.defaults()
	log := o.Logger.With("component", "soak")
	rep := SoakReport{Machine: Machine(), Sessions: o.Sessions, ExpiresMS: ms(o.Expires)}
	env, err := NewEnv(p)
	if err != nil {
		return rep, err
	}
	phones, err := AddPhones(ctx, p, o.Sessions, o.FirstExtension, o.Sessions)
	if err != nil {
		return rep, err
	}
	keys, err := GenerateKeys(ctx, min(o.Sessions, 4))
	if err != nil {
		return rep, err
	}
	sessions := make([]*sip.Session, 0, len(phones))
	defer func() {
		for _, s := range sessions {
			_ = s.Close()
		}
	}()
	for i, ph := range phones {
		ph.Key, ph.Expires = keys[i%len(keys)], o.Expires
		if err := ph.Enroll(ctx, env); err != nil {
			return rep, fmt.Errorf("storm: soak enrol %s: %w", ph.Extension, err)
		}
		s, err := ph.Register(ctx, env)
		if err != nil {
			return rep, fmt.Errorf("storm: soak register %s: %w", ph.Extension, err)
		}
		sessions = append(sessions, s)
	}
	base := refreshes(p, phones)

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		lost []string
	)
	for i, s := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Run(runCtx); err != nil && runCtx.Err() == nil {
				mu.Lock()
				lost = append(lost, fmt.Sprintf("%s: %v", phones[i].Extension, err))
				mu.Unlock()
			}
		}()
	}

	start := time.Now()
	rep.Samples = append(rep.Samples, sample(0))
	nextSample := o.SampleEvery
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	// A refresh every Expires/2 per session: allow four times the expected time.
	deadline := time.NewTimer(4*time.Duration(o.Refreshes/o.Sessions+1)*o.Expires/2 + 10*time.Second)
	defer deadline.Stop()
	n := 0
loop:
	for n < o.Refreshes {
		select {
		case <-ctx.Done():
			break loop
		case <-deadline.C:
			mu.Lock()
			lost = append(lost, fmt.Sprintf("deadline: only %d of %d refreshes", n, o.Refreshes))
			mu.Unlock()
			break loop
		case <-tick.C:
		}
		n = refreshes(p, phones) - base
		for n >= nextSample && nextSample <= o.Refreshes {
			s := sample(nextSample)
			rep.Samples = append(rep.Samples, s)
			log.Info("soak sample", "refreshes", n, "rss_kib", s.RSSKiB, "goroutines", s.Goroutines)
			nextSample += o.SampleEvery
		}
		mu.Lock()
		stop := len(lost) == len(sessions)
		mu.Unlock()
		if stop {
			break
		}
	}
	rep.WallMS = ms(time.Since(start))
	rep.Refreshes = n
	cancel()
	wg.Wait()
	for _, s := range sessions {
		_ = s.Close()
	}
	sessions = nil
	rep.Failures, rep.Errors = len(lost), lost[:min(len(lost), 5)]
	if n < o.Refreshes && rep.Failures == 0 {
		rep.Failures = 1
	}
	if err := Flatness(rep.Samples); err != nil {
		rep.Verdict = err.Error()
	} else {
		rep.Flat = true
		first, last := rep.Samples[0], rep.Samples[len(rep.Samples)-1]
		rep.Verdict = fmt.Sprintf("flat: rss %d → %d KiB, goroutines %d → %d", first.RSSKiB, last.RSSKiB, first.Goroutines, last.Goroutines)
	}
	return rep, ctx.Err()
}

// Err returns an error when the soak lost registrations or grew.
func (r SoakReport) Err() error {
	var errs []error
	if r.Failures > 0 {
		errs = append(errs, fmt.Errorf("storm: soak: %d failures: %s", r.Failures, strings.Join(r.Errors, "; ")))
	}
	if !r.Flat {
		errs = append(errs, fmt.Errorf("storm: soak: not flat: %s", r.Verdict))
	}
	return errors.Join(errs...)
}

// refreshes sums the refreshes the registrar counted for the phones.
func refreshes(p *labpool.Pool, phones []*Phone) int {
	want := map[string]bool{}
	for _, ph := range phones {
		want[strings.ToLower(ph.SIPURI)] = true
	}
	n := 0
	for _, r := range p.Reg.Registrations() {
		if want[strings.ToLower(r.AOR)] {
			n += r.Refreshes
		}
	}
	return n
}

func sample(refreshes int) Sample {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return Sample{Refreshes: refreshes, RSSKiB: procStatus("VmRSS:"), HeapKiB: int64(ms.HeapInuse >> 10),
		Goroutines: runtime.NumGoroutine()}
}

// procStatus reads a kB field of /proc/self/status (0 where there is none).
func procStatus(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}
