package ntpd

import (
	"encoding/binary"
	"testing"
	"time"
)

func clientReq(vn byte) []byte {
	b := make([]byte, 48)
	b[0] = vn<<3 | 3
	binary.BigEndian.PutUint64(b[40:], 0x0123456789ABCDEF)
	return b
}

func TestReply(t *testing.T) {
	now := time.Date(2026, 11, 23, 10, 0, 0, 500_000_000, time.UTC)
	s := New(Config{Stratum: 4, Now: func() time.Time { return now }}, nil)
	r, ok := s.Reply(clientReq(4), now)
	if !ok {
		t.Fatal("no reply")
	}
	if r[0] != 4<<3|4 || r[1] != 4 || binary.BigEndian.Uint64(r[24:]) != 0x0123456789ABCDEF {
		t.Errorf("header % X", r[:32])
	}
	if secs := binary.BigEndian.Uint32(r[40:]); int64(secs) != now.Unix()+ntpEpoch {
		t.Errorf("transmit secs %d", secs)
	}
	if frac := binary.BigEndian.Uint32(r[44:]); frac != 1<<31 {
		t.Errorf("transmit frac %#x, want 0x80000000", frac)
	}
	for _, bad := range [][]byte{nil, make([]byte, 47), make([]byte, 48), clientReq(0), clientReq(5), append([]byte{4<<3 | 4}, make([]byte, 47)...)} {
		if _, ok := s.Reply(bad, now); ok {
			t.Errorf("answered % X", bad[:min(len(bad), 4)])
		}
	}
	kod := New(Config{KissCode: "RATE"}, nil)
	r, _ = kod.Reply(clientReq(3), now)
	if r[1] != 0 || string(r[12:16]) != "RATE" || r[0]>>6 != 3 {
		t.Errorf("kod header % X", r[:16])
	}
}
