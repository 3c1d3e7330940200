// Package faults is labpool's set of injected pool faults. A Set is shared by
// every labpool service and may change while they run, so that a test can
// clear a fault and watch the phone recover without a restart.
//
// Names (cli-contract.md): datastore-unavailable, chain-untrusted,
// webticket-down, pin-locked, registrar-503, bad-rspauth, opt43-truncated,
// srv-cross-domain, ntp-down, drop-connection, cert-auth-disabled, and
// slow:STAGE=DUR.
package faults

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// Known fault names.
const (
	DatastoreUnavailable = "datastore-unavailable"
	ChainUntrusted       = "chain-untrusted"
	WebticketDown        = "webticket-down"
	PINLocked            = "pin-locked"
	Registrar503         = "registrar-503"
	BadRspauth           = "bad-rspauth"
	Opt43Truncated       = "opt43-truncated"
	SRVCrossDomain       = "srv-cross-domain"
	NTPDown              = "ntp-down"
	DropConnection       = "drop-connection"
	// CertAuthDisabled refuses the WebTicketServiceCert binding (as
	// UseCertificateAuth=False does), so a renewing phone must ask for the PIN.
	CertAuthDisabled = "cert-auth-disabled"
)

var known = map[string]bool{
	DatastoreUnavailable: true, ChainUntrusted: true, WebticketDown: true,
	PINLocked: true, Registrar503: true, BadRspauth: true, Opt43Truncated: true,
	SRVCrossDomain: true, NTPDown: true, DropConnection: true, CertAuthDisabled: true,
}

// Known returns the plain fault names, sorted (slow:STAGE=DUR is not listed).
func Known() []string {
	var out []string
	for k := range known {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Set is a concurrency-safe set of active faults. The zero value is empty and
// ready to use; a nil *Set has no faults.
type Set struct {
	mu   sync.RWMutex
	on   map[string]bool
	slow map[string]time.Duration
}

// Parse builds a Set from command-line fault names.
func Parse(names []string) (*Set, error) {
	s := new(Set)
	for _, n := range names {
		if err := s.Add(n); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Add switches a fault on. "slow:STAGE=DUR" delays STAGE by DUR.
func (s *Set) Add(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rest, ok := strings.CutPrefix(name, "slow:"); ok {
		stage, dur, ok := strings.Cut(rest, "=")
		if !ok || stage == "" {
			return fmt.Errorf("faults: %q: want slow:STAGE=DUR", name)
		}
		d, err := time.ParseDuration(dur)
		if err != nil || d < 0 {
			return fmt.Errorf("faults: %q: bad duration %q", name, dur)
		}
		if s.slow == nil {
			s.slow = map[string]time.Duration{}
		}
		s.slow[stage] = d
		return nil
	}
	if !known[name] {
		return fmt.Errorf("faults: unknown fault %q (known: %s, slow:STAGE=DUR)", name, strings.Join(Known(), ", "))
	}
	if s.on == nil {
		s.on = map[string]bool{}
	}
	s.on[name] = true
	return nil
}

// Clear switches a fault off ("slow:STAGE" or "slow:STAGE=…" clears a delay).
func (s *Set) Clear(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rest, ok := strings.CutPrefix(name, "slow:"); ok {
		stage, _, _ := strings.Cut(rest, "=")
		delete(s.slow, stage)
		return
	}
	delete(s.on, name)
}

// Has reports whether the fault is on.
func (s *Set) Has(name string) bool {
	if s == nil {
		return false
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.on[name]
}

// Slow returns the injected delay for stage (0 if none).
func (s *Set) Slow(stage string) time.Duration {
	if s == nil {
		return 0
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.slow[stage]
}

// List returns the active faults in command-line form, sorted.
func (s *Set) List() []string {
	if s == nil {
		return nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []string
	for k := range s.on {
		out = append(out, k)
	}
	for k, d := range s.slow {
		out = append(out, "slow:"+k+"="+d.String())
	}
	sort.Strings(out)
	return out
}
