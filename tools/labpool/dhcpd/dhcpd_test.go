package dhcpd

import (
	"errors"
	"net"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/deskphone/deskphone/bootstrap/dhcp/msuc"
	"github.com/deskphone/deskphone/tools/labpool/faults"
)

func inform(t *testing.T, class string, mt dhcpv4.MessageType) *dhcpv4.DHCPv4 {
	m, err := dhcpv4.NewInform(net.HardwareAddr{2, 0, 0, 0, 0, 1}, net.IPv4(192, 0, 2, 2),
		dhcpv4.WithMessageType(mt), dhcpv4.WithOption(dhcpv4.OptClassIdentifier(class)))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestReply(t *testing.T) {
	trunc, _ := faults.Parse([]string{faults.Opt43Truncated})
	for _, tt := range []struct {
		name    string
		req     *dhcpv4.DHCPv4
		cfg     Config
		answer  bool
		want43  error
		wantNTP int
	}{
		{name: "ms-uc-client inform", req: inform(t, "MS-UC-Client", dhcpv4.MessageTypeInform), answer: true},
		{name: "with ntp", req: inform(t, "MS-UC-Client", dhcpv4.MessageTypeInform), cfg: Config{NTP: []net.IP{net.IPv4(192, 0, 2, 1)}}, answer: true, wantNTP: 1},
		{name: "other vendor class", req: inform(t, "Polycom-VVX", dhcpv4.MessageTypeInform)},
		{name: "case differs", req: inform(t, "ms-uc-client", dhcpv4.MessageTypeInform)},
		{name: "discover", req: inform(t, "MS-UC-Client", dhcpv4.MessageTypeDiscover)},
		{name: "request", req: inform(t, "MS-UC-Client", dhcpv4.MessageTypeRequest)},
		{name: "truncated", req: inform(t, "MS-UC-Client", dhcpv4.MessageTypeInform), cfg: Config{Faults: trunc}, answer: true, want43: msuc.ErrTruncated},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.Domain, cfg.WebFQDN = "example.test", "pool.example.test"
			ack, err := New(cfg, nil).Reply(tt.req, nil)
			if (err == nil) != tt.answer {
				t.Fatalf("answer = %v, err %v", ack != nil, err)
			}
			if !tt.answer {
				return
			}
			if ack.MessageType() != dhcpv4.MessageTypeAck || !ack.YourIPAddr.IsUnspecified() || ack.TransactionID != tt.req.TransactionID {
				t.Errorf("ack = %s", ack.Summary())
			}
			info, err := msuc.DecodeOpt43(ack.Options.Get(dhcpv4.OptionVendorSpecificInformation))
			if !errors.Is(err, tt.want43) {
				t.Errorf("43: %+v %v", info, err)
			}
			if tt.want43 != nil {
				// Cut in the middle of sub-option 5: 1–4 intact, no path.
				if info.WebFQDN != "pool.example.test" || info.Port != 443 || info.RelPath != "" {
					t.Errorf("truncated 43 decoded to %+v", info)
				}
			}
			if s, err := msuc.DecodeOpt120(ack.Options.Get(dhcpv4.OptionSIPServers)); err != nil || s.Names[0] != "pool.example.test" {
				t.Errorf("120: %+v %v", s, err)
			}
			if ack.DomainName() != "example.test" || len(ack.NTPServers()) != tt.wantNTP || ack.ServerIdentifier().String() != "127.0.0.1" {
				t.Errorf("ack = %s", ack.Summary())
			}
		})
	}
}

func TestDestinations(t *testing.T) {
	req := inform(t, "MS-UC-Client", dhcpv4.MessageTypeInform)
	s := New(Config{}, nil)
	if got := s.destinations(req, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5555}); len(got) != 1 || got[0].String() != "127.0.0.1:5555" {
		t.Errorf("loopback peer: %v", got)
	}
	if got := s.destinations(req, &net.UDPAddr{IP: net.IPv4zero, Port: 68}); len(got) != 1 || got[0].String() != "192.0.2.2:68" {
		t.Errorf("raw client: %v", got)
	}
	b := New(Config{Broadcast: true}, nil)
	if got := b.destinations(req, &net.UDPAddr{IP: net.IPv4zero, Port: 68}); len(got) != 2 || got[1].String() != "255.255.255.255:68" {
		t.Errorf("broadcast: %v", got)
	}
}
