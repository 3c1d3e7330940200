package sipauth

import "testing"

func BenchmarkParseAuthInfo(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseAuthInfo(aiNTLM); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFormatAuthorization(b *testing.B) {
	c := Credentials{Scheme: "TLS-DSK", Opaque: "ABCD0123", Realm: rlm, TargetName: "pool.lab", CRand: "deadbeef", CNum: 42, Response: "31ddc0953ff1ca7d265136908dbc3e7f5bd8eb55"}
	b.ReportAllocs()
	for b.Loop() {
		_ = FormatAuthorization(c)
	}
}
