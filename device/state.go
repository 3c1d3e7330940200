package device

import (
	"github.com/deskphone/deskphone/bootstrap/failure"
)

// State is the agent's derived state. It is never set directly: nextState
// computes it from Facts, and enterState applies the side effects.
type State int

// The states, in sign-in order.
const (
	Boot State = iota
	Network
	Discovering
	TimeSync
	ChainTrust
	NeedCredentials
	Provisioning
	Registering
	Registered
	Provisioned
	Error
	Retrying
	numStates
)

var stateNames = [numStates]string{
	Boot:            "boot",
	Network:         "network",
	Discovering:     "discovering",
	TimeSync:        "time-sync",
	ChainTrust:      "chain-trust",
	NeedCredentials: "need-credentials",
	Provisioning:    "provisioning",
	Registering:     "registering",
	Registered:      "registered",
	Provisioned:     "provisioned",
	Error:           "error",
	Retrying:        "retrying",
}

// String returns the state's stable lower-case name (logs, diag, tether).
func (s State) String() string {
	if s >= 0 && s < numStates {
		return stateNames[s]
	}
	return "unknown"
}

// Facts is what the agent knows. nextState derives the state from it alone.
type Facts struct {
	BootDone        bool // config, flash state and clock restored
	LinkUp          bool // the network interface has an address
	Discovered      bool // registrar + CertProv URL known
	ClockOK         bool // NTP synced, or restored time passes the gate
	CertValid       bool // a stored certificate usable for TLS-DSK (not in the renewal window)
	ChainTrusted    bool // web services chain verified to a bundled/site root
	HaveCredentials bool // extension/number + PIN typed and not yet used
	Registered      bool // REGISTER answered 200 with a verified signature
	Provisioned     bool // in-band provisioning received
	// Err is the failure that stopped the last stage; nil while things go well.
	Err *failure.Error
	// Waiting is true while a retry backoff is running after Err.
	Waiting bool
}

// nextState is the pure state function: the state is the first missing fact
// in sign-in order. A phone with a valid stored certificate (warm boot) goes
// from TimeSync straight to Registering: the registrar's certificate is
// verified with the roots in flash, so it needs no chain download.
func nextState(f Facts) State {
	switch {
	case f.Err != nil && f.Waiting:
		return Retrying
	case f.Err != nil:
		return Error
	case !f.BootDone:
		return Boot
	case !f.LinkUp:
		return Network
	case !f.Discovered:
		return Discovering
	case !f.ClockOK:
		return TimeSync
	case f.CertValid && !f.Registered:
		return Registering
	case f.CertValid && !f.Provisioned:
		return Registered
	case f.CertValid:
		return Provisioned
	case !f.ChainTrusted:
		return ChainTrust
	case !f.HaveCredentials:
		return NeedCredentials
	default:
		return Provisioning
	}
}

// Milestone names are the phonesim --until stages (cli-contract.md). A
// milestone is reached once the facts hold it; reached() is monotone within a
// boot because facts are only cleared on failures.
const (
	MilestoneDiscovered   = "discovered"
	MilestoneTimeSet      = "time-set"
	MilestoneChainTrusted = "chain-trusted"
	MilestoneCertIssued   = "cert-issued"
	MilestoneRegistered   = "registered"
	MilestoneProvisioned  = "provisioned"
)

// Milestones lists the milestones in order.
var Milestones = []string{
	MilestoneDiscovered, MilestoneTimeSet, MilestoneChainTrusted,
	MilestoneCertIssued, MilestoneRegistered, MilestoneProvisioned,
}

// Reached reports whether the facts satisfy milestone m. A warm boot reaches
// chain-trusted and cert-issued through its stored certificate.
func (f Facts) Reached(m string) bool {
	switch m {
	case MilestoneDiscovered:
		return f.Discovered
	case MilestoneTimeSet:
		return f.Discovered && f.ClockOK
	case MilestoneChainTrusted:
		return f.ClockOK && (f.ChainTrusted || f.CertValid)
	case MilestoneCertIssued:
		return f.ClockOK && f.CertValid
	case MilestoneRegistered:
		return f.Registered
	case MilestoneProvisioned:
		return f.Registered && f.Provisioned
	}
	return false
}

// ValidMilestone reports whether m is a known milestone name.
func ValidMilestone(m string) bool {
	for _, x := range Milestones {
		if x == m {
			return true
		}
	}
	return false
}
