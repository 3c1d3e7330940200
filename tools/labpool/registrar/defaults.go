package registrar

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"

	"github.com/deskphone/deskphone/bootstrap/sip/inband"
)

// DefaultProvisioning is a realistic ServerConfiguration / ucPolicy answer
// for a pool (element names after [MS-SIPREGE] 2.2.2.5.1 and the Lync web
// service names).
func DefaultProvisioning(fqdn, domain string) inband.Settings {
	web := "https://" + fqdn + ":443"
	sc := []inband.Entry{
		{Name: "absWebServiceEnabled", Value: "true"},
		{Name: "absInternalServerUrl", Value: web + "/abs/handler"},
		{Name: "absExternalServerUrl", Value: web + "/abs/handler"},
		{Name: "organization", Value: "Example Lab"},
		{Name: "poolUri", Value: "sip:" + fqdn + ";transport=tls"},
		{Name: "poolFqdn", Value: fqdn},
		{Name: "CAHandlerInternalUri", Value: web + "/CertProv/CertProvisioningService.svc"},
		{Name: "CAHandlerInternalAnonUri", Value: "http://" + fqdn + ":80/CertProv/CertProvisioningService.svc"},
		{Name: "CAHandlerExternalUri", Value: web + "/CertProv/CertProvisioningService.svc"},
		{Name: "WebTicketInternalUri", Value: web + "/WebTicket/WebTicketService.svc"},
		{Name: "WebTicketExternalUri", Value: web + "/WebTicket/WebTicketService.svc"},
		{Name: "updatesServerInternalUrl", Value: web + "/RequestHandler/ucdevice.upx"},
		{Name: "ucEnforcePinLock", Value: "true"},
		{Name: "ucMinPinLength", Value: "5"},
		{Name: "ucPhoneTimeOut", Value: "15"},
		{Name: "ucLocationProfile", Value: "sip:" + domain + "@" + domain + ";gruu;opaque=app:locationprofile:get;default"},
		{Name: "focusFactoryUri", Value: "sip:" + domain + "@" + domain + ";gruu;opaque=app:conf:focusfactory"},
		{Name: "voiceMailUri", Value: "sip:" + domain + "@" + domain + ";opaque=app:voicemail"},
	}
	s := inband.Settings{Groups: []inband.Group{
		{Name: "ServerConfiguration", Entries: sc},
		{Name: "meetingPolicy", Entries: []inband.Entry{{Name: "AllowIPAudio", Value: "true", Property: true}}},
		{Name: "persistentChatConfiguration"},
		{Name: "ucPolicy", Entries: []inband.Entry{
			{Name: "EnableCallTransfer", Value: "true", Property: true},
			{Name: "Telephony", Value: "EnterpriseVoice", Property: true},
		}},
	}}
	// Derive the typed fields as a phone would.
	p, _ := inband.Parse(inband.Marshal(s))
	return p
}

// DefaultLocationProfile is a small dial plan for domain.
func DefaultLocationProfile(domain string) inband.LocationProfile {
	return inband.LocationProfile{
		Name: domain,
		Rules: []inband.Rule{
			{Pattern: `^(\d{4})$`, Translation: "+142555$1"},
			{Pattern: `^9(\d{10})$`, Translation: "+1$1"},
		},
		ExternalAccessPrefix:  "9",
		OptimizeDeviceDialing: true,
	}
}

// gruuFor makes a GRUU in the Lync shape
// sip:user@dom;opaque=user:epid:<22 chars>;gruu.
func gruuFor(aor, instance string) string {
	h := sha1.Sum([]byte(aor + "|" + instance))
	return aor + ";opaque=user:epid:" + base64.RawURLEncoding.EncodeToString(h[:16]) + ";gruu"
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
