package sipauth

import (
	"maps"
	"testing"
)

func FuzzParseChallenge(f *testing.F) {
	for _, s := range []string{chNTLM, chKerb, chTLSDSK, chLeg2} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseChallenge(s)
		if err != nil {
			return
		}
		out := FormatChallenge(c)
		back, err := ParseChallenge(out)
		if err != nil {
			t.Fatalf("reparse %q: %v", out, err)
		}
		if back.Scheme != c.Scheme || !maps.Equal(back.Params, c.Params) {
			t.Fatalf("round trip %q: %+v != %+v", out, back, c)
		}
		_ = ParseChallenges([]string{s, out})
	})
}

func FuzzParseAuthorization(f *testing.F) {
	f.Add(authSIPE)
	f.Add(`TLS-DSK qop="auth", realm="SIP Communications Service", targetname="pool.lab", gssapi-data="FgMBAA==", version=4`)
	f.Add(`TLS-DSK qop="auth", opaque="ABCD0123", realm="SIP Communications Service", targetname="pool.lab", crand="deadbeef", cnum="7", response="00"`)
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseAuthorization(s)
		if err != nil {
			return
		}
		// What FormatAuthorization cannot express: crand/cnum without a response.
		if c.Response == "" {
			c.CRand, c.CNum = "", 0
		}
		out := FormatAuthorization(c)
		back, err := ParseAuthorization(out)
		if err != nil {
			t.Fatalf("reparse %q: %v", out, err)
		}
		if back != c {
			t.Fatalf("round trip %q:\n%+v\n%+v", out, back, c)
		}
	})
}

func FuzzParseAuthInfo(f *testing.F) {
	f.Add(aiNTLM)
	f.Add(aiTLSDSK)
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAuthInfo(s)
		if err != nil {
			return
		}
		out := FormatAuthInfo(a)
		back, err := ParseAuthInfo(out)
		if err != nil {
			t.Fatalf("reparse %q: %v", out, err)
		}
		if back != a {
			t.Fatalf("round trip %q:\n%+v\n%+v", out, back, a)
		}
	})
}

func FuzzParseDiagnostics(f *testing.F) {
	f.Add(`1000;reason="Final handshake failed";source="pool01.lab.example"`)
	f.Add(`4140;reason="Response from server does not contain a valid signature";appName="RegistrarRole"`)
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDiagnostics(s)
		if err != nil {
			return
		}
		out := FormatDiagnostics(d)
		back, err := ParseDiagnostics(out)
		if err != nil {
			t.Fatalf("reparse %q: %v", out, err)
		}
		back.Raw = d.Raw
		if back != d {
			t.Fatalf("round trip %q:\n%+v\n%+v", out, back, d)
		}
	})
}
