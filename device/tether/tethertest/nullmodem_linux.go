package tethertest

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// NullModem joins two pty pairs like `socat PTY PTY`: what is written to the
// tty at DevicePath comes out of the tty at HostPath and vice versa. Open
// each path with go.bug.st/serial. The modem keeps a spare descriptor on
// each tty, so an end can be closed and reopened (the cable is unplugged at
// the host and plugged back) without hanging up the line; bytes left in a
// tty's input queue stay there, as on a real serial line.
type NullModem struct {
	DevicePath string
	HostPath   string

	devMaster, hostMaster *os.File
	devKeep, hostKeep     *os.File

	mu     sync.Mutex
	budget [2]int // bytes still forwarded per direction; -1 = unlimited
	wg     sync.WaitGroup
}

// Directions for Cut.
const (
	ToDevice = 0
	ToHost   = 1
)

// NewNullModem opens the two pty pairs and starts relaying. Close it when
// done.
func NewNullModem() (*NullModem, error) {
	dm, ds, err := pty.Open()
	if err != nil {
		return nil, fmt.Errorf("tethertest: pty: %w", err)
	}
	hm, hs, err := pty.Open()
	if err != nil {
		dm.Close()
		ds.Close()
		return nil, fmt.Errorf("tethertest: pty: %w", err)
	}
	if dm, err = pollable(dm); err == nil {
		hm, err = pollable(hm)
	}
	if err != nil {
		for _, f := range []*os.File{dm, hm, ds, hs} {
			if f != nil {
				f.Close()
			}
		}
		return nil, err
	}
	n := &NullModem{DevicePath: ds.Name(), HostPath: hs.Name(), devMaster: dm, hostMaster: hm,
		devKeep: ds, hostKeep: hs, budget: [2]int{-1, -1}}
	for _, f := range []*os.File{ds, hs} {
		if err := makeRaw(f); err != nil {
			n.Close()
			return nil, err
		}
	}
	n.wg.Go(func() { n.pump(dm, hm, ToDevice) })
	n.wg.Go(func() { n.pump(hm, dm, ToHost) })
	return n, nil
}

// pollable returns f reopened in non-blocking mode, so that its reads go
// through the runtime poller and Close interrupts them (creack/pty leaves
// the master in blocking mode). It closes f.
func pollable(f *os.File) (*os.File, error) {
	defer f.Close()
	raw, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	nfd := -1
	cerr := raw.Control(func(fd uintptr) { nfd, err = unix.Dup(int(fd)) })
	if cerr != nil || err != nil {
		return nil, fmt.Errorf("tethertest: dup pty master: %w", errors.Join(cerr, err))
	}
	if err := unix.SetNonblock(nfd, true); err != nil {
		unix.Close(nfd)
		return nil, fmt.Errorf("tethertest: pty master: %w", err)
	}
	return os.NewFile(uintptr(nfd), f.Name()), nil
}

// makeRaw puts the slave tty in raw mode (no echo, no line discipline), so
// that nothing is echoed before go.bug.st/serial opens it.
func makeRaw(f *os.File) error {
	raw, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ierr error
	err = raw.Control(func(fd uintptr) {
		t, err := unix.IoctlGetTermios(int(fd), unix.TCGETS)
		if err != nil {
			ierr = err
			return
		}
		t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
		t.Oflag &^= unix.OPOST
		t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
		t.Cflag &^= unix.CSIZE | unix.PARENB
		t.Cflag |= unix.CS8
		t.Cc[unix.VMIN] = 1
		t.Cc[unix.VTIME] = 0
		ierr = unix.IoctlSetTermios(int(fd), unix.TCSETS, t)
	})
	if err == nil {
		err = ierr
	}
	if err != nil {
		return fmt.Errorf("tethertest: raw mode on %s: %w", f.Name(), err)
	}
	return nil
}

// Cut lets n more bytes through in direction dir (ToDevice or ToHost), then
// drops everything: the cable is pulled mid-transfer. n < 0 reconnects.
func (m *NullModem) Cut(dir, n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.budget[dir] = n
}

// Reconnect undoes Cut in both directions.
func (m *NullModem) Reconnect() {
	m.Cut(ToDevice, -1)
	m.Cut(ToHost, -1)
}

// Inject writes raw bytes into direction dir, as line noise would.
func (m *NullModem) Inject(dir int, b []byte) error {
	dst := m.devMaster
	if dir == ToHost {
		dst = m.hostMaster
	}
	_, err := dst.Write(b)
	return err
}

func (m *NullModem) pump(dst, src *os.File, dir int) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			m.mu.Lock()
			k := n
			if b := m.budget[dir]; b >= 0 {
				k = min(n, b)
				m.budget[dir] = b - k
			}
			m.mu.Unlock()
			if k > 0 {
				if _, werr := dst.Write(buf[:k]); werr != nil {
					return
				}
			}
		}
		if err != nil {
			return
		}
	}
}

// Close stops the relay and closes the ptys.
func (m *NullModem) Close() error {
	for _, f := range []*os.File{m.devMaster, m.hostMaster} {
		if f != nil {
			f.Close()
		}
	}
	m.wg.Wait()
	for _, f := range []*os.File{m.devKeep, m.hostKeep} {
		if f != nil {
			f.Close()
		}
	}
	return nil
}
