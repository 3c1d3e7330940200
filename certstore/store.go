package certstore

import (
	"errors"
	"fmt"
	"log/slog"
)

// Store keeps the sign-in Record in a Slots area (Layout region A). It is
// safe for concurrent use.
type Store struct {
	s      *Slots
	logger *slog.Logger
	// decode is decodeRecord; the power-cut tests memoize it (RSA key
	// parsing dominates their run time).
	decode func([]byte) (*Record, error)
}

// Open returns the Store over s. It reads nothing; Load does.
func Open(s *Slots, logger *slog.Logger) *Store {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Store{s: s, logger: logger.With("component", "certstore"), decode: decodeRecord}
}

// Load returns the stored record, or ErrNotExist when there is none (empty
// or erased flash, garbage, or after Clear). A record that passed its CRC
// but does not decode (e.g. written by newer firmware) is an error wrapping
// ErrBadRecord.
func (st *Store) Load() (*Record, error) {
	b, err := st.s.Read()
	if err != nil {
		if errors.Is(err, ErrNotExist) {
			return nil, ErrNotExist
		}
		return nil, fmt.Errorf("certstore: load: %w", err)
	}
	r, err := st.decode(b)
	if err != nil {
		return nil, fmt.Errorf("certstore: load: %w", err)
	}
	return r, nil
}

// Save stores r by the A/B rule; an identical record is not rewritten.
func (st *Store) Save(r *Record) error {
	b, err := encodeRecord(r)
	if err != nil {
		return fmt.Errorf("certstore: save: %w", err)
	}
	wrote, err := st.s.WriteIfChanged(b)
	if err != nil {
		return fmt.Errorf("certstore: save: %w", err)
	}
	st.logger.Info("certificate record saved", "record", r, "wrote", wrote, "bytes", len(b))
	return nil
}

// Clear deletes the record (factory reset) by writing a tombstone with the
// same A/B rule, so a power cut during Clear leaves the old record or none.
func (st *Store) Clear() error {
	if err := st.s.Delete(); err != nil {
		return fmt.Errorf("certstore: clear: %w", err)
	}
	st.logger.Info("certificate record cleared")
	return nil
}

// LogValue implements slog.LogValuer; it never includes key material.
func (st *Store) LogValue() slog.Value {
	return slog.GroupValue(slog.Any("slots", st.s))
}
