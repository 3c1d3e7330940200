package main

import (
	"slices"
	"testing"
)

func TestFuzzFuncs(t *testing.T) {
	for _, tt := range []struct {
		name, src string
		want      []string
	}{
		{"one", "package x\n\nfunc FuzzParse(f *testing.F) {\n}\n", []string{"FuzzParse"}},
		{"two", "func FuzzA(f *testing.F) {}\nfunc FuzzB_2(ff *testing.F) {}\n", []string{"FuzzA", "FuzzB_2"}},
		{"not fuzz", "func TestFuzzy(t *testing.T) {}\nfunc Fuzzy(t *testing.T) {}\n", nil},
		{"method or nested", "func (x) FuzzA(f *testing.F) {}\n\tfunc FuzzB(f *testing.F) {}\n", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := fuzzFuncs([]byte(tt.src)); !slices.Equal(got, tt.want) {
				t.Fatalf("fuzzFuncs = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestTail(t *testing.T) {
	if got := tail("a\nb\nc\n", 2); got != "b\nc" {
		t.Fatalf("tail = %q", got)
	}
}
