package sim

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/deskphone/deskphone/board"
)

// ErrPowerCut is returned by every Flash operation once simulated power is
// lost (see CutAfterBytes and CutAfterOps), until PowerOn.
var ErrPowerCut = errors.New("sim: power cut")

// ErrOutOfRange is returned by Flash.WriteAt and Flash.Erase for a range that
// does not fit in the flash. ReadAt follows io.ReaderAt and returns io.EOF.
var ErrOutOfRange = errors.New("sim: flash: out of range")

// ErrUnaligned is returned by Flash.Erase when off or n is not a multiple of
// the erase size.
var ErrUnaligned = errors.New("sim: flash: erase not aligned to erase block")

// ErrClosed is returned by Flash operations after Close.
var ErrClosed = errors.New("sim: flash: closed")

// Flash is a simulated raw flash partition with NOR/NAND semantics, on the
// idea of u-root's spimock (our own code):
//
//   - Erase sets whole erase blocks to 0xFF; off and n must be erase-aligned.
//   - WriteAt ANDs the new bytes into the stored ones: a write can clear bits
//     but never set them; only an erase sets them back.
//   - Power can be cut after a number of bytes (mid-operation) or after a
//     number of operations, to test crash consistency.
//
// A Flash is either in memory (NewFlash) or backed by an image file
// (OpenFlashFile) that every write and erase goes through, so that a second
// process sees the state left by the first (warm boot). It is safe for
// concurrent use.
type Flash struct {
	mu        sync.Mutex
	data      []byte
	eraseSize int64
	file      *os.File // nil when in memory

	ops   int
	bytes int64

	cutBytes int64 // bytes still allowed before the cut; <0: not armed
	cutOps   int   // ops still allowed before the cut; <0: not armed
	down     bool  // power is cut
	closed   bool
}

var (
	_ board.Flash  = (*Flash)(nil)
	_ board.Syncer = (*Flash)(nil)
)

// NewFlash returns an in-memory flash of size bytes, fully erased (0xFF).
// It panics if eraseSize is not positive or does not divide size: that is a
// programming error.
func NewFlash(size, eraseSize int64) *Flash {
	if err := checkGeometry(size, eraseSize); err != nil {
		panic(err)
	}
	return newFlash(erased(size), eraseSize, nil)
}

// OpenFlashFile opens the flash image at path, creating it fully erased
// (0xFF, mode 0600) if it does not exist. An existing image whose size is not
// size is an error. Every write and erase is written through to the file;
// Sync fsyncs it.
func OpenFlashFile(path string, size, eraseSize int64) (*Flash, error) {
	if err := checkGeometry(size, eraseSize); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sim: flash: open image: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("sim: flash: stat image: %w", err)
	}
	var data []byte
	switch st.Size() {
	case 0:
		data = erased(size)
		if _, err := f.WriteAt(data, 0); err != nil {
			f.Close()
			return nil, fmt.Errorf("sim: flash: initialise image: %w", err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, fmt.Errorf("sim: flash: sync image: %w", err)
		}
	case size:
		data = make([]byte, size)
		if _, err := f.ReadAt(data, 0); err != nil {
			f.Close()
			return nil, fmt.Errorf("sim: flash: read image: %w", err)
		}
	default:
		f.Close()
		return nil, fmt.Errorf("sim: flash: image %s is %d bytes, want %d", path, st.Size(), size)
	}
	return newFlash(data, eraseSize, f), nil
}

func newFlash(data []byte, eraseSize int64, file *os.File) *Flash {
	return &Flash{data: data, eraseSize: eraseSize, file: file, cutBytes: -1, cutOps: -1}
}

func checkGeometry(size, eraseSize int64) error {
	if eraseSize <= 0 || size <= 0 || size%eraseSize != 0 {
		return fmt.Errorf("sim: flash: bad geometry size=%d erase_size=%d", size, eraseSize)
	}
	return nil
}

func erased(n int64) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = 0xFF
	}
	return b
}

// Size implements board.Flash.
func (f *Flash) Size() int64 { return int64(len(f.data)) }

// EraseSize implements board.Flash.
func (f *Flash) EraseSize() int64 { return f.eraseSize }

// ReadAt implements board.Flash (io.ReaderAt). Reading past the end returns
// the bytes up to the end and io.EOF.
func (f *Flash) ReadAt(p []byte, off int64) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.usableLocked(); err != nil {
		return 0, fmt.Errorf("sim: flash: read at %d: %w", off, err)
	}
	if off < 0 {
		return 0, fmt.Errorf("sim: flash: read at %d: %w", off, ErrOutOfRange)
	}
	if off >= int64(len(f.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// WriteAt implements board.Flash (io.WriterAt): each byte is ANDed into the
// stored byte. A range outside the flash is rejected whole with
// ErrOutOfRange. If power is cut during the write, exactly the first n bytes
// are applied and it returns (n, ErrPowerCut).
func (f *Flash) WriteAt(p []byte, off int64) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.usableLocked(); err != nil {
		return 0, fmt.Errorf("sim: flash: write at %d: %w", off, err)
	}
	if off < 0 || off > int64(len(f.data)) || int64(len(p)) > int64(len(f.data))-off {
		return 0, fmt.Errorf("sim: flash: write %d bytes at %d: %w", len(p), off, ErrOutOfRange)
	}
	k, cut := f.budgetLocked(int64(len(p)))
	for i := range k {
		f.data[off+i] &= p[i]
	}
	f.bytes += k
	if err := f.persistLocked(off, k); err != nil {
		return 0, fmt.Errorf("sim: flash: write at %d: %w", off, err)
	}
	if cut {
		return int(k), fmt.Errorf("sim: flash: write at %d: %w", off, ErrPowerCut)
	}
	f.ops++
	return len(p), nil
}

// Erase implements board.Flash: it sets n bytes at off to 0xFF. Both must be
// multiples of EraseSize. If power is cut during the erase, the first k bytes
// of the range are erased, the rest are left as they were, and it returns
// ErrPowerCut.
func (f *Flash) Erase(off, n int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.usableLocked(); err != nil {
		return fmt.Errorf("sim: flash: erase at %d: %w", off, err)
	}
	if off < 0 || n < 0 || off > int64(len(f.data)) || n > int64(len(f.data))-off {
		return fmt.Errorf("sim: flash: erase %d bytes at %d: %w", n, off, ErrOutOfRange)
	}
	if off%f.eraseSize != 0 || n%f.eraseSize != 0 {
		return fmt.Errorf("sim: flash: erase %d bytes at %d: %w", n, off, ErrUnaligned)
	}
	k, cut := f.budgetLocked(n)
	for i := off; i < off+k; i++ {
		f.data[i] = 0xFF
	}
	f.bytes += k
	if err := f.persistLocked(off, k); err != nil {
		return fmt.Errorf("sim: flash: erase at %d: %w", off, err)
	}
	if cut {
		return fmt.Errorf("sim: flash: erase at %d: %w", off, ErrPowerCut)
	}
	f.ops++
	return nil
}

// Sync implements board.Syncer: it fsyncs the image file (a no-op in memory).
func (f *Flash) Sync() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.usableLocked(); err != nil {
		return fmt.Errorf("sim: flash: sync: %w", err)
	}
	if f.file == nil {
		return nil
	}
	if err := f.file.Sync(); err != nil {
		return fmt.Errorf("sim: flash: sync: %w", err)
	}
	return nil
}

// CutAfterBytes arms a power cut: after n more bytes are written or erased,
// power is lost, in the middle of the operation that would go past n (n = 0
// cuts at the very start of the next write or erase). A negative n disarms.
func (f *Flash) CutAfterBytes(n int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n < 0 {
		n = -1
	}
	f.cutBytes = n
}

// CutAfterOps arms a power cut: after n more WriteAt/Erase operations
// complete, the next one fails with nothing applied. A negative n disarms.
func (f *Flash) CutAfterOps(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n < 0 {
		n = -1
	}
	f.cutOps = n
}

// PowerOn restores power: operations work again, on the contents as the cut
// left them. Any armed cut is disarmed.
func (f *Flash) PowerOn() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = false
	f.cutBytes = -1
	f.cutOps = -1
}

// PoweredOff reports whether power is currently cut.
func (f *Flash) PoweredOff() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.down
}

// Ops returns how many WriteAt and Erase operations completed so far (a cut
// operation does not count). Sweeps run a workload once, read Ops, then
// replay it with CutAfterOps(0 … Ops-1).
func (f *Flash) Ops() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ops
}

// BytesWritten returns how many bytes were written or erased so far,
// including those applied by a cut operation.
func (f *Flash) BytesWritten() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.bytes
}

// Snapshot returns a copy of the whole flash contents, whatever the power
// state (as a test would read the chip with a programmer).
func (f *Flash) Snapshot() []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]byte(nil), f.data...)
}

// Close releases the image file. Further operations return ErrClosed.
func (f *Flash) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	f.closed = true
	if f.file == nil {
		return nil
	}
	if err := f.file.Close(); err != nil {
		return fmt.Errorf("sim: flash: close: %w", err)
	}
	return nil
}

func (f *Flash) usableLocked() error {
	switch {
	case f.closed:
		return ErrClosed
	case f.down:
		return ErrPowerCut
	}
	return nil
}

// budgetLocked decides how many of n bytes the next operation applies before
// an armed cut, and whether power is lost during it.
func (f *Flash) budgetLocked(n int64) (applied int64, cut bool) {
	if f.cutOps == 0 {
		f.down = true
		f.cutOps = -1
		return 0, true
	}
	if f.cutBytes >= 0 && n > f.cutBytes {
		applied = f.cutBytes
		f.cutBytes = -1
		f.down = true
		return applied, true
	}
	if f.cutBytes >= 0 {
		f.cutBytes -= n
	}
	if f.cutOps > 0 {
		f.cutOps--
	}
	return n, false
}

// persistLocked writes data[off:off+n] through to the image file.
func (f *Flash) persistLocked(off, n int64) error {
	if f.file == nil || n == 0 {
		return nil
	}
	if _, err := f.file.WriteAt(f.data[off:off+n], off); err != nil {
		return err
	}
	return nil
}
