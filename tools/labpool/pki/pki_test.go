//go:debug rsa1024min=0

package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func csrFor(t *testing.T, key any, cn string) *x509.CertificateRequest {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}, key)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		t.Fatal(err)
	}
	return csr
}

func TestLoadPersistsAndVerifies(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(t.Output(), nil))
	ca, err := Load(dir, "example.test", log)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Load(dir, "example.test", log)
	if err != nil {
		t.Fatal(err)
	}
	if !ca.Root().Equal(again.Root()) || !ca.ServerCertificate().Leaf.Equal(again.ServerCertificate().Leaf) {
		t.Fatal("second load created new certificates")
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "*.key"))
	if len(matches) != 6 {
		t.Fatalf("%d key files", len(matches))
	}
	for _, m := range matches {
		st, err := os.Stat(m)
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: mode %v %v", m, st.Mode(), err)
		}
	}
	if filepath.Base(ca.RootPEMPath()) != "ca.pem" || !filepath.IsAbs(ca.RootPEMPath()) {
		t.Fatal(ca.RootPEMPath())
	}
	inter := x509.NewCertPool()
	inter.AddCert(ca.Chain()[0])
	for _, name := range []string{"pool.example.test", "127.0.0.1", "sip.example.test"} {
		opts := x509.VerifyOptions{DNSName: name, Roots: ca.RootPool(), Intermediates: inter}
		if _, err := ca.ServerCertificate().Leaf.Verify(opts); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if _, err := ca.UntrustedServerCertificate().Leaf.Verify(opts); err == nil {
			t.Errorf("%s: untrusted certificate verifies", name)
		}
	}
	if _, ok := ca.ServerCertificate().PrivateKey.(*rsa.PrivateKey); !ok {
		t.Fatal("server key is not rsa")
	}
	// Another domain reissues the server certificates, keeps the CAs.
	other, err := Load(dir, "other.test", log)
	if err != nil {
		t.Fatal(err)
	}
	if !other.Root().Equal(ca.Root()) || other.ServerCertificate().Leaf.VerifyHostname("pool.other.test") != nil {
		t.Fatal("domain change not handled")
	}
}

func TestIssueClient(t *testing.T) {
	ca, err := Load(t.TempDir(), "example.test", nil)
	if err != nil {
		t.Fatal(err)
	}
	k2048, _ := rsa.GenerateKey(rand.Reader, 2048)
	k768, _ := rsa.GenerateKey(rand.Reader, 768)
	kec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now().Add(time.Hour).Truncate(time.Second)
	for _, tt := range []struct {
		name    string
		key     any
		cn      string
		wantErr error
	}{
		{"ok", k2048, "alice@example.test", nil},
		{"sha1 csr (pidgin-sipe)", k2048, "sha1", nil},
		{"small", k768, "alice@example.test", ErrKeyPolicy},
		{"ecdsa", kec, "alice@example.test", ErrKeyPolicy},
		{"no cn", k2048, "", errors.New("any")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			csr := csrFor(t, tt.key, tt.cn)
			if tt.cn == "sha1" {
				der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
					Subject: pkix.Name{CommonName: tt.cn}, SignatureAlgorithm: x509.SHA1WithRSA}, tt.key)
				if err != nil {
					t.Fatal(err)
				}
				if csr, err = x509.ParseCertificateRequest(der); err != nil {
					t.Fatal(err)
				}
			}
			cert, err := ca.IssueClient(csr, 4320*time.Hour, now)
			if tt.wantErr != nil {
				if err == nil || (errors.Is(tt.wantErr, ErrKeyPolicy) && !errors.Is(err, ErrKeyPolicy)) {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cert.Subject.CommonName != tt.cn || !cert.NotAfter.Equal(now.Add(4320*time.Hour)) {
				t.Fatalf("cert %v %v", cert.Subject, cert.NotAfter)
			}
			_, err = cert.Verify(x509.VerifyOptions{Roots: ca.ClientCAPool(), CurrentTime: now,
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}
