package certstore

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func recordsEqual(a, b *Record) bool {
	ea, err1 := encodeRecord(a)
	eb, err2 := encodeRecord(b)
	return err1 == nil && err2 == nil && bytes.Equal(ea, eb)
}

func TestRecordRoundTrip(t *testing.T) {
	p := newPKI(t, "pool.example.test")
	full := testRecord(t, 0, p)
	full.PendingKey = rsaKey(t, 1)
	for _, tt := range []struct {
		name string
		r    *Record
	}{
		{"full", full},
		{"pending key only", &Record{PendingKey: rsaKey(t, 2), SIPURI: "sip:bob@example.test"}},
		{"ecdsa key, no chain", &Record{Key: ecKey(t), Cert: p.leaf}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b, err := encodeRecord(tt.r)
			if err != nil {
				t.Fatal(err)
			}
			got, err := decodeRecord(b)
			if err != nil {
				t.Fatal(err)
			}
			b2, err := encodeRecord(got)
			if err != nil || !bytes.Equal(b, b2) {
				t.Fatalf("re-encoding differs (err %v)", err)
			}
			if got.Cert != nil && !got.Cert.Equal(tt.r.Cert) {
				t.Error("certificate differs")
			}
		})
	}
}

func TestDecodeRecordStrict(t *testing.T) {
	p := newPKI(t, "pool.example.test")
	k := base64.StdEncoding.EncodeToString(mustPKCS8(t, ecKey(t)))
	cert := base64.StdEncoding.EncodeToString(p.leaf.Raw)
	for _, tt := range []struct {
		name, json string
	}{
		{"empty", ``},
		{"not json", `hello`},
		{"no version", `{"key":"` + k + `"}`},
		{"null version", `{"version":null,"key":"` + k + `"}`},
		{"future version", `{"version":2,"key":"` + k + `"}`},
		{"unknown field", `{"version":1,"key":"` + k + `","pin":"1234"}`},
		{"trailing data", `{"version":1,"key":"` + k + `"} {}`},
		{"no key at all", `{"version":1,"sip_uri":"sip:a@b"}`},
		{"cert without key", `{"version":1,"pending_key":"` + k + `","cert":"` + cert + `"}`},
		{"bad base64", `{"version":1,"key":"!!!"}`},
		{"key not pkcs8", `{"version":1,"key":"` + cert + `"}`},
		{"cert garbage", `{"version":1,"key":"` + k + `","cert":"AAAA"}`},
		{"chain garbage", `{"version":1,"key":"` + k + `","cert":"` + cert + `","chain":["AAAA"]}`},
		{"chain without cert", `{"version":1,"key":"` + k + `","chain":["` + cert + `"]}`},
		{"bad time", `{"version":1,"key":"` + k + `","not_after":"soon"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if r, err := decodeRecord([]byte(tt.json)); err == nil {
				t.Fatalf("decodeRecord accepted %s: %+v", tt.name, r)
			} else if !errors.Is(err, ErrBadRecord) {
				t.Fatalf("err = %v, want ErrBadRecord", err)
			}
		})
	}
	if _, err := decodeRecord([]byte(`{"version":1,"key":"` + k + `","cert":"` + cert + `"}`)); err != nil {
		t.Fatalf("valid record rejected: %v", err)
	}
}

func mustPKCS8(t *testing.T, k any) []byte {
	t.Helper()
	b, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRecordCheck(t *testing.T) {
	p := newPKI(t, "pool.example.test")
	r := testRecord(t, 0, p) // valid t0-24h .. t0+180d
	mismatch := *r
	mismatch.Key = rsaKey(t, 1)
	noCert := &Record{PendingKey: rsaKey(t, 1)}
	for _, tt := range []struct {
		name    string
		r       *Record
		now     time.Time
		min     time.Duration
		wantErr error
	}{
		{"ok", r, t0, time.Hour, nil},
		{"no certificate", noCert, t0, 0, ErrNoCertificate},
		{"key mismatch", &mismatch, t0, 0, ErrKeyMismatch},
		{"not yet valid", r, t0.Add(-48 * time.Hour), 0, ErrNotYetValid},
		{"expired", r, t0.Add(181 * 24 * time.Hour), 0, ErrExpired},
		{"expires within an hour", r, r.Cert.NotAfter.Add(-30 * time.Minute), time.Hour, ErrExpiringSoon},
		{"exactly the minimum left", r, r.Cert.NotAfter.Add(-time.Hour), time.Hour, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.r.Check(tt.now, tt.min); !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("Check = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestRecordNeedsRenewal(t *testing.T) {
	p := newPKI(t, "pool.example.test")
	r := testRecord(t, 0, p)
	month := 30 * 24 * time.Hour
	for _, tt := range []struct {
		name string
		r    *Record
		now  time.Time
		want bool
	}{
		{"fresh", r, t0, false},
		{"inside window", r, r.Cert.NotAfter.Add(-month + time.Hour), true},
		{"at window edge", r, r.Cert.NotAfter.Add(-month), true},
		{"just before window", r, r.Cert.NotAfter.Add(-month - time.Hour), false},
		{"expired", r, r.Cert.NotAfter.Add(time.Hour), true},
		{"no certificate", &Record{PendingKey: rsaKey(t, 1)}, t0, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.r.NeedsRenewal(tt.now, month); got != tt.want {
				t.Errorf("NeedsRenewal = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRecordTLSCertificate(t *testing.T) {
	p := newPKI(t, "pool.example.test")
	r := testRecord(t, 0, p)
	c := r.TLSCertificate()
	if len(c.Certificate) != 2 || !bytes.Equal(c.Certificate[0], r.Cert.Raw) || !bytes.Equal(c.Certificate[1], p.inter.Raw) {
		t.Fatalf("TLSCertificate chain = %d certs", len(c.Certificate))
	}
	if c.PrivateKey != r.Key || c.Leaf != r.Cert {
		t.Error("TLSCertificate key or leaf not set")
	}
	if got := (&Record{PendingKey: rsaKey(t, 1)}).TLSCertificate(); got.Certificate != nil {
		t.Error("TLSCertificate without a certificate is not zero")
	}
}

func TestRecordLogValueRedacts(t *testing.T) {
	p := newPKI(t, "pool.example.test")
	r := testRecord(t, 0, p)
	r.PendingKey = rsaKey(t, 1)
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, nil))
	logger.Info("test", "record", r)
	st := Open(mustSlots(t), logger)
	if err := st.Save(r); err != nil {
		t.Fatal(err)
	}
	logger.Info("store", "store", st)
	out := buf.String()
	for _, k := range [][]byte{mustPKCS8(t, r.Key), mustPKCS8(t, r.PendingKey)} {
		enc := base64.StdEncoding.EncodeToString(k)
		if strings.Contains(out, enc[:40]) {
			t.Fatal("log output contains key material")
		}
	}
	if strings.Contains(out, rsaKey(t, 0).D.String()[:30]) {
		t.Fatal("log output contains the private exponent")
	}
	if !strings.Contains(out, "REDACTED") || !strings.Contains(out, "alice@example.test") {
		t.Fatalf("log output lacks the redacted record: %s", out)
	}
}
