package main

import (
	"net"
	"path/filepath"
	"testing"
)

func TestSDNotify(t *testing.T) {
	p := filepath.Join(t.TempDir(), "notify")
	l, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: p, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	t.Setenv("NOTIFY_SOCKET", p)
	if err := (sdWatchdog{}).Ping(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, _, err := l.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "WATCHDOG=1" {
		t.Fatalf("got %q %v", buf[:n], err)
	}
	t.Setenv("NOTIFY_SOCKET", "")
	if err := sdNotify("READY=1"); err != nil {
		t.Fatal("no socket must be a no-op")
	}
}
