// Package webticket obtains a web ticket (a SAML 1.1 assertion with a
// symmetric proof key) from the pool's WebTicket service, the credential the
// phone presents to CertProv GetAndPublishCert.
//
// The package has two halves, as every bootstrap stage does: a pure codec
// (BuildRST, ParseRSTR, ParseWSDL, ParseFault, ParseDiagnostics, PSHA1) that
// is fuzzed, and a Client that receives its *http.Client.
//
// # Protocol
//
// [MS-OCAUTHWS] and WS-Trust 1.3; the request and response layout follows
// signin-protocols.md §3.2 (metadata), §4.2 (RST), §4.3 (RSTR) and §6.7 (the
// P_SHA1 proof key). The PIN binding is not publicly documented: the format
// used here is the project's best guess (§4.5, §8.2, uncertainty U1) and sits
// behind pinCredentials so that it can be corrected from a real trace. The
// certificate binding (ByCertificate, used for renewal) is a guess as well;
// see guess.go.
package webticket
