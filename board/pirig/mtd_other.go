//go:build !linux

package pirig

import (
	"errors"

	"github.com/deskphone/deskphone/board"
)

// MTDFlash is only available on Linux.
type MTDFlash struct{ board.Flash }

// OpenMTD is only available on Linux.
func OpenMTD(path string) (*MTDFlash, error) {
	return nil, errors.New("pirig: mtd: only on linux")
}

// Close does nothing.
func (*MTDFlash) Close() error { return nil }
