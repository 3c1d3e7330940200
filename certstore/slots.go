package certstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"sync"

	"github.com/deskphone/deskphone/board"
)

// ErrNotExist means there is no record: the slots are erased, hold garbage,
// or the last record was deleted.
var ErrNotExist = errors.New("certstore: record does not exist")

// ErrTooLarge means a payload does not fit in one slot.
var ErrTooLarge = errors.New("certstore: record too large for slot")

// Slot header layout (see doc.go).
const (
	headerSize    = 24
	formatVersion = 1

	flagTombstone = 1 << 0
	knownFlags    = flagTombstone
)

var slotMagic = [4]byte{'D', 'P', 'S', 'L'}

// Header decode errors. They never escape Read (a bad slot is just empty),
// but the tests and the fuzz target tell them apart.
var (
	errShort    = errors.New("short header")
	errMagic    = errors.New("bad magic")
	errVersion  = errors.New("unknown format version")
	errFlags    = errors.New("unknown flags")
	errReserved = errors.New("reserved bytes not zero")
	errLength   = errors.New("payload length past the slot")
	errCRC      = errors.New("crc mismatch")
)

// header is a decoded slot header.
type header struct {
	flags  uint8
	seq    uint64
	length uint32
	crc    uint32
}

func (h header) tombstone() bool { return h.flags&flagTombstone != 0 }

// marshal encodes h, including h.crc as is.
func (h header) marshal() []byte {
	b := make([]byte, headerSize)
	copy(b[0:4], slotMagic[:])
	b[4] = formatVersion
	b[5] = h.flags
	binary.BigEndian.PutUint64(b[8:16], h.seq)
	binary.BigEndian.PutUint32(b[16:20], h.length)
	binary.BigEndian.PutUint32(b[20:24], h.crc)
	return b
}

// slotCRC is the CRC-32 over the first 20 header bytes and the payload.
func slotCRC(hdr, payload []byte) uint32 {
	c := crc32.ChecksumIEEE(hdr[:20])
	return crc32.Update(c, crc32.IEEETable, payload)
}

// encodeSlot returns the slot image (header + payload) for a record.
func encodeSlot(seq uint64, flags uint8, payload []byte) []byte {
	h := header{flags: flags, seq: seq, length: uint32(len(payload))}
	img := append(h.marshal(), payload...)
	binary.BigEndian.PutUint32(img[20:24], slotCRC(img, payload))
	return img
}

// decodeHeader decodes a slot header. It checks everything but the CRC;
// maxPayload is the room for the payload after the header.
func decodeHeader(b []byte, maxPayload int64) (header, error) {
	if len(b) < headerSize {
		return header{}, errShort
	}
	if !bytes.Equal(b[0:4], slotMagic[:]) {
		return header{}, errMagic
	}
	if b[4] != formatVersion {
		return header{}, errVersion
	}
	h := header{
		flags:  b[5],
		seq:    binary.BigEndian.Uint64(b[8:16]),
		length: binary.BigEndian.Uint32(b[16:20]),
		crc:    binary.BigEndian.Uint32(b[20:24]),
	}
	if h.flags&^knownFlags != 0 {
		return header{}, errFlags
	}
	if b[6] != 0 || b[7] != 0 {
		return header{}, errReserved
	}
	if int64(h.length) > maxPayload {
		return header{}, errLength
	}
	if h.tombstone() && h.length != 0 {
		return header{}, errLength
	}
	return h, nil
}

// decodeSlot decodes a slot image: the header, then the payload it
// announces, checked against the CRC. img may be longer than the record. The
// returned payload aliases img.
func decodeSlot(img []byte) (header, []byte, error) {
	h, err := decodeHeader(img, int64(len(img))-headerSize)
	if err != nil {
		return header{}, nil, err
	}
	payload := img[headerSize : headerSize+int(h.length)]
	if slotCRC(img, payload) != h.crc {
		return header{}, nil, errCRC
	}
	return h, payload, nil
}

// newer reports whether seq a is newer than seq b in serial-number
// arithmetic (RFC 1982), so that the counter wrapping from 2^64-1 to 0 keeps
// the order.
func newer(a, b uint64) bool { return int64(a-b) > 0 }

// pick returns the index of the winning slot among two decoded headers
// (ok[i] false for an invalid slot), or -1 when neither is valid. Equal
// sequence numbers (which Write never produces) resolve to slot 0.
func pick(h [2]header, ok [2]bool) int {
	switch {
	case ok[0] && ok[1]:
		if newer(h[1].seq, h[0].seq) {
			return 1
		}
		return 0
	case ok[0]:
		return 0
	case ok[1]:
		return 1
	}
	return -1
}

// Slots is an A/B record area over a region of flash: two erase-aligned
// halves, each holding one versioned, CRC-checked record. It is safe for
// concurrent use. The agent may use one for its own state (Layout region C).
type Slots struct {
	f        board.Flash
	off      int64
	slotSize int64

	mu sync.Mutex
}

// NewSlots returns the Slots over [off, off+size) of f. Both halves must be
// erase-aligned: off and size/2 multiples of f.EraseSize().
func NewSlots(f board.Flash, off, size int64) (*Slots, error) {
	es := f.EraseSize()
	switch {
	case es <= 0:
		return nil, fmt.Errorf("certstore: new slots: bad erase size %d", es)
	case off < 0 || size <= 0 || off+size > f.Size():
		return nil, fmt.Errorf("certstore: new slots: region [%d, %d) outside flash of %d bytes", off, off+size, f.Size())
	case off%es != 0 || size%(2*es) != 0:
		return nil, fmt.Errorf("certstore: new slots: region [%d, %d) not aligned to two erase blocks of %d", off, off+size, es)
	case size/2 <= headerSize:
		return nil, fmt.Errorf("certstore: new slots: region of %d bytes too small", size)
	}
	return &Slots{f: f, off: off, slotSize: size / 2}, nil
}

// MaxPayload is the largest payload Write accepts.
func (s *Slots) MaxPayload() int64 { return s.slotSize - headerSize }

// LogValue implements slog.LogValuer.
func (s *Slots) LogValue() slog.Value {
	return slog.GroupValue(slog.Int64("off", s.off), slog.Int64("slot_size", s.slotSize))
}

func (s *Slots) slotOff(i int) int64 { return s.off + int64(i)*s.slotSize }

// scanLocked reads both slot headers and returns the decoded, CRC-checked
// state of each slot and its payload.
func (s *Slots) scanLocked() (h [2]header, ok [2]bool, payload [2][]byte, err error) {
	for i := range 2 {
		hb := make([]byte, headerSize)
		if _, err := s.f.ReadAt(hb, s.slotOff(i)); err != nil && !errors.Is(err, io.EOF) {
			return h, ok, payload, fmt.Errorf("certstore: read slot %d header: %w", i, err)
		}
		hh, herr := decodeHeader(hb, s.MaxPayload())
		if herr != nil {
			continue
		}
		img := make([]byte, headerSize+int(hh.length))
		if _, err := s.f.ReadAt(img, s.slotOff(i)); err != nil && !errors.Is(err, io.EOF) {
			return h, ok, payload, fmt.Errorf("certstore: read slot %d: %w", i, err)
		}
		hh, p, derr := decodeSlot(img)
		if derr != nil {
			continue
		}
		h[i], ok[i], payload[i] = hh, true, p
	}
	return h, ok, payload, nil
}

// Read returns the payload of the newest valid slot, or ErrNotExist when
// there is none or it is a tombstone. Erased flash and garbage are empty,
// never an error.
func (s *Slots) Read() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.readLocked()
}

func (s *Slots) readLocked() ([]byte, error) {
	h, ok, payload, err := s.scanLocked()
	if err != nil {
		return nil, err
	}
	i := pick(h, ok)
	if i < 0 || h[i].tombstone() {
		return nil, ErrNotExist
	}
	return payload[i], nil
}

// Write stores b: it erases and programs the inactive slot, reads it back
// and verifies the CRC; the new record then wins by a higher seq. The active
// slot is never touched, so a power cut leaves the old record readable.
func (s *Slots) Write(b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writeLocked(0, b)
}

// Delete writes a tombstone by the same A/B rule; Read then returns
// ErrNotExist. It writes nothing when there is no record already.
func (s *Slots) Delete() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.readLocked(); err != nil {
		if errors.Is(err, ErrNotExist) {
			return nil
		}
		return err
	}
	return s.writeLocked(flagTombstone, nil)
}

// WriteIfChanged writes b unless the current record already equals b, to
// spare the flash; it reports whether it wrote.
func (s *Slots) WriteIfChanged(b []byte) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, err := s.readLocked()
	switch {
	case err == nil && bytes.Equal(cur, b):
		return false, nil
	case err != nil && !errors.Is(err, ErrNotExist):
		return false, err
	}
	if err := s.writeLocked(0, b); err != nil {
		return false, err
	}
	return true, nil
}

func (s *Slots) writeLocked(flags uint8, b []byte) error {
	if int64(len(b)) > s.MaxPayload() {
		return fmt.Errorf("certstore: write %d bytes (max %d): %w", len(b), s.MaxPayload(), ErrTooLarge)
	}
	h, ok, _, err := s.scanLocked()
	if err != nil {
		return err
	}
	active := pick(h, ok)
	target, seq := 0, uint64(1)
	if active >= 0 {
		target, seq = 1-active, h[active].seq+1
	}
	img := encodeSlot(seq, flags, b)
	base := s.slotOff(target)

	// Erase only the blocks the record needs (wear), then program the
	// payload first and the header last, so that a torn write never looks
	// like a complete header over a partial payload.
	es := s.f.EraseSize()
	n := (int64(len(img)) + es - 1) / es * es
	if err := s.f.Erase(base, n); err != nil {
		return fmt.Errorf("certstore: erase slot %d: %w", target, err)
	}
	if len(img) > headerSize {
		if _, err := s.f.WriteAt(img[headerSize:], base+headerSize); err != nil {
			return fmt.Errorf("certstore: write slot %d payload: %w", target, err)
		}
	}
	if _, err := s.f.WriteAt(img[:headerSize], base); err != nil {
		return fmt.Errorf("certstore: write slot %d header: %w", target, err)
	}
	if sy, ok := s.f.(board.Syncer); ok {
		if err := sy.Sync(); err != nil {
			return fmt.Errorf("certstore: sync slot %d: %w", target, err)
		}
	}
	back := make([]byte, len(img))
	if _, err := s.f.ReadAt(back, base); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("certstore: read back slot %d: %w", target, err)
	}
	if _, _, err := decodeSlot(back); err != nil || !bytes.Equal(back, img) {
		return fmt.Errorf("certstore: verify slot %d: %w", target, errCRC)
	}
	return nil
}
