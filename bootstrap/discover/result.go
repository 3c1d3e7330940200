// Package discover finds where the phone signs in: the registrar candidates
// and the Certificate Provisioning (CertProv) URL, from DHCP (DHCPINFORM with
// vendor class MS-UC-Client, options 43 + 120) with a DNS SRV/A fallback under
// the strict domain-trust rule, in the Lync Phone Edition order
// (platform-notes.md §3.1).
package discover

// Endpoint is a host (an FQDN; never an IP for TLS) and a port.
type Endpoint struct {
	Host string `json:"host"`
	Port int    `json:"port"`
}

// Result is what discovery learned. Its JSON form is the detail of
// `phoned diag discover --json` (cli-contract.md).
type Result struct {
	// Source is where the registrar came from: "dhcp", "dns", "cache" or "config".
	Source string `json:"source"`
	// Registrar is the first candidate; Candidates is the full ordered list
	// the sign-in stage walks (Registrar == Candidates[0]).
	Registrar  Endpoint   `json:"registrar"`
	Candidates []Endpoint `json:"candidates,omitempty"`
	// CertProvURL is scheme://fqdn:port/path, e.g.
	// https://pool.example.test:443/CertProv/CertProvisioningService.svc.
	CertProvURL string `json:"certprov_url"`
	// WebFQDN is the web services FQDN (option 43 sub-option 3).
	WebFQDN    string   `json:"web_fqdn"`
	NTPServers []string `json:"ntp_servers"`
	// SIPDomain is the SIP domain (from config, DHCP option 15/119 hints, or
	// the registrar FQDN's parent).
	SIPDomain string `json:"sip_domain"`
	// DHCPServer is the address of the server that answered the INFORM.
	DHCPServer string `json:"dhcp_server,omitempty"`
	// TimeOffsetSeconds is DHCP option 2, when present.
	TimeOffsetSeconds *int32 `json:"time_offset_s,omitempty"`
	// Refused are DNS SRV targets outside the SIP domain (never contacted).
	Refused []Endpoint `json:"refused,omitempty"`
	// Autodiscover lists the lyncdiscover* names that exist (diagnostics).
	Autodiscover []string `json:"autodiscover,omitempty"`
	// Warnings are non-fatal findings (e.g. "option 120 carried IPv4
	// addresses; TLS needs a name").
	Warnings []string `json:"warnings,omitempty"`
}
