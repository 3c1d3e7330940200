package certstore

import "github.com/deskphone/deskphone/board"

// Region is a byte range [Off, Off+Size) of a flash partition.
type Region struct {
	Off, Size int64
}

// Layout splits the agent's flash partition into its three regions (see
// the package documentation): the certificate Store, the site roots and the
// agent's device state. Each is meant for NewSlots, which checks alignment
// (the partition size must be a multiple of 8 × EraseSize).
func Layout(f board.Flash) (cert, roots, state Region) {
	size := f.Size()
	half, threeQ := size/2, 3*size/4
	cert = Region{Off: 0, Size: half}
	roots = Region{Off: half, Size: threeQ - half}
	state = Region{Off: threeQ, Size: size - threeQ}
	return cert, roots, state
}

// OpenSlots is NewSlots over a Region.
func OpenSlots(f board.Flash, r Region) (*Slots, error) {
	return NewSlots(f, r.Off, r.Size)
}
