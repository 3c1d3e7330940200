package sipauth

import (
	"errors"
	"maps"
	"reflect"
	"testing"
)

const (
	rlm = "SIP Communications Service"
	// §1.1 / §6.3 real Lync 2013 challenges.
	chNTLM   = `NTLM realm="SIP Communications Service", targetname="LYNC2013-SERVER.lync.loc", version=4`
	chKerb   = `Kerberos realm="SIP Communications Service", targetname="sip/LYNC2013-SERVER.lync.loc", version=4`
	chTLSDSK = `TLS-DSK realm="SIP Communications Service", targetname="LYNC2013-SERVER.lync.loc", version=4, sts-uri="https://LYNC2013-SERVER.lync.loc:443/CertProv/CertProvisioningService.svc"`
	chLeg2   = `NTLM opaque="85185AE4", gssapi-data="TlRMTVNTUAACAAAA", targetname="LYNC2013-SERVER.lync.loc", realm="SIP Communications Service", version=4`
	// §6.3 and §6.4 Authentication-Info.
	aiNTLM   = `NTLM qop="auth", opaque="0999F355", srand="AE4D44F8", snum="1", rspauth="010000006f006900a5960bc32d0f5e40", targetname="sarco04.skype2015.loc", realm="SIP Communications Service", version=4`
	aiTLSDSK = "TLS-DSK qop=\"auth\", opaque=\"F755045D\", srand=\"1D9666D9\", snum=\"17\",\r\n  rspauth=\"3359c8ac2e6229b2eb9738ac707dc8c3e54f65f0\", targetname=\"PROXY.company1\",\r\n  realm=\"SIP Communications Service\", version=4"
	// §6.1 SIPE Proxy-Authorization (gssapi-data shortened).
	authSIPE = `NTLM qop="auth", realm="SIP Communications Service", opaque="2BDBAC9D", targetname="cosmo-ocs-r2.cosmo.local", version=4, gssapi-data="TlRMTVNTUAADAAAA", crand="13317733", cnum="1", response="0100000029618e9651b65a7764000000"`
)

func TestParseChallenge(t *testing.T) {
	for _, tt := range []struct {
		name string
		in   string
		want Challenge
	}{
		{"ntlm", chNTLM, Challenge{"NTLM", map[string]string{"realm": rlm, "targetname": "LYNC2013-SERVER.lync.loc", "version": "4"}}},
		{"kerberos", chKerb, Challenge{"Kerberos", map[string]string{"realm": rlm, "targetname": "sip/LYNC2013-SERVER.lync.loc", "version": "4"}}},
		{"tls-dsk sts-uri", chTLSDSK, Challenge{"TLS-DSK", map[string]string{"realm": rlm, "targetname": "LYNC2013-SERVER.lync.loc", "version": "4",
			"sts-uri": "https://LYNC2013-SERVER.lync.loc:443/CertProv/CertProvisioningService.svc"}}},
		{"intermediate leg", chLeg2, Challenge{"NTLM", map[string]string{"opaque": "85185AE4", "gssapi-data": "TlRMTVNTUAACAAAA",
			"targetname": "LYNC2013-SERVER.lync.loc", "realm": rlm, "version": "4"}}},
		{"case, spacing, no commas, last wins", "tls-dsk  Realm = \"a\"  OPAQUE=1 realm=\"b, c\",,version=3 , x=\"q\\\"uo\\\\te\"",
			Challenge{"tls-dsk", map[string]string{"realm": "b, c", "opaque": "1", "version": "3", "x": `q"uo\te`}}},
		{"scheme only", "NTLM", Challenge{"NTLM", map[string]string{}}},
		{"empty quoted", `NTLM gssapi-data=""`, Challenge{"NTLM", map[string]string{"gssapi-data": ""}}},
		{"leading space, tab separator", " NTLM\trealm=r", Challenge{"NTLM", map[string]string{"realm": "r"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseChallenge(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got.Scheme != tt.want.Scheme || !maps.Equal(got.Params, tt.want.Params) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
			again, err := ParseChallenge(FormatChallenge(got))
			if err != nil || !maps.Equal(again.Params, got.Params) || again.Scheme != got.Scheme {
				t.Errorf("round trip %q: %+v, %v", FormatChallenge(got), again, err)
			}
		})
	}
}

func TestParseChallengeErrors(t *testing.T) {
	for _, in := range []string{"", "   ", `"NTLM"`, `NTLM realm`, `NTLM realm="x`, `NTLM =x`, `NTLM realm="a" "b"`, `NTLM, realm=x`, `NT"LM realm=x`} {
		if c, err := ParseChallenge(in); err == nil {
			t.Errorf("ParseChallenge(%q) = %+v, want error", in, c)
		} else if !errors.Is(err, ErrSyntax) {
			t.Errorf("ParseChallenge(%q) error %v does not wrap ErrSyntax", in, err)
		}
	}
}

func TestFormatChallenge(t *testing.T) {
	c := Challenge{"TLS-DSK", map[string]string{"sts-uri": "https://p/CertProv", "version": "4", "targetname": "p", "realm": rlm, "zz": "1", "opaque": "01"}}
	want := `TLS-DSK opaque="01", realm="SIP Communications Service", targetname="p", version=4, sts-uri="https://p/CertProv", zz="1"`
	if got := FormatChallenge(c); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestSelect(t *testing.T) {
	chs := ParseChallenges([]string{chNTLM, "bogus =", chKerb, chTLSDSK})
	if len(chs) != 3 {
		t.Fatalf("ParseChallenges kept %d, want 3", len(chs))
	}
	for _, tt := range []struct {
		prefer []string
		want   string
		ok     bool
	}{
		{[]string{"tls-dsk", "kerberos", "ntlm"}, "TLS-DSK", true},
		{[]string{"Digest", "NTLM"}, "NTLM", true},
		{[]string{"Digest"}, "", false},
		{nil, "NTLM", true},
	} {
		got, ok := Select(chs, tt.prefer...)
		if ok != tt.ok || got.Scheme != tt.want {
			t.Errorf("Select(%v) = %q, %v", tt.prefer, got.Scheme, ok)
		}
	}
	if _, ok := Select(nil); ok {
		t.Error("Select(nil) found something")
	}
}

func TestFormatAuthorization(t *testing.T) {
	for _, tt := range []struct {
		name string
		c    Credentials
		want string
	}{
		{"tls-dsk leg 1", Credentials{Scheme: "TLS-DSK", Realm: rlm, TargetName: "pool.lab", GSSAPIData: "FgMBAA==", IncludeGSSAPI: true, Version: 4},
			`TLS-DSK qop="auth", realm="SIP Communications Service", targetname="pool.lab", gssapi-data="FgMBAA==", version=4`},
		{"tls-dsk leg 2", Credentials{Scheme: "TLS-DSK", Opaque: "ABCD0123", Realm: rlm, TargetName: "pool.lab", GSSAPIData: "FgMB", IncludeGSSAPI: true, Version: 4},
			`TLS-DSK qop="auth", opaque="ABCD0123", realm="SIP Communications Service", targetname="pool.lab", gssapi-data="FgMB", version=4`},
		{"tls-dsk signed leg 3", Credentials{Scheme: "TLS-DSK", Opaque: "ABCD0123", Realm: rlm, TargetName: "pool.lab", Version: 4, CRand: "0878f41b", CNum: 1, Response: "31ddc0953ff1ca7d265136908dbc3e7f5bd8eb55"},
			`TLS-DSK qop="auth", opaque="ABCD0123", realm="SIP Communications Service", targetname="pool.lab", version=4, crand="0878f41b", cnum="1", response="31ddc0953ff1ca7d265136908dbc3e7f5bd8eb55"`},
		{"steady state", Credentials{Scheme: "TLS-DSK", Opaque: "ABCD0123", Realm: rlm, TargetName: "pool.lab", CRand: "deadbeef", CNum: 4294967295, Response: "00"},
			`TLS-DSK qop="auth", opaque="ABCD0123", realm="SIP Communications Service", targetname="pool.lab", crand="deadbeef", cnum="4294967295", response="00"`},
		{"ntlm empty first token", Credentials{Scheme: "NTLM", Realm: rlm, TargetName: "pool.lab", IncludeGSSAPI: true, Version: 3},
			`NTLM qop="auth", realm="SIP Communications Service", targetname="pool.lab", gssapi-data="", version=3`},
		{"escapes", Credentials{Scheme: "X", Realm: `a"b\c`}, `X qop="auth", realm="a\"b\\c", targetname=""`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := FormatAuthorization(tt.c)
			if got != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
			back, err := ParseAuthorization(got)
			if err != nil {
				t.Fatal(err)
			}
			if back != tt.c {
				t.Errorf("round trip %+v\nwant       %+v", back, tt.c)
			}
		})
	}
}

func TestParseAuthorization(t *testing.T) {
	got, err := ParseAuthorization(authSIPE)
	if err != nil {
		t.Fatal(err)
	}
	want := Credentials{Scheme: "NTLM", Opaque: "2BDBAC9D", Realm: rlm, TargetName: "cosmo-ocs-r2.cosmo.local", GSSAPIData: "TlRMTVNTUAADAAAA",
		IncludeGSSAPI: true, Version: 4, CRand: "13317733", CNum: 1, Response: "0100000029618e9651b65a7764000000"}
	if got != want {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	for _, in := range []string{`NTLM cnum="x"`, `NTLM cnum="4294967296"`, `NTLM version=-1`, `NTLM version="4x"`, `NTLM realm="`} {
		if _, err := ParseAuthorization(in); !errors.Is(err, ErrSyntax) {
			t.Errorf("ParseAuthorization(%q) = %v, want ErrSyntax", in, err)
		}
	}
}

func TestAuthInfo(t *testing.T) {
	for _, tt := range []struct {
		name string
		in   string
		want AuthInfo
	}{
		{"6.3 ntlm", aiNTLM, AuthInfo{Scheme: "NTLM", Opaque: "0999F355", SRand: "AE4D44F8", SNum: 1, RspAuth: "010000006f006900a5960bc32d0f5e40",
			TargetName: "sarco04.skype2015.loc", Realm: rlm, Version: 4}},
		{"6.4 tls-dsk folded", aiTLSDSK, AuthInfo{Scheme: "TLS-DSK", Opaque: "F755045D", SRand: "1D9666D9", SNum: 17, RspAuth: "3359c8ac2e6229b2eb9738ac707dc8c3e54f65f0",
			TargetName: "PROXY.company1", Realm: rlm, Version: 4}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseAuthInfo(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
			if tt.name == "6.3 ntlm" {
				if f := FormatAuthInfo(got); f != aiNTLM {
					t.Errorf("FormatAuthInfo = %s\nwant           %s", f, aiNTLM)
				}
			}
			back, err := ParseAuthInfo(FormatAuthInfo(got))
			if err != nil || back != got {
				t.Errorf("round trip %+v, %v", back, err)
			}
		})
	}
	if _, err := ParseAuthInfo(`TLS-DSK snum="-1"`); !errors.Is(err, ErrSyntax) {
		t.Errorf("bad snum: %v", err)
	}
}

func TestParseDiagnostics(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Diagnostics
		bad  bool
	}{
		{in: `1000;reason="Final handshake failed";source="pool01.lab.example"`,
			want: Diagnostics{Code: 1000, Reason: "Final handshake failed", Source: "pool01.lab.example"}},
		{in: ` 4140; reason="Response, from server; bad";appName="RegistrarRole";source=x `,
			want: Diagnostics{Code: 4140, Reason: "Response, from server; bad", Source: "x"}},
		{in: `52`, want: Diagnostics{Code: 52}},
		{in: `reason="x"`, bad: true},
		{in: ``, bad: true},
		{in: `1000 reason="x"`, bad: true},
		{in: `1000;reason="x`, bad: true},
	} {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDiagnostics(tt.in)
			if tt.bad {
				if !errors.Is(err, ErrSyntax) {
					t.Fatalf("got %+v, %v; want ErrSyntax", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.want.Raw = tt.in
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			back, err := ParseDiagnostics(FormatDiagnostics(got))
			back.Raw = got.Raw
			if err != nil || back != got {
				t.Errorf("round trip %+v, %v", back, err)
			}
		})
	}
}
