package tetherclient

import (
	"errors"
	"strings"
	"testing"

	"go.bug.st/serial/enumerator"
)

func TestFindPort(t *testing.T) {
	phone := &enumerator.PortDetails{Name: "/dev/ttyACM0", IsUSB: true, VID: "0525", PID: "A4A7", Product: "Gadget Serial"}
	phone2 := &enumerator.PortDetails{Name: "/dev/ttyACM1", IsUSB: true, VID: "0525", PID: "a4a7"}
	ftdi := &enumerator.PortDetails{Name: "/dev/ttyUSB0", IsUSB: true, VID: "0403", PID: "6001", Product: "FT232R"}
	uart := &enumerator.PortDetails{Name: "/dev/ttyS0"}
	for _, tt := range []struct {
		name    string
		ports   []*enumerator.PortDetails
		want    string
		wantErr error
		mention string
	}{
		{"one phone", []*enumerator.PortDetails{uart, ftdi, phone}, "/dev/ttyACM0", nil, ""},
		{"no ports", nil, "", ErrNoPhone, "no serial ports"},
		{"no phone", []*enumerator.PortDetails{uart, ftdi}, "", ErrNoPhone, "/dev/ttyUSB0 (USB 0403:6001 FT232R"},
		{"two phones", []*enumerator.PortDetails{phone, phone2}, "", ErrManyPhones, "/dev/ttyACM0, /dev/ttyACM1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FindPort(tt.ports)
			if got != tt.want || !errors.Is(err, tt.wantErr) {
				t.Fatalf("FindPort = %q, %v; want %q, %v", got, err, tt.want, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("error %q does not mention %q", err, tt.mention)
			}
		})
	}
}
