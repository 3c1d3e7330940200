package inband

import (
	"reflect"
	"testing"
)

// FuzzParse parses a provisioning document, re-encodes it and checks that the
// second parse gives the same settings.
func FuzzParse(f *testing.F) {
	f.Add([]byte(sample))
	f.Add(Marshal(Settings{Groups: []Group{{Name: "x", Entries: []Entry{{Name: "a", Value: "1"}, {Name: "p", Value: "v", Property: true}}}}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(data)
		if err != nil {
			return
		}
		s2, err := Parse(Marshal(s))
		if err != nil {
			t.Fatalf("re-parse: %v\n%s", err, Marshal(s))
		}
		if !reflect.DeepEqual(s, s2) {
			t.Fatalf("round trip differs:\n%+v\n%+v", s, s2)
		}
	})
}

// FuzzParseLocationProfile does the same for location profiles.
func FuzzParseLocationProfile(f *testing.F) {
	f.Add(MarshalLocationProfile(LocationProfile{Name: "n", Rules: []Rule{{Pattern: "^1$", Translation: "+1"}}, ExternalAccessPrefix: "9"}))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParseLocationProfile(data)
		if err != nil {
			return
		}
		p2, err := ParseLocationProfile(MarshalLocationProfile(p))
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if !reflect.DeepEqual(p, p2) {
			t.Fatalf("round trip differs:\n%+v\n%+v", p, p2)
		}
	})
}
