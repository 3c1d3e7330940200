package web

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/deskphone/deskphone/bootstrap/certprov"
	"github.com/deskphone/deskphone/bootstrap/failure"
	"github.com/deskphone/deskphone/bootstrap/webticket"
	"github.com/deskphone/deskphone/tools/labpool/faults"
)

const aliceDevice = "{6C7E1E4A-1B0B-4D3C-9F00-0000000000A1}"

// certClient is a webticket client whose TLS presents cert (none if cert
// is nil).
func (p *pool) certClient(t *testing.T, cert *tls.Certificate) *webticket.Client {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: testCA.RootPool(),
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			if cert == nil {
				return &tls.Certificate{}, nil
			}
			return cert, nil
		}}}
	t.Cleanup(tr.CloseIdleConnections)
	return &webticket.Client{HTTP: &http.Client{Transport: tr, Timeout: 10 * time.Second}, Logger: p.wt.Logger}
}

// enrol signs alice in by PIN and returns her certificate as a TLS client
// certificate.
func (p *pool) enrol(t *testing.T, ep webticket.Endpoints) tls.Certificate {
	t.Helper()
	_, iss, err := p.signIn(t, ep, "+14255550101", "24680")
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{iss.Cert.Raw}, PrivateKey: testKey, Leaf: iss.Cert}
}

// foreignCert is a client certificate for alice from a CA the pool does
// not know.
func foreignCert(t *testing.T, now time.Time) tls.Certificate {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Communications Server"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	leafTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "alice@example.test"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, testKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der, caDER}, PrivateKey: testKey, Leaf: leaf}
}

func TestCertBindingRenews(t *testing.T) {
	p := newPool(t, Config{})
	ep := p.discover(t)
	if ep.Cert != p.base+CertPath {
		t.Fatalf("cert port %q, want %q", ep.Cert, p.base+CertPath)
	}
	cur := p.enrol(t, ep)
	wt := p.certClient(t, &cur)
	ctx := context.Background()
	t0 := time.Now()
	tk, err := wt.ByCertificate(ctx, ep)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("certificate web ticket in %v", time.Since(t0))
	if tk.SIPURI != "sip:alice@example.test" || len(tk.ProofKey) != 32 || tk.Expires.Sub(tk.Created) != DefaultTicketLifetime {
		t.Fatalf("ticket %+v", tk)
	}
	newKey, err := certprov.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	csr, _ := certprov.BuildCSR(newKey, tk.SIPURI)
	iss, err := p.cp.GetAndPublishCert(ctx, ep.CertProvPort, tk, csr, aliceDevice)
	if err != nil {
		t.Fatal(err)
	}
	if !iss.Cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(newKey.Public()) {
		t.Fatal("renewed certificate is not for the new key")
	}
	if err := p.dir.CheckClientCert("sip:alice@example.test", iss.Cert); err != nil {
		t.Fatal(err)
	}
	if !logLine(p.logs.String(), `msg="web ticket issued"`, "sip_uri=sip:alice@example.test", "binding=cert") {
		t.Error("no web ticket log line with binding=cert")
	}
	// The PIN binding and metadata still work without a client certificate.
	if _, _, err := p.signIn(t, p.discover(t), "+14255550101", "24680"); err != nil {
		t.Fatal(err)
	}
}

func TestCertBindingRefusals(t *testing.T) {
	for _, tt := range []struct {
		name  string
		setup func(t *testing.T, p *pool, cur *tls.Certificate) *tls.Certificate
		code  failure.Code
		diag  int
	}{
		{"no client certificate", func(*testing.T, *pool, *tls.Certificate) *tls.Certificate { return nil },
			failure.CredentialsNeeded, diagNoValidToken},
		{"cert-auth-disabled", func(_ *testing.T, p *pool, cur *tls.Certificate) *tls.Certificate {
			_ = p.faults.Add(faults.CertAuthDisabled)
			return cur
		}, failure.CredentialsNeeded, diagCertAuthDisabled},
		{"revoked", func(t *testing.T, p *pool, cur *tls.Certificate) *tls.Certificate {
			if n, err := p.dir.Revoke("sip:alice@example.test", ""); err != nil || n != 1 {
				t.Fatalf("revoke: %d %v", n, err)
			}
			return cur
		}, failure.CredentialsNeeded, diagNoValidToken},
		{"expired", func(_ *testing.T, p *pool, cur *tls.Certificate) *tls.Certificate {
			p.clk.Advance(DefaultCertValidity + time.Hour)
			return cur
		}, failure.CredentialsNeeded, diagNoValidToken},
		{"unpublished", func(t *testing.T, p *pool, _ *tls.Certificate) *tls.Certificate {
			csr, _ := certprov.BuildCSR(testKey, "sip:alice@example.test")
			req, _ := x509.ParseCertificateRequest(csr)
			c, err := testCA.IssueClient(req, time.Hour, p.clk.Now())
			if err != nil {
				t.Fatal(err)
			}
			return &tls.Certificate{Certificate: [][]byte{c.Raw}, PrivateKey: testKey, Leaf: c}
		}, failure.CredentialsNeeded, diagNoValidToken},
		{"another ca", func(t *testing.T, p *pool, _ *tls.Certificate) *tls.Certificate {
			c := foreignCert(t, p.clk.Now())
			return &c
		}, failure.CredentialsNeeded, diagNoValidToken},
		{"webticket-down", func(_ *testing.T, p *pool, cur *tls.Certificate) *tls.Certificate {
			_ = p.faults.Add(faults.WebticketDown)
			return cur
		}, failure.TicketUnavailable, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := newPool(t, Config{})
			ep := p.discover(t)
			cur := p.enrol(t, ep)
			_, err := p.certClient(t, tt.setup(t, p, &cur)).ByCertificate(context.Background(), ep)
			wantCode(t, err, tt.code)
			if tt.diag == 0 {
				return
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("error %d", tt.diag)) {
				t.Errorf("err %v, want diagnostic %d", err, tt.diag)
			}
			if !logLine(p.logs.String(), `msg="certificate sign-in refused"`) {
				t.Error("refusal not logged")
			}
		})
	}
}

func TestCertAuthFaultClears(t *testing.T) {
	p := newPool(t, Config{})
	ep := p.discover(t)
	cur := p.enrol(t, ep)
	wt := p.certClient(t, &cur)
	_ = p.faults.Add(faults.CertAuthDisabled)
	_, err := wt.ByCertificate(context.Background(), ep)
	wantCode(t, err, failure.CredentialsNeeded)
	p.faults.Clear(faults.CertAuthDisabled)
	if _, err := wt.ByCertificate(context.Background(), ep); err != nil {
		t.Fatalf("after clearing the fault: %v", err)
	}
}

func TestCertBindingRejectsUsernameToken(t *testing.T) {
	p := newPool(t, Config{})
	ep := p.discover(t)
	cur := p.enrol(t, ep)
	wt := p.certClient(t, &cur)
	body := webticket.BuildRST(webticket.RSTRequest{Context: "c", AppliesTo: ep.CertProvPort,
		ClientEntropy: make([]byte, 32), Username: "101", Password: "24680"})
	req, _ := http.NewRequest(http.MethodPost, ep.Cert, bytes.NewReader(body))
	req.Header.Set("SOAPAction", `"`+webticket.SOAPActionIssue+`"`)
	resp, err := wt.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("status %d, want 400", resp.StatusCode)
	}
}
