package pirig

import (
	"fmt"
	"io"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/deskphone/deskphone/board"
)

// MTDFlash is a board.Flash on a Linux MTD character device (/dev/mtdN):
// MEMGETINFO gives the geometry, MEMERASE erases, pread/pwrite read and
// program (NOR flash ANDs natively).
type MTDFlash struct {
	f         *os.File
	size      int64
	eraseSize int64
}

var _ board.Flash = (*MTDFlash)(nil)

// OpenMTD opens an MTD character device.
func OpenMTD(path string) (*MTDFlash, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("pirig: mtd: %w", err)
	}
	var info unix.MtdInfo
	if err := ioctlPtr(f, unix.MEMGETINFO, unsafe.Pointer(&info)); err != nil {
		f.Close()
		return nil, fmt.Errorf("pirig: mtd: %s: MEMGETINFO: %w", path, err)
	}
	if info.Erasesize == 0 || info.Size == 0 || info.Size%info.Erasesize != 0 {
		f.Close()
		return nil, fmt.Errorf("pirig: mtd: %s: bad geometry size=%d erase_size=%d", path, info.Size, info.Erasesize)
	}
	return &MTDFlash{f: f, size: int64(info.Size), eraseSize: int64(info.Erasesize)}, nil
}

func ioctlPtr(f *os.File, req uint, p unsafe.Pointer) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var errno unix.Errno
	if err := rc.Control(func(fd uintptr) {
		_, _, errno = unix.Syscall(unix.SYS_IOCTL, fd, uintptr(req), uintptr(p))
	}); err != nil {
		return err
	}
	if errno != 0 {
		return errno
	}
	return nil
}

// Size implements board.Flash.
func (m *MTDFlash) Size() int64 { return m.size }

// EraseSize implements board.Flash.
func (m *MTDFlash) EraseSize() int64 { return m.eraseSize }

// ReadAt implements board.Flash.
func (m *MTDFlash) ReadAt(p []byte, off int64) (int, error) {
	if off >= m.size {
		return 0, io.EOF
	}
	n, err := m.f.ReadAt(p, off)
	if err != nil && err != io.EOF {
		return n, fmt.Errorf("pirig: mtd: read at %d: %w", off, err)
	}
	return n, err
}

// WriteAt implements board.Flash.
func (m *MTDFlash) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off > m.size || int64(len(p)) > m.size-off {
		return 0, fmt.Errorf("pirig: mtd: write %d bytes at %d: out of range", len(p), off)
	}
	n, err := m.f.WriteAt(p, off)
	if err != nil {
		return n, fmt.Errorf("pirig: mtd: write at %d: %w", off, err)
	}
	return n, nil
}

// Erase implements board.Flash with the MEMERASE ioctl.
func (m *MTDFlash) Erase(off, n int64) error {
	if off < 0 || n < 0 || off > m.size || n > m.size-off {
		return fmt.Errorf("pirig: mtd: erase %d bytes at %d: out of range", n, off)
	}
	if off%m.eraseSize != 0 || n%m.eraseSize != 0 {
		return fmt.Errorf("pirig: mtd: erase %d bytes at %d: not aligned to %d", n, off, m.eraseSize)
	}
	ei := unix.EraseInfo{Start: uint32(off), Length: uint32(n)}
	if err := ioctlPtr(m.f, unix.MEMERASE, unsafe.Pointer(&ei)); err != nil {
		return fmt.Errorf("pirig: mtd: erase %d bytes at %d: %w", n, off, err)
	}
	return nil
}

// Close closes the device.
func (m *MTDFlash) Close() error { return m.f.Close() }
