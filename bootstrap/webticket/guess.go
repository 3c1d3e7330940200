package webticket

import "encoding/base64"

// This file holds the [G] choices of the PIN web ticket (signin-protocols.md
// §4.5, §8.2, U1): each sits behind one small function so that a real trace
// can correct it in one place. labpool's web service accepts exactly these.

// pinCredentials returns the UsernameToken Username and Password for a PIN
// sign-in: the phone number or extension and the PIN, in plain text, or both
// base64-encoded when b64 is set (as the /Auth binding does, §6.8). [G]
func pinCredentials(user, pin string, b64 bool) (username, password string) {
	if b64 {
		return base64.StdEncoding.EncodeToString([]byte(user)), base64.StdEncoding.EncodeToString([]byte(pin))
	}
	return user, pin
}

// Diagnostic error ids of the web ticket service. 28020 ("No valid security
// token.") is observed (§6.9); the lockout and certificate-auth ids are
// guesses. [G]
const (
	DiagNoValidToken = 28020
	DiagPINLocked    = 28023 // [G] "The PIN is locked"
	// DiagCertAuthDisabled answers the WebTicketServiceCert binding when the
	// pool has certificate authentication switched off (UseCertificateAuth
	// False, §4.1). A revoked, unpublished or expired certificate gets
	// DiagNoValidToken. Both mean "ask for the PIN". [G]
	DiagCertAuthDisabled = 28024
)

// The WebTicketServiceCert binding (ByCertificate): OCAUTHWS 3.2 names
// "OCS-signed certificate" authentication (a WS-Security X.509 token) but
// no trace shows its wire form. The project presents the certificate as a
// TLS client certificate on the HTTPS connection to the binding's address
// (as IIS client certificate mapping does) and sends the plain RST of §4.2
// with neither a UsernameToken nor claims; the ticket names the
// certificate's SIP URI. labpool accepts exactly this. [G]
