// Package certprov obtains the phone's user certificate: it generates the
// RSA key, builds the PKCS#10 request and calls CertProv GetAndPublishCert
// with a web ticket, proving possession of the ticket's key with an
// HMAC-SHA1 XML signature over the WS-Security timestamp.
//
// The codec half (BuildEnvelope, ParseResponse) is pure and fuzzed; Client
// receives its *http.Client.
//
// # Protocol
//
// [MS-OCAUTHWS] 3.1.4.1 GetAndPublishCert; signin-protocols.md §3.3 (request),
// §3.4 (CSR), §3.5 (response), §4.4 (WS-Security proof of possession).
// Exclusive XML canonicalization (http://www.w3.org/2001/10/xml-exc-c14n#)
// comes from github.com/russellhaering/goxmldsig.
package certprov
