package sign

import (
	"encoding/hex"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

// §6.1 (SIPE "real Communicator 2007 R2" test): the REGISTER that carried the Type-3 token
// and its 200 OK.
const (
	register61 = "REGISTER sip:cosmo.local SIP/2.0\r\n" +
		"Via: SIP/2.0/TLS 192.168.172.6:12723\r\n" +
		"Max-Forwards: 70\r\n" +
		"From: <sip:user@cosmo.local>;tag=3e49177a52;epid=c8ca638a15\r\n" +
		"To: <sip:user@cosmo.local>\r\n" +
		"Call-ID: 4037df9284354df39065195bd57a4b14\r\n" +
		"CSeq: 3 REGISTER\r\n" +
		"Contact: <sip:192.168.172.6:12723;transport=tls;ms-opaque=d3470f2e1d>;methods=\"INVITE, MESSAGE, INFO, SUBSCRIBE, OPTIONS, BYE, CANCEL, NOTIFY, ACK, REFER, BENOTIFY\";proxy=replace;+sip.instance=\"<urn:uuid:34D859DB-6585-5F91-A3B4-DE853C15347D>\"\r\n" +
		"Proxy-Authorization: NTLM qop=\"auth\", realm=\"SIP Communications Service\", opaque=\"2BDBAC9D\", targetname=\"cosmo-ocs-r2.cosmo.local\", version=4, crand=\"13317733\", cnum=\"1\", response=\"0100000029618e9651b65a7764000000\"\r\n" +
		"Content-Length: 0\r\n\r\n"
	ok61 = "SIP/2.0 200 OK\r\n" +
		"Via: SIP/2.0/TLS 192.168.172.6:12723;received=192.168.172.6;ms-received-port=12723;ms-received-cid=1E00\r\n" +
		"From: <sip:user@cosmo.local>;tag=3e49177a52;epid=c8ca638a15\r\n" +
		"To: <sip:user@cosmo.local>;tag=5E61CCD925D17E043D9A74835A88F664\r\n" +
		"Call-ID: 4037df9284354df39065195bd57a4b14\r\n" +
		"CSeq: 3 REGISTER\r\n" +
		"Contact: <sip:192.168.172.6:12723;transport=tls;ms-opaque=d3470f2e1d>;expires=7200\r\n" +
		"Expires: 7200\r\n" +
		"Authentication-Info: NTLM qop=\"auth\", opaque=\"2BDBAC9D\", srand=\"9616454F\", snum=\"1\", rspauth=\"01000000E615438A917661BE64000000\", targetname=\"cosmo-ocs-r2.cosmo.local\", realm=\"SIP Communications Service\", version=4\r\n" +
		"Content-Length: 0\r\n\r\n"

	buf61Client = "<NTLM><13317733><1><SIP Communications Service><cosmo-ocs-r2.cosmo.local><4037df9284354df39065195bd57a4b14><3><REGISTER><sip:user@cosmo.local><3e49177a52><sip:user@cosmo.local><><><><>"
	buf61Server = "<NTLM><9616454F><1><SIP Communications Service><cosmo-ocs-r2.cosmo.local><4037df9284354df39065195bd57a4b14><3><REGISTER><sip:user@cosmo.local><3e49177a52><sip:user@cosmo.local><5E61CCD925D17E043D9A74835A88F664><><><7200><200>"

	// §6.6 TLS-DSK vector.
	buf66    = "<TLS-DSK><0878f41b><1><SIP Communications Service><ocs.example.com><abc123><2><REGISTER><sip:alice@example.com><tag1><sip:alice@example.com><><><><>"
	key66    = "57E37EFD25818468E2B98EFC027D490AC0D627055409EC3667207D894E4D8E43"
	sha1_66  = "31ddc0953ff1ca7d265136908dbc3e7f5bd8eb55"
	md5_66   = "8dbe52c0648dce19fc9b9fdf4b4ddb48"
	ntlmReal = "cosmo-ocs-r2.cosmo.local"
	realm    = "SIP Communications Service"
)

func parse(t testing.TB, s string) sip.Message {
	t.Helper()
	m, err := sip.ParseMessage([]byte(s))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return m
}

func TestBuffer(t *testing.T) {
	for _, tt := range []struct {
		name    string
		f       Fields
		version int
		want    string
	}{
		{"6.1 client", Fields{
			Scheme: "NTLM", Rand: "13317733", Num: "1", Realm: realm, Target: ntlmReal,
			CallID: "4037df9284354df39065195bd57a4b14", CSeqNum: "3", CSeqMethod: "REGISTER",
			FromURI: "sip:user@cosmo.local", FromTag: "3e49177a52", ToURI: "sip:user@cosmo.local",
		}, 4, buf61Client},
		{"6.1 server", Fields{
			Scheme: "NTLM", Rand: "9616454F", Num: "1", Realm: realm, Target: ntlmReal,
			CallID: "4037df9284354df39065195bd57a4b14", CSeqNum: "3", CSeqMethod: "REGISTER",
			FromURI: "sip:user@cosmo.local", FromTag: "3e49177a52", ToURI: "sip:user@cosmo.local",
			ToTag: "5E61CCD925D17E043D9A74835A88F664", Expires: "7200", Status: "200",
		}, 4, buf61Server},
		{"version 3 is full form", Fields{Scheme: "TLS-DSK", ToURI: "sip:b@x", PAISIP: "sip:p@x", PAITel: "tel:+1"}, 3,
			"<TLS-DSK><><><><><><><><><><sip:b@x><><sip:p@x><tel:+1><>"},
		{"version 2 drops To-URI and PAI", Fields{
			Scheme: "NTLM", Rand: "r", Num: "2", Realm: realm, Target: "t", CallID: "c", CSeqNum: "5", CSeqMethod: "INVITE",
			FromURI: "sip:a@x", FromTag: "ft", ToURI: "sip:b@x", ToTag: "tt", PAISIP: "sip:p@x", PAITel: "tel:+1", Expires: "60", Status: "180",
		}, 2, "<NTLM><r><2><SIP Communications Service><t><c><5><INVITE><sip:a@x><ft><tt><60><180>"},
		{"6.6", Fields{
			Scheme: "TLS-DSK", Rand: "0878f41b", Num: "1", Realm: realm, Target: "ocs.example.com", CallID: "abc123",
			CSeqNum: "2", CSeqMethod: "REGISTER", FromURI: "sip:alice@example.com", FromTag: "tag1", ToURI: "sip:alice@example.com",
		}, 4, buf66},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := Buffer(tt.f, tt.version); got != tt.want {
				t.Errorf("Buffer =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func withSA(f Fields, scheme, rnd, num, target string) Fields {
	f.Scheme, f.Rand, f.Num, f.Realm, f.Target = scheme, rnd, num, realm, target
	return f
}

func TestFromMessage(t *testing.T) {
	for _, tt := range []struct {
		name       string
		msg        string
		rnd, num   string
		want       string
		wantFields *Fields
	}{
		{"6.1 REGISTER", register61, "13317733", "1", buf61Client, nil},
		{"6.1 200 OK", ok61, "9616454F", "1", buf61Server, nil},
		{"PAI sip and tel, Expires header, no brackets", "INVITE sip:bob@x SIP/2.0\r\n" +
			"Via: SIP/2.0/TLS 10.0.0.1:5061;branch=z9hG4bK1\r\n" +
			"From: sip:alice@x;tag=aa;epid=0123456789\r\n" +
			"To: \"Bob, B\" <sip:bob@x>\r\n" +
			"Call-ID: cid1\r\n" +
			"CSeq: 7 INVITE\r\n" +
			"P-Asserted-Identity: \"Alice <A>\" <sip:alice@x>, <tel:+15551234;ext=1>\r\n" +
			"P-Preferred-Identity: <sip:ignored@x>\r\n" +
			"Expires: 30\r\n" +
			"Content-Length: 0\r\n\r\n", "r", "9",
			"<TLS-DSK><r><9><SIP Communications Service><t><cid1><7><INVITE><sip:alice@x><aa><sip:bob@x><><sip:alice@x><tel:+15551234;ext=1><30>", nil},
		{"PPI fallback, separate headers", "MESSAGE sip:bob@x SIP/2.0\r\n" +
			"Via: SIP/2.0/TLS 10.0.0.1:5061;branch=z9hG4bK2\r\n" +
			"From: <sip:alice@x>;tag=aa\r\n" +
			"To: <sip:bob@x>;tag=bb\r\n" +
			"Call-ID: cid2\r\n" +
			"CSeq: 8 MESSAGE\r\n" +
			"P-Preferred-Identity: <tel:+1>\r\n" +
			"P-Preferred-Identity: <sip:alice@x;user=phone>\r\n" +
			"Content-Length: 0\r\n\r\n", "r", "9",
			"<TLS-DSK><r><9><SIP Communications Service><t><cid2><8><MESSAGE><sip:alice@x><aa><sip:bob@x><bb><sip:alice@x;user=phone><tel:+1><>", nil},
		{"response status from 401", "SIP/2.0 401 Unauthorized\r\n" +
			"Via: SIP/2.0/TLS 10.0.0.1:5061;branch=z9hG4bK3\r\n" +
			"From: <sip:alice@x>;tag=aa\r\n" +
			"To: <sip:alice@x>;tag=zz\r\n" +
			"Call-ID: cid3\r\n" +
			"CSeq: 2 REGISTER\r\n" +
			"Content-Length: 0\r\n\r\n", "r", "9",
			"<TLS-DSK><r><9><SIP Communications Service><t><cid3><2><REGISTER><sip:alice@x><aa><sip:alice@x><zz><><><><401>", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := FromMessage(parse(t, tt.msg))
			scheme, target := "TLS-DSK", "t"
			if strings.HasPrefix(tt.want, "<NTLM>") {
				scheme, target = "NTLM", ntlmReal
			}
			if got := Buffer(withSA(f, scheme, tt.rnd, tt.num, target), 4); got != tt.want {
				t.Errorf("buffer =\n%s\nwant\n%s\nfields %+v", got, tt.want, f)
			}
		})
	}
	if f := FromMessage(nil); f != (Fields{}) {
		t.Errorf("FromMessage(nil) = %+v", f)
	}
}

func TestMAC(t *testing.T) {
	key, _ := hex.DecodeString(key66)
	for _, tt := range []struct {
		alg  Alg
		want string
	}{{SHA1, sha1_66}, {MD5, md5_66}} {
		t.Run(tt.alg.String(), func(t *testing.T) {
			mac := MAC(tt.alg, key, buf66)
			if got := Hex(mac); got != tt.want {
				t.Fatalf("MAC = %s, want %s", got, tt.want)
			}
			for _, tt2 := range []struct {
				name string
				hex  string
				ok   bool
			}{
				{"lower", tt.want, true},
				{"upper", strings.ToUpper(tt.want), true},
				{"flipped", "0" + tt.want[1:], tt.want[0] == '0'},
				{"short", tt.want[:len(tt.want)-2], false},
				{"not hex", "zz" + tt.want[2:], false},
				{"empty", "", false},
			} {
				if got := Verify(tt.alg, key, buf66, tt2.hex); got != tt2.ok {
					t.Errorf("Verify(%s) = %v, want %v", tt2.name, got, tt2.ok)
				}
			}
			if Verify(tt.alg, key, buf66+"x", tt.want) {
				t.Error("Verify accepted another buffer")
			}
		})
	}
}

func FuzzFromMessage(f *testing.F) {
	for _, s := range []string{register61, ok61} {
		f.Add([]byte(s))
	}
	key := []byte("0123456789abcdef0123456789abcdef")
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := sip.ParseMessage(data)
		if err != nil {
			return
		}
		fl := FromMessage(m)
		for _, v := range []int{2, 4} {
			buf := Buffer(withSA(fl, "TLS-DSK", "01234567", "1", "t"), v)
			if !strings.HasPrefix(buf, "<TLS-DSK>") {
				t.Fatalf("buffer %q", buf)
			}
			if !Verify(SHA1, key, buf, Hex(MAC(SHA1, key, buf))) {
				t.Fatal("MAC does not verify")
			}
		}
	})
}

func BenchmarkBufferMAC(b *testing.B) {
	m := parse(b, ok61)
	key, _ := hex.DecodeString(key66)
	b.Run("Buffer+MAC", func(b *testing.B) {
		f := withSA(FromMessage(m), "TLS-DSK", "9616454f", "1", ntlmReal)
		b.ReportAllocs()
		for b.Loop() {
			_ = Hex(MAC(SHA1, key, Buffer(f, 4)))
		}
	})
	b.Run("FromMessage+Buffer+MAC", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			f := withSA(FromMessage(m), "TLS-DSK", "9616454f", "1", ntlmReal)
			_ = Hex(MAC(SHA1, key, Buffer(f, 4)))
		}
	})
}
