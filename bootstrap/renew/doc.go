// Package renew renews the phone's CertProv certificate without the PIN.
//
// A phone whose certificate is still valid proves itself with it to the
// WebTicket service's WebTicketServiceCert binding ("OCS-signed
// certificate" authentication, [MS-OCAUTHWS] 3.2; the certificate rides as
// the TLS client certificate, a project guess documented in
// bootstrap/webticket), gets a proof-of-possession web ticket for its
// stored SIP URI, and calls GetAndPublishCert with a CSR for a new key
// (signin-protocols.md §3.3–3.5, §4.1–4.4).
//
// When to renew is the caller's decision: Due reports fewer than
// DefaultRenewBefore (30 days, §3.5) left; a registrar that refuses the
// certificate is the other trigger. A refusal by the pool (certificate
// authentication off, certificate revoked, unpublished or expired) comes
// back as failure.CredentialsNeeded: ask for the PIN.
package renew
