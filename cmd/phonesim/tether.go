package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.bug.st/serial"

	"github.com/deskphone/deskphone/device"
	"github.com/deskphone/deskphone/device/tether"
)

// startTether serves the USB tethering link on a serial device (a pty in
// tests, as /dev/ttyGS0 is on a rig). A link that drops is reopened.
func startTether(ctx context.Context, a *device.Agent, path string, logger *slog.Logger) error {
	port, err := serial.Open(path, &serial.Mode{BaudRate: 115200})
	if err != nil {
		return fmt.Errorf("tether port %s: %w", path, err)
	}
	log := logger.With("component", "tether", "port", path)
	// One limiter for the life of the phone: replugging the cable must not
	// reset the confirmation lockout.
	lim := tether.NewLimiter()
	go func() {
		for ctx.Err() == nil {
			srv := tether.NewServer(port, a.TetherDevice(), logger, tether.WithLimiter(lim))
			err := srv.Run(ctx)
			_ = port.Close()
			if ctx.Err() != nil {
				return
			}
			log.Warn("tether link ended, reopening", "err", err)
			t := time.NewTimer(500 * time.Millisecond)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			p, err := serial.Open(path, &serial.Mode{BaudRate: 115200})
			if err != nil {
				if !errors.Is(err, context.Canceled) {
					log.Error("cannot reopen tether port", "err", err)
				}
				return
			}
			port = p
		}
	}()
	return nil
}
