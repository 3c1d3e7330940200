package sip

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/deskphone/deskphone/bootstrap/failure"
)

func TestSignIn(t *testing.T) {
	res := testDNS(t)
	for _, tt := range []struct {
		name        string
		noPiggyback bool
	}{
		{"piggyback", false},
		{"notify", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pl := startPool(t, "pool.example.test", nil)
			phoneLogs := &logBuf{}
			cfg := phoneConfig(t, res, phoneLogs, pl.ep)
			cfg.noPiggyback = tt.noPiggyback
			start := time.Now()
			s, err := Register(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("sign-in took %v (register phase %v, provisioning %v)", time.Since(start), s.Info().RegisterTime, s.Info().ProvisioningTime)
			info := s.Info()
			if info.Legs != 4 || info.Auth != "TLS-DSK" || info.GRUU == "" || info.Redirects != 0 {
				t.Errorf("info = %+v", info)
			}
			if info.Registrar.Host != "pool.example.test" {
				t.Errorf("registrar = %v", info.Registrar)
			}
			if info.ProvisioningErr != nil || info.Provisioning == nil || info.LocationProfile == nil {
				t.Fatalf("provisioning: %v", info.ProvisioningErr)
			}
			if !strings.Contains(info.Provisioning.CAHandlerInternalUri, "/CertProv/") || info.Provisioning.Registrar != "pool.example.test" {
				t.Errorf("provisioning = %+v", info.Provisioning)
			}
			if len(info.LocationProfile.Rules) == 0 {
				t.Errorf("location profile = %+v", info.LocationProfile)
			}
			regs := pl.srv.Registrations()
			if len(regs) != 1 || regs[0].AOR != "sip:alice@example.test" || regs[0].Epid != "451e9252b6" {
				t.Errorf("registrations = %+v", regs)
			}
			for _, want := range []string{`msg="register leg".* leg=3`, `msg="signature verified"`, `msg=registered`} {
				if !regexp.MustCompile(want).MatchString(pl.logs.String()) {
					t.Errorf("registrar log lacks %s", want)
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if regs := pl.srv.Registrations(); len(regs) != 0 {
				t.Errorf("after close registrations = %+v", regs)
			}
		})
	}
}

func code(err error) failure.Code { return failure.CodeOf(err) }
