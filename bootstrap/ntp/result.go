// Package ntp sets the phone's clock before any certificate is judged:
// sources DHCP option 42 → SRV _ntp._udp.<SIP domain> → a configured
// fallback (time.windows.com), three samples, best by RTT, validated
// (beevik/ntp Response.Validate, no kiss-of-death, stratum 1–15, sane root
// distance); and the clock gate that keeps certificate checks waiting until
// the time is trustworthy.
package ntp

// Result is one successful synchronisation. Its JSON form is the detail of
// `phoned diag time --json` (cli-contract.md).
type Result struct {
	Server   string  `json:"server"`
	OffsetMS float64 `json:"offset_ms"`
	RTTMS    float64 `json:"rtt_ms"`
	Stratum  int     `json:"stratum"`
	ClockSet bool    `json:"clock_set"`
}
