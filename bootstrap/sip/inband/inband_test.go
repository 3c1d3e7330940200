package inband

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

const sample = `<?xml version="1.0" encoding="utf-8"?>
<provisionGroupList xmlns="http://schemas.microsoft.com/2006/09/sip/provisiongrouplist-notification">
  <provisionGroup name="ServerConfiguration">
    <absInternalServerUrl>https://pool.example.test/abs/handler</absInternalServerUrl>
    <poolUri>sip:pool.example.test;transport=tls</poolUri>
    <CAHandlerInternalUri>https://pool.example.test:443/CertProv/CertProvisioningService.svc</CAHandlerInternalUri>
    <CAHandlerInternalAnonUri>http://pool.example.test:80/CertProv/CertProvisioningService.svc</CAHandlerInternalAnonUri>
    <CAHandlerExternalUri>https://web.example.test:443/CertProv/CertProvisioningService.svc</CAHandlerExternalUri>
    <WebTicketInternalUri>https://pool.example.test:443/WebTicket/WebTicketService.svc</WebTicketInternalUri>
    <ucLocationProfile>sip:example.test@example.test;gruu;opaque=app:locationprofile:get;default</ucLocationProfile>
    <ucMinPinLength>5</ucMinPinLength>
    <ucEnforcePinLock>true</ucEnforcePinLock>
    <ucPhoneTimeOut>15</ucPhoneTimeOut>
    <nested><a>1</a></nested>
  </provisionGroup>
  <provisionGroup name="ucPolicy">
    <propertyEntryList>
      <property name="EnableCallTransfer">true</property>
      <property name="Telephony">EnterpriseVoice</property>
    </propertyEntryList>
  </provisionGroup>
</provisionGroupList>`

func TestParse(t *testing.T) {
	s, err := Parse([]byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, got, want string }{
		{"pool", s.Pool, "sip:pool.example.test;transport=tls"},
		{"registrar", s.Registrar, "pool.example.test"},
		{"cahandler", s.CAHandlerInternalUri, "https://pool.example.test:443/CertProv/CertProvisioningService.svc"},
		{"cahandler anon", s.CAHandlerInternalAnonUri, "http://pool.example.test:80/CertProv/CertProvisioningService.svc"},
		{"cahandler ext", s.CAHandlerExternalUri, "https://web.example.test:443/CertProv/CertProvisioningService.svc"},
		{"webticket", s.WebTicketInternalUri, "https://pool.example.test:443/WebTicket/WebTicketService.svc"},
		{"abs", s.ABSInternalServerURL, "https://pool.example.test/abs/handler"},
		{"raw property", s.Raw["ucPolicy/Telephony"], "EnterpriseVoice"},
	} {
		if tt.got != tt.want {
			t.Errorf("%s = %q, want %q", tt.name, tt.got, tt.want)
		}
	}
	if s.MinPinLength != 5 || !s.EnforcePinLock || s.PhoneTimeout != 15 {
		t.Errorf("pin policy = %d %v %d", s.MinPinLength, s.EnforcePinLock, s.PhoneTimeout)
	}
	if _, ok := s.Raw["ServerConfiguration/nested"]; ok {
		t.Errorf("nested element kept as an entry")
	}
	// Round trip.
	s2, err := Parse(Marshal(s))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s, s2) {
		t.Errorf("round trip:\n%+v\n%+v", s, s2)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tt := range []struct {
		name string
		body string
		want error
	}{
		{"empty", "", ErrNotFound},
		{"wrong root", "<x/>", nil},
		{"truncated", `<provisionGroupList><provisionGroup name="a"><b>1</b>`, nil},
		{"too large", "<provisionGroupList>" + strings.Repeat(" ", MaxBody) + "</provisionGroupList>", ErrTooLarge},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.body))
			if err == nil {
				t.Fatal("no error")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestRequest(t *testing.T) {
	b := Request()
	if !bytes.Contains(b, []byte(RequestNamespace)) {
		t.Fatalf("namespace missing: %s", b)
	}
	got, err := ParseRequest(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, DefaultGroups) {
		t.Fatalf("groups = %q", got)
	}
}

func TestLocationProfile(t *testing.T) {
	p := LocationProfile{
		Name:                  "example.test",
		Rules:                 []Rule{{Pattern: `^(\d{4})$`, Translation: "+1425555$1"}, {Pattern: `^9(\d+)$`, Translation: "+$1"}},
		ExternalAccessPrefix:  "9",
		OptimizeDeviceDialing: true,
	}
	got, err := ParseLocationProfile(MarshalLocationProfile(p))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, p) {
		t.Fatalf("got %+v", got)
	}
}

func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse([]byte(sample)); err != nil {
			b.Fatal(err)
		}
	}
}
