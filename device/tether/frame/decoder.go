package frame

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
)

// Decoder reads frames from a byte stream. It skips empty frames (runs of
// delimiters, which senders may use as idle fill or to flush a partial
// frame), and reports each bad frame as a Recoverable error without losing
// sync: the next call starts after the bad frame's delimiter.
type Decoder struct {
	r       *bufio.Reader
	enc     []byte // encoded bytes of the current frame
	payload []byte // decoded payload, reused
	skipped int    // bytes dropped while discarding an oversized frame
}

// NewDecoder returns a Decoder reading from r.
func NewDecoder(r io.Reader) *Decoder {
	return &Decoder{r: bufio.NewReaderSize(r, 4096)}
}

// Next returns the next good frame's payload. The slice is only valid until
// the following call. A Recoverable error reports one bad frame; call Next
// again to continue. Other errors come from the reader (io.EOF, a closed
// port) and end the stream; bytes of an unterminated frame are dropped.
func (d *Decoder) Next() ([]byte, error) {
	for {
		d.enc = d.enc[:0]
		tooLarge := false
		for {
			chunk, err := d.r.ReadSlice(Delimiter)
			n := len(chunk)
			if err == nil {
				n-- // drop the delimiter
			}
			if !tooLarge {
				if len(d.enc)+n > MaxEncoded {
					tooLarge = true
					d.skipped = len(d.enc)
					d.enc = d.enc[:0]
				} else {
					d.enc = append(d.enc, chunk[:n]...)
				}
			}
			if tooLarge {
				d.skipped += n
			}
			if err == nil {
				break
			}
			if err == bufio.ErrBufferFull {
				continue
			}
			return nil, err
		}
		if tooLarge {
			return nil, fmt.Errorf("%w: %d bytes before delimiter", ErrTooLarge, d.skipped)
		}
		if len(d.enc) == 0 {
			continue // idle fill or resync delimiter
		}
		p, err := Decode(d.payload, d.enc)
		d.payload = p
		if err != nil {
			return nil, fmt.Errorf("%w: %d encoded bytes", err, len(d.enc))
		}
		return p, nil
	}
}

// Split is a bufio.SplitFunc returning raw encoded frames (without
// delimiters, empty frames skipped); decode each with Decode. It is meant
// for tools that scan captures.
func Split(data []byte, atEOF bool) (advance int, token []byte, err error) {
	for {
		i := bytes.IndexByte(data[advance:], Delimiter)
		if i < 0 {
			if atEOF && advance < len(data) {
				return len(data), nil, nil // drop an unterminated tail
			}
			return advance, nil, nil
		}
		if i == 0 {
			advance++
			continue
		}
		return advance + i + 1, data[advance : advance+i], nil
	}
}
