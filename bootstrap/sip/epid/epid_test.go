package epid

import (
	"regexp"
	"strings"
	"testing"
)

func TestInstance(t *testing.T) {
	for _, tt := range []struct{ epid, want string }{
		{"8248ca9ebb", "4233FD41-093B-5FD6-B5D2-651ED55969E6"}, // MS-SIPAE 4.1
		{"2ebb6f264f", "124841E4-264D-52E8-96C5-D22AA8CDC316"}, // MS-SIPAE 4.2
		{"c8ca638a15", "34D859DB-6585-5F91-A3B4-DE853C15347D"}, // SIPE tests
		{"451e9252b6", "e0de506b-a705-59cc-9bfa-d37593141231"}, // Lync fixture
	} {
		t.Run(tt.epid, func(t *testing.T) {
			got := Instance(tt.epid)
			if !strings.EqualFold(got, tt.want) {
				t.Errorf("Instance(%q) = %s, want %s", tt.epid, got, tt.want)
			}
			if got != strings.ToLower(got) {
				t.Errorf("Instance(%q) = %s, want lowercase", tt.epid, got)
			}
		})
	}
}

func TestNew(t *testing.T) {
	re := regexp.MustCompile(`^[0-9a-f]{10}$`)
	seen := map[string]bool{}
	for range 100 {
		e := New()
		if !re.MatchString(e) {
			t.Fatalf("New() = %q, want 10 lowercase hex", e)
		}
		if seen[e] {
			t.Fatalf("New() repeated %q", e)
		}
		seen[e] = true
	}
}
