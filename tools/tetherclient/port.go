package tetherclient

import (
	"errors"
	"fmt"
	"strings"

	"go.bug.st/serial/enumerator"
)

// The phone's USB gadget identifiers: the Linux gadget defaults for a
// CDC-ACM serial function (NetChip Technology vendor 0x0525, "Gadget
// Serial" product 0xa4a7), as g_serial and a configfs acm function use
// unless told otherwise. Production images may set their own; the CLI's
// --port DEV works whatever they are.
const (
	GadgetVID = "0525"
	GadgetPID = "a4a7"
)

// ErrNoPhone means no serial port with the phone's VID/PID was found.
var ErrNoPhone = errors.New("tetherclient: no phone found")

// ErrManyPhones means several serial ports match the phone's VID/PID.
var ErrManyPhones = errors.New("tetherclient: several phones found")

// FindPort picks the phone among ports. With none or several it returns
// ErrNoPhone or ErrManyPhones with a list of what it saw.
func FindPort(ports []*enumerator.PortDetails) (string, error) {
	var match, seen []string
	for _, p := range ports {
		desc := p.Name
		if p.IsUSB {
			desc = fmt.Sprintf("%s (USB %s:%s %s %s)", p.Name, strings.ToLower(p.VID), strings.ToLower(p.PID), p.Product, p.SerialNumber)
		}
		seen = append(seen, strings.TrimSpace(desc))
		if p.IsUSB && strings.EqualFold(p.VID, GadgetVID) && strings.EqualFold(p.PID, GadgetPID) {
			match = append(match, p.Name)
		}
	}
	switch {
	case len(match) == 1:
		return match[0], nil
	case len(match) > 1:
		return "", fmt.Errorf("%w: %s; choose one with --port", ErrManyPhones, strings.Join(match, ", "))
	case len(seen) == 0:
		return "", fmt.Errorf("%w: no serial ports at all (is the USB cable plugged in?); or give --port DEV", ErrNoPhone)
	}
	return "", fmt.Errorf("%w with USB id %s:%s; serial ports seen: %s; give --port DEV", ErrNoPhone, GadgetVID, GadgetPID, strings.Join(seen, "; "))
}

// AutoPort enumerates the serial ports and picks the phone (FindPort).
func AutoPort() (string, error) {
	ports, err := enumerator.GetDetailedPortsList()
	if err != nil {
		return "", fmt.Errorf("tetherclient: list serial ports: %w", err)
	}
	return FindPort(ports)
}
