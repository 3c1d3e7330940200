// Package tether is the device side of the USB tethering link: a command
// server speaking the deskphone tether protocol v1 (docs/tether-protocol.md)
// over a board.Tether — in production a go.bug.st/serial port on the USB
// gadget ACM function (/dev/ttyGS0), in tests one end of a pty.
//
// The agent implements the small interfaces of Device (Info, Config, Trust,
// Identity, Confirmer and the optional Watcher) and runs
// NewServer(port, dev, logger).Run(ctx). The server decodes frames
// (device/tether/frame), runs one command at a time, asks for a confirmation
// on the phone (a 6-digit code, also sent to the host) before anything that
// changes identity or trust, and rate-limits failed confirmations.
//
// PINs travel as Secret and are never logged or echoed.
package tether
