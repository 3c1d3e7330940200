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
// token.") is observed (§6.9); the lockout id is a guess. [G]
const (
	DiagNoValidToken = 28020
	DiagPINLocked    = 28023 // [G] "The PIN is locked"
)
