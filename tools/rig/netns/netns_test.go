//go:build linux

package netns

import (
	"context"
	"net"
	"testing"
	"time"
)

func TestPairPing(t *testing.T) {
	p := New(t)
	// A UDP echo in the server namespace, a client in the other one.
	var srv net.PacketConn
	if err := Do(p.Server, func() (err error) {
		srv, err = net.ListenPacket("udp4", ServerIP.String()+":0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	go func() {
		buf := make([]byte, 64)
		n, peer, err := srv.ReadFrom(buf)
		if err == nil {
			_, _ = srv.WriteTo(buf[:n], peer)
		}
	}()
	err := Do(p.Client, func() error {
		c, err := net.Dial("udp4", srv.LocalAddr().String())
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(3 * time.Second))
		if _, err := c.Write([]byte("hi")); err != nil {
			return err
		}
		buf := make([]byte, 8)
		_, err = c.Read(buf)
		return err
	})
	if err != nil {
		t.Fatalf("echo across veth: %v", err)
	}
	// The host namespace cannot reach 192.0.2.1 (no route), proving isolation.
	if out, err := Command(context.Background(), p.Client, "ip", "-o", "addr", "show", p.ClientIf).Output(); err != nil || len(out) == 0 {
		t.Fatalf("ip netns exec: %v", err)
	}
}

func TestStartWaitFor(t *testing.T) {
	p := New(t)
	proc := Start(t, p.Server, "sh", "-c", "echo ready; sleep 30")
	if err := proc.WaitFor("ready", 5*time.Second); err != nil {
		t.Fatal(err)
	}
}
