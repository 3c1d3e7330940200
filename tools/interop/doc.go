// Package interop holds interoperability tests of labpool against
// independent clients. The first is Debian's pidgin-sipe, a separate
// implementation of MS-SIPAE, driven by a small headless libpurple client of
// our own (sipe/client.c): it fetches a web ticket with HTTP NTLM, obtains a
// certificate from CertProv and signs in to the registrar with TLS-DSK. The
// same test measures the phone's cold PIN sign-in (cmd/phonesim) against the
// same pool for comparison.
//
// The tests need root (a network namespace, /etc/netns/<ns>/hosts and the
// pool CA in /usr/share/purple/ca-certs), gcc, libpurple-dev and
// pidgin-sipe; they skip, saying which is missing, otherwise. Set
// INTEROP_REPORT=FILE to get the timings as JSON, and INTEROP_SIPE_DEBUG=1
// to see pidgin-sipe's debug log (INTEROP_SIPE_DEBUG=unsafe adds full
// message dumps, credentials included: local debugging only).
//
// References: platform-notes.md §5.3, signin-protocols.md §1–§4.
package interop
