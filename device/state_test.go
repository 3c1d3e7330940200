package device

import (
	"errors"
	"testing"

	"github.com/deskphone/deskphone/bootstrap/failure"
)

// TestNextStateExhaustive checks nextState against an independent statement
// of the rules over every combination of facts (2^9 × 3 error variants).
func TestNextStateExhaustive(t *testing.T) {
	errFact := failure.New(failure.StageDiscover, failure.DNSFailed, errors.New("x"))
	seen := map[State]bool{}
	for bits := 0; bits < 1<<9; bits++ {
		for ev := 0; ev < 3; ev++ {
			f := Facts{
				BootDone: bits&1 != 0, LinkUp: bits&2 != 0, Discovered: bits&4 != 0,
				ClockOK: bits&8 != 0, CertValid: bits&16 != 0, ChainTrusted: bits&32 != 0,
				HaveCredentials: bits&64 != 0, Registered: bits&128 != 0, Provisioned: bits&256 != 0,
			}
			if ev > 0 {
				f.Err = errFact
				f.Waiting = ev == 2
			}
			got := nextState(f)
			seen[got] = true
			var want State
			switch {
			case ev == 2:
				want = Retrying
			case ev == 1:
				want = Error
			case !f.BootDone:
				want = Boot
			case !f.LinkUp:
				want = Network
			case !f.Discovered:
				want = Discovering
			case !f.ClockOK:
				want = TimeSync
			case f.CertValid:
				switch {
				case !f.Registered:
					want = Registering
				case !f.Provisioned:
					want = Registered
				default:
					want = Provisioned
				}
			case !f.ChainTrusted:
				want = ChainTrust
			case !f.HaveCredentials:
				want = NeedCredentials
			default:
				want = Provisioning
			}
			if got != want {
				t.Fatalf("nextState(%+v) = %v, want %v", f, got, want)
			}
		}
	}
	for s := Boot; s < numStates; s++ {
		if !seen[s] {
			t.Errorf("state %v unreachable", s)
		}
		if s.String() == "unknown" || s.String() == "" {
			t.Errorf("state %d has no name", s)
		}
	}
	if State(99).String() != "unknown" {
		t.Error("out-of-range state name")
	}
}

// TestColdAndWarmPaths walks the facts as the agent learns them and checks
// the sequence of states for a cold boot and a warm boot.
func TestColdAndWarmPaths(t *testing.T) {
	steps := []func(*Facts){
		func(f *Facts) { f.BootDone = true },
		func(f *Facts) { f.LinkUp = true },
		func(f *Facts) { f.Discovered = true },
		func(f *Facts) { f.ClockOK = true },
		func(f *Facts) { f.ChainTrusted = true },
		func(f *Facts) { f.HaveCredentials = true },
		func(f *Facts) { f.CertValid = true; f.HaveCredentials = false },
		func(f *Facts) { f.Registered = true },
		func(f *Facts) { f.Provisioned = true },
	}
	var f Facts
	got := []State{nextState(f)}
	for _, s := range steps {
		s(&f)
		got = append(got, nextState(f))
	}
	want := []State{Boot, Network, Discovering, TimeSync, ChainTrust, NeedCredentials,
		Provisioning, Registering, Registered, Provisioned}
	if len(got) != len(want) {
		t.Fatalf("cold path = %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("cold path = %v, want %v", got, want)
		}
	}
	warm := Facts{BootDone: true, LinkUp: true, Discovered: true, ClockOK: true, CertValid: true}
	if s := nextState(warm); s != Registering {
		t.Fatalf("warm boot after time sync = %v, want registering", s)
	}
	for _, m := range []string{MilestoneDiscovered, MilestoneTimeSet, MilestoneChainTrusted, MilestoneCertIssued} {
		if !warm.Reached(m) {
			t.Errorf("warm facts should reach %s", m)
		}
	}
	if warm.Reached(MilestoneRegistered) || ValidMilestone("bogus") || !ValidMilestone("time-set") {
		t.Error("milestone checks wrong")
	}
}
