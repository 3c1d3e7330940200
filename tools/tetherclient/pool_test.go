package tetherclient

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/deskphone/deskphone/bootstrap/webticket"
	"github.com/deskphone/deskphone/device/tether/tethertest"
	"github.com/deskphone/deskphone/tools/labpool"
)

// TestPoolIssuerAgainstLabpool runs the provisioning relay's pool half
// against the simulated pool: web ticket with the domain password over
// WinNegotiate, then GetAndPublishCert with a phone-style CSR.
func TestPoolIssuerAgainstLabpool(t *testing.T) {
	logs := &tethertest.LogBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pool, err := labpool.Start(ctx, labpool.Options{Demo: true, NoDHCP: true, StateDir: t.TempDir(), Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()

	caPEM, err := os.ReadFile(pool.Ready.CAPEM)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("no CA in ready line's ca_pem")
	}
	// pool.example.test resolves to the pool's loopback listener.
	dialer := &net.Dialer{}
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, port, _ := net.SplitHostPort(addr)
			if host == pool.FQDN {
				addr = net.JoinHostPort("127.0.0.1", port)
			}
			return dialer.DialContext(ctx, network, addr)
		},
	}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}

	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: "alice@example.test"}, SignatureAlgorithm: x509.SHA256WithRSA}, key)
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(pool.Ready.HTTPS)
	const password = "Alice-2468"
	iss := &PoolIssuer{HTTP: hc, Logger: logger, Login: `EXAMPLE\alice`, Password: webticket.Secret(password)}
	out, err := iss.Issue(ctx, IssueRequest{
		CertProvURL: "https://" + pool.FQDN + ":" + port + "/CertProv/CertProvisioningService.svc",
		SIPURI:      "sip:alice@example.test", DeviceID: "{2f6a3a3e-6c5b-4a55-9e43-0d1f9b1e9b77}", CSR: csr})
	if err != nil {
		t.Fatalf("Issue: %v\n%s", err, logs.String())
	}
	leaf, err := x509.ParseCertificate(out.Cert)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(leaf.Subject.CommonName, "alice@example.test") || !leaf.PublicKey.(*rsa.PublicKey).Equal(&key.PublicKey) {
		t.Errorf("issued %s for another key or name", leaf.Subject)
	}
	if strings.Contains(logs.String(), password) {
		t.Error("the password shows in the logs")
	}

	iss.Password = "wrong"
	if _, err := iss.Issue(ctx, IssueRequest{
		CertProvURL: "https://" + pool.FQDN + ":" + port + "/CertProv/CertProvisioningService.svc",
		SIPURI:      "sip:alice@example.test", DeviceID: "{2f6a3a3e-6c5b-4a55-9e43-0d1f9b1e9b77}", CSR: csr}); err == nil {
		t.Error("Issue with a wrong password succeeded")
	}
}
