package main

import (
	"errors"
	"net"
	"os"

	"github.com/deskphone/deskphone/board"
)

// sdNotify sends one sd_notify(3) message ("READY=1", "WATCHDOG=1",
// "STOPPING=1") to $NOTIFY_SOCKET. Without the variable (not started by
// systemd with Type=notify) it does nothing.
func sdNotify(msg string) error {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil
	}
	if path[0] == '@' { // abstract socket
		path = "\x00" + path[1:]
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Write([]byte(msg))
	return err
}

// sdWatchdog is a board.Watchdog that feeds systemd's WatchdogSec, and the
// board's own hardware watchdog when there is one. The agent pings it only
// while its health is not fatal, so a wedged agent gets restarted.
type sdWatchdog struct{ hw board.Watchdog }

// Ping implements board.Watchdog.
func (w sdWatchdog) Ping() error {
	var errs []error
	if w.hw != nil {
		errs = append(errs, w.hw.Ping())
	}
	errs = append(errs, sdNotify("WATCHDOG=1"))
	return errors.Join(errs...)
}
