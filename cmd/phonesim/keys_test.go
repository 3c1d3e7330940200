package main

import (
	"testing"

	"github.com/deskphone/deskphone/board"
)

func TestParseKeys(t *testing.T) {
	got, err := parseKeys("1001<ok>24680<OK><back>*#<up><down>")
	if err != nil {
		t.Fatal(err)
	}
	want := []board.Key{'1', '0', '0', '1', board.KeyOK, '2', '4', '6', '8', '0', board.KeyOK, board.KeyBack, '*', '#', board.KeyUp, board.KeyDown}
	if len(got) != len(want) {
		t.Fatalf("%v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("key %d = %v, want %v", i, got[i], want[i])
		}
	}
	for _, bad := range []string{"<ok", "<nope>", "a"} {
		if _, err := parseKeys(bad); err == nil {
			t.Errorf("parseKeys(%q) accepted", bad)
		}
	}
}
