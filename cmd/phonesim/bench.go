package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/deskphone/deskphone/bootstrap/certprov"
)

// BenchReport is the `phonesim bench` JSON document.
type BenchReport struct {
	Machine string             `json:"machine"`
	Runs    int                `json:"runs"`
	Cold    PhaseStats         `json:"cold"`
	Warm    PhaseStats         `json:"warm"`
	Floor   Floor              `json:"floor"`
	Ratios  map[string]float64 `json:"ratios"`
	PINOKMS Stat               `json:"pin_ok_to_registered_ms"`
	PeakRSS int64              `json:"peak_rss_kib"`
	// SIPESignedOnMS is pidgin-sipe's cold TLS-DSK sign-in against a labpool
	// in the same make bench run (0 when it could not run).
	SIPESignedOnMS float64              `json:"sipe_signed_on_ms,omitempty"`
	Binaries       map[string]int64     `json:"binary_bytes,omitempty"`
	Errors         []string             `json:"errors,omitempty"`
	Phases         map[string][]float64 `json:"-"`
}

// PhaseStats holds per-phase and total statistics.
type PhaseStats struct {
	Total  Stat            `json:"total_ms"`
	Phases map[string]Stat `json:"phases_ms"`
}

// Stat is p50/p95/min/max of a sample.
type Stat struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	Min float64 `json:"min"`
	Max float64 `json:"max"`
	N   int     `json:"n"`
}

// Floor is the unavoidable CPU work of a cold sign-in, measured in the same run.
type Floor struct {
	KeygenMS    float64 `json:"rsa2048_keygen_ms"`
	HandshakeMS float64 `json:"tls_handshake_ms"`
	CSRMS       float64 `json:"csr_sign_ms"`
	TotalMS     float64 `json:"total_ms"`
}

func stat(xs []float64) Stat {
	if len(xs) == 0 {
		return Stat{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	idx := func(p float64) float64 { return s[min(len(s)-1, int(p*float64(len(s))))] }
	return Stat{P50: idx(0.5), P95: idx(0.95), Min: s[0], Max: s[len(s)-1], N: len(s)}
}

func bench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	runs := fs.Int("runs", 5, "cold and warm sign-ins each")
	sizes := fs.Bool("sizes", true, "build linux/arm, arm64, amd64 phoned and report sizes")
	interop := fs.String("interop", "", "INTEROP_REPORT file of the pidgin-sipe interop test (tools/interop), to compare with")
	if err := fs.Parse(args); err != nil {
		return err
	}
	rep := BenchReport{Machine: fmt.Sprintf("%s/%s, %d CPU, %s", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version()), Runs: *runs, Ratios: map[string]float64{}}
	cold := map[string][]float64{}
	warm := map[string][]float64{}
	var coldT, warmT, pinOK []float64
	for i := 0; i < *runs; i++ {
		dir, err := os.MkdirTemp("", "phonesim-bench-")
		if err != nil {
			return err
		}
		keys, _ := parseKeys("1001<ok>24680<ok>")
		o := Options{Pool: "embedded", State: dir, Lang: "en", Keys: keys, Until: "registered", Timeout: 60 * time.Second, LogLevel: 100}
		r, err := Simulate(ctx, o)
		if err != nil {
			rep.Errors = append(rep.Errors, "cold: "+err.Error())
		} else {
			coldT = append(coldT, signIn(r))
			for _, p := range r.Phases {
				cold[p.Name] = append(cold[p.Name], p.MS)
			}
			if r.PINOKToRegisteredMS != nil {
				pinOK = append(pinOK, *r.PINOKToRegisteredMS)
			}
		}
		o.Keys = nil
		r, err = Simulate(ctx, o)
		if err != nil {
			rep.Errors = append(rep.Errors, "warm: "+err.Error())
		} else {
			warmT = append(warmT, signIn(r))
			for _, p := range r.Phases {
				warm[p.Name] = append(warm[p.Name], p.MS)
			}
		}
		os.RemoveAll(dir)
	}
	rep.Cold = PhaseStats{Total: stat(coldT), Phases: map[string]Stat{}}
	for k, v := range cold {
		rep.Cold.Phases[k] = stat(v)
	}
	rep.Warm = PhaseStats{Total: stat(warmT), Phases: map[string]Stat{}}
	for k, v := range warm {
		rep.Warm.Phases[k] = stat(v)
	}
	rep.PINOKMS = stat(pinOK)
	f, err := measureFloor(*runs)
	if err != nil {
		return err
	}
	rep.Floor = f
	if f.TotalMS > 0 && rep.Cold.Total.P50 > 0 {
		rep.Ratios["cold_total_over_floor"] = round(rep.Cold.Total.P50 / f.TotalMS)
	}
	if *interop != "" {
		if sipe, ok := readSIPE(*interop); ok {
			rep.SIPESignedOnMS = sipe
			if rep.Cold.Total.P50 > 0 {
				rep.Ratios["cold_total_over_sipe"] = round(rep.Cold.Total.P50 / sipe)
			}
			if rep.PINOKMS.P50 > 0 {
				rep.Ratios["pin_ok_to_registered_over_sipe"] = round(rep.PINOKMS.P50 / sipe)
			}
		} else {
			rep.Errors = append(rep.Errors, "no pidgin-sipe figure in "+*interop+" (interop test skipped: needs root and pidgin-sipe)")
		}
	}
	if rep.Warm.Total.P50 > 0 {
		rep.Ratios["warm_p50_ms"] = rep.Warm.Total.P50
	}
	rep.PeakRSS = peakRSS()
	if *sizes {
		rep.Binaries = binarySizes()
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// signIn is the sign-in time: the agent's start to registered, wall clock
// (the pool's start-up excluded). The bench keys the PIN in as soon as the
// sign-in screen shows, so a cold sign-in waits for its key generation.
func signIn(r Report) float64 {
	if r.SignInMS != nil {
		return round(*r.SignInMS)
	}
	return 0
}

func round(x float64) float64 { return float64(int64(x*100+0.5)) / 100 }

// measureFloor measures, in this process: RSA-2048 keygen, one TLS
// handshake (client + server CPU, RSA key exchange as TLS-DSK uses), one
// CSR signature. Medians of n.
func measureFloor(n int) (Floor, error) {
	// RSA key generation is a random search: its median needs many samples.
	n = max(n, 25)
	var kg, hs, cs []float64
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return Floor{}, err
	}
	cert := selfSigned(key)
	for i := 0; i < n; i++ {
		t := time.Now()
		if _, err := certprov.GenerateKey(); err != nil {
			return Floor{}, err
		}
		kg = append(kg, ms(time.Since(t)))
		t = time.Now()
		if err := handshake(cert); err != nil {
			return Floor{}, err
		}
		hs = append(hs, ms(time.Since(t)))
		t = time.Now()
		if _, err := certprov.BuildCSR(key, "sip:alice@example.test"); err != nil {
			return Floor{}, err
		}
		cs = append(cs, ms(time.Since(t)))
	}
	f := Floor{KeygenMS: stat(kg).P50, HandshakeMS: stat(hs).P50, CSRMS: stat(cs).P50}
	// The floor as the issue defines it: one RSA-2048 keygen, one TLS
	// handshake (client + server CPU), one CSR signature.
	f.TotalMS = round(f.KeygenMS + f.HandshakeMS + f.CSRMS)
	return f, nil
}

func ms(d time.Duration) float64 { return round(float64(d.Microseconds()) / 1000) }

func selfSigned(key *rsa.PrivateKey) tls.Certificate {
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "floor"},
		DNSNames: []string{"floor"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	c, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: c}
}

func handshake(cert tls.Certificate) error {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	suites := []uint16{tls.TLS_RSA_WITH_AES_128_CBC_SHA}
	pool := x509.NewCertPool()
	pool.AddCert(cert.Leaf)
	srv := tls.Server(a, &tls.Config{Certificates: []tls.Certificate{cert}, CipherSuites: suites, MaxVersion: tls.VersionTLS12})
	cli := tls.Client(b, &tls.Config{ServerName: "floor", RootCAs: pool, CipherSuites: suites, MaxVersion: tls.VersionTLS12})
	errc := make(chan error, 1)
	go func() { errc <- srv.Handshake() }()
	if err := cli.Handshake(); err != nil {
		return err
	}
	return <-errc
}

// peakRSS reads VmHWM of this process (the agent, pool and bench together).
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}

func binarySizes() map[string]int64 {
	out := map[string]int64{}
	dir, err := os.MkdirTemp("", "phoned-size-")
	if err != nil {
		return out
	}
	defer os.RemoveAll(dir)
	for _, t := range []struct{ name, arch, arm string }{{"linux/arm", "arm", "7"}, {"linux/arm64", "arm64", ""}, {"linux/amd64", "amd64", ""}} {
		p := filepath.Join(dir, strings.ReplaceAll(t.name, "/", "-"))
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", p, "./cmd/phoned")
		cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+t.arch, "GOARM="+t.arm, "CGO_ENABLED=0")
		if err := cmd.Run(); err != nil {
			continue
		}
		if st, err := os.Stat(p); err == nil {
			out[t.name] = st.Size()
		}
	}
	return out
}

// readSIPE reads pidgin-sipe's time to signed-on from the interop report.
func readSIPE(path string) (float64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	var r struct {
		SIPE struct {
			SignedOnMS float64 `json:"signed_on_ms"`
		} `json:"sipe"`
	}
	if json.Unmarshal(b, &r) != nil || r.SIPE.SignedOnMS <= 0 {
		return 0, false
	}
	return r.SIPE.SignedOnMS, true
}
