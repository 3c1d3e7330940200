package device

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strconv"

	"github.com/deskphone/deskphone/bootstrap/sip"
	"github.com/deskphone/deskphone/bootstrap/sip/inband"
)

type registerStage struct{ a *Agent }

func (s registerStage) Register(ctx context.Context, req RegisterRequest) (Session, error) {
	a := s.a
	c := a.Config()
	cands := req.Discovery.Candidates
	if len(cands) == 0 && req.Discovery.Registrar.Host != "" {
		cands = append(cands, req.Discovery.Registrar)
	}
	ver := uint16(tls.VersionTLS10)
	if c.TLSDSKVersion == "1.2" {
		ver = tls.VersionTLS12
	}
	cfg := sip.Config{
		SIPURI:        req.Record.SIPURI,
		Registrars:    cands,
		Certificate:   req.Record.TLSCertificate(),
		TLSConfig:     func(name string) *tls.Config { return req.Trust.TLSConfig(name, a.b.Clock.Now) },
		Resolver:      a.resolver(),
		Epid:          req.Epid,
		UserAgent:     "deskphone/" + a.opts.Version + " (CPE-OCPHONE compatible)",
		TLSDSKVersion: ver,
		Expires:       c.RegisterExpires.D(),
		Now:           a.b.Clock.Now,
		Logger:        a.opts.Logger,
	}
	sess, err := sip.Register(ctx, cfg)
	if err != nil {
		if errors.Is(err, sip.ErrNeedCertificate) {
			return nil, errors.Join(err, ErrNeedCertificate)
		}
		return nil, err
	}
	return sipSession{sess}, nil
}

// sipSession adapts *sip.Session to Session.
type sipSession struct{ s *sip.Session }

func (w sipSession) Info() SessionInfo {
	i := w.s.Info()
	out := SessionInfo{
		SIPURI:    i.SIPURI,
		Registrar: net.JoinHostPort(i.Registrar.Host, strconv.Itoa(i.Registrar.Port)),
		Auth:      i.Auth,
		Expires:   i.Expires,
		Phases:    []Phase{{Name: "register", MS: ms(i.RegisterTime)}},
	}
	if i.Provisioning != nil {
		out.Provisioning = flattenSettings(i.Provisioning)
		out.Phases = append(out.Phases, Phase{Name: "provisioning", MS: ms(i.ProvisioningTime)})
	}
	return out
}

func (w sipSession) Run(ctx context.Context) error {
	err := w.s.Run(ctx)
	if errors.Is(err, sip.ErrNeedCertificate) {
		return errors.Join(err, ErrNeedCertificate)
	}
	return err
}

func (w sipSession) Close() error { return w.s.Close() }

func flattenSettings(s *inband.Settings) map[string]string {
	m := map[string]string{}
	add := func(k, v string) {
		if v != "" {
			m[k] = v
		}
	}
	add("registrar", s.Registrar)
	add("pool", s.Pool)
	add("CAHandlerInternalUri", s.CAHandlerInternalUri)
	add("CAHandlerInternalAnonUri", s.CAHandlerInternalAnonUri)
	add("CAHandlerExternalUri", s.CAHandlerExternalUri)
	add("WebTicketInternalUri", s.WebTicketInternalUri)
	add("WebTicketExternalUri", s.WebTicketExternalUri)
	add("ucLocationProfile", s.LocationProfile)
	add("VoiceMailUri", s.VoiceMailUri)
	return m
}
