package ui

import (
	"fmt"
	"strings"
)

// Lang is a user-interface language.
type Lang string

// The supported languages.
const (
	EN Lang = "en"
	FR Lang = "fr"
	DE Lang = "de"
)

// Langs lists the supported languages in a stable order.
func Langs() []Lang { return []Lang{EN, FR, DE} }

// ParseLang parses a language tag such as "fr", "de-CH" or "EN_us"; only the
// primary subtag is used.
func ParseLang(s string) (Lang, error) {
	tag := strings.ToLower(strings.TrimSpace(s))
	if i := strings.IndexAny(tag, "-_"); i >= 0 {
		tag = tag[:i]
	}
	switch l := Lang(tag); l {
	case EN, FR, DE:
		return l, nil
	}
	return "", fmt.Errorf("ui: parse lang %q: unsupported (want en, fr or de)", s)
}

func (l Lang) valid() bool { return l == EN || l == FR || l == DE }

// Screen identifies one screen of the phone.
type Screen int

// The screens. Every agent state maps to one of them: the bootstrap stages
// each have a progress screen; ticket, certificate, registration and in-band
// provisioning all show ScreenSigningIn (with Progress); the idle state is
// ScreenRegistered; any failure is ScreenError. ScreenConfirm is an overlay
// shown above whatever screen is current.
const (
	ScreenBoot        Screen = iota // splash and firmware version
	ScreenNetwork                   // waiting for link / DHCP
	ScreenLocating                  // finding the certificate web service and registrar
	ScreenSettingTime               // NTP
	ScreenChain                     // downloading the root certificate chain
	ScreenSignInUser                // phone number or extension entry
	ScreenSignInPIN                 // PIN entry (masked)
	ScreenSigningIn                 // web ticket, certificate, REGISTER, provisioning
	ScreenRegistered                // idle: user, extension, time, registrar
	ScreenError                     // cause, fix, code, retry countdown
	ScreenConfirm                   // tether confirmation: action and code
	numScreens
)

var screenNames = [numScreens]string{
	ScreenBoot:        "boot",
	ScreenNetwork:     "network",
	ScreenLocating:    "locating-server",
	ScreenSettingTime: "setting-time",
	ScreenChain:       "downloading-chain",
	ScreenSignInUser:  "sign-in-user",
	ScreenSignInPIN:   "sign-in-pin",
	ScreenSigningIn:   "signing-in",
	ScreenRegistered:  "registered",
	ScreenError:       "error",
	ScreenConfirm:     "confirm",
}

// String returns the screen's stable kebab-case name, used in snapshot file
// names ("sign-in-pin").
func (s Screen) String() string {
	if s >= 0 && s < numScreens {
		return screenNames[s]
	}
	return fmt.Sprintf("screen(%d)", int(s))
}

// Screens lists every screen in order.
func Screens() []Screen {
	out := make([]Screen, numScreens)
	for i := range out {
		out[i] = Screen(i)
	}
	return out
}

// isProgress reports whether s is a progress screen that Show can display
// with a message, an optional detail and an optional progress bar.
func (s Screen) isProgress() bool {
	switch s {
	case ScreenBoot, ScreenNetwork, ScreenLocating, ScreenSettingTime, ScreenChain, ScreenSigningIn:
		return true
	}
	return false
}
