package sip

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo"
	gosip "github.com/emiago/sipgo/sip"

	"github.com/deskphone/deskphone/bootstrap/discover"
	"github.com/deskphone/deskphone/bootstrap/failure"
	"github.com/deskphone/deskphone/bootstrap/sip/epid"
	"github.com/deskphone/deskphone/bootstrap/sip/sipauth"
)

// Header values of the REGISTER template (signin-protocols.md §1.6).
const (
	contactMethods = `"INVITE, MESSAGE, INFO, SUBSCRIBE, OPTIONS, BYE, CANCEL, NOTIFY, ACK, REFER, BENOTIFY"`
	supported      = "gruu-10, adhoclist, msrtc-event-categories, com.microsoft.msrtc.presence"
	maxLegs        = 6
	// diagHandshakeFailed is ms-diagnostics 1000 "Final handshake failed".
	diagHandshakeFailed = 1000
)

// Register signs in: it walks cfg.Registrars in order, connects over TLS,
// runs the TLS-DSK handshake, follows 301 redirects to the home pool, and
// then fetches in-band provisioning and the location profile. Errors are
// *failure.Error values of stage "register".
func Register(ctx context.Context, cfg Config) (*Session, error) {
	if err := cfg.defaults(); err != nil {
		return nil, failure.New(failure.StageRegister, failure.Internal, err)
	}
	if cfg.Epid == "" {
		cfg.Epid = epid.New()
	}
	aor, err := parseAOR(cfg.SIPURI)
	if err != nil {
		return nil, failure.New(failure.StageRegister, failure.Internal, err)
	}
	start := time.Now()
	log := cfg.Logger

	queue := append([]discover.Endpoint(nil), cfg.Registrars...)
	redirects := 0
	busy, tried := 0, 0
	// firstErr is the primary registrar's failure (what a technician needs
	// to read); failed counts the candidates that failed after it.
	var firstErr error
	failed := 0
	var retry *RetryAfterError
	for i := 0; i < len(queue); i++ {
		ep := queue[i]
		if ep.Port == 0 {
			ep.Port = DefaultPort
		}
		tried++
		s, contacts, err := attempt(ctx, &cfg, aor, ep)
		switch {
		case err == nil && contacts != nil:
			redirects++
			if redirects > cfg.MaxRedirects {
				return nil, failure.New(failure.StageRegister, failure.RedirectLoop,
					fmt.Errorf("%w: %d redirects, last from %s", ErrRedirectLoop, redirects, ep.Host))
			}
			log.Info("redirected", "from", ep.Host, "to", contacts[0].Host, "candidates", len(contacts))
			queue, i = contacts, -1
			busy, tried, firstErr, failed = 0, 0, nil, 0
			continue
		case err == nil:
			s.info.Redirects = redirects
			s.info.RegisterTime = time.Since(start)
			log.Info("registered", "registrar", ep.Host, "gruu", s.info.GRUU, "expires", s.info.Expires, "redirects", redirects, "legs", s.info.Legs)
			s.provision(ctx)
			return s, nil
		}
		if ctx.Err() != nil {
			return nil, failure.New(failure.StageRegister, failure.RegistrarUnreachable, ctx.Err())
		}
		if fe := failure.As(err); fe != nil {
			// Authentication outcomes are final: another registrar of the
			// same pool would answer the same.
			return nil, err
		}
		var ra *RetryAfterError
		if errors.As(err, &ra) {
			busy++
			if retry == nil || ra.After > retry.After {
				retry = ra
			}
		}
		log.Warn("registrar failed", "registrar", ep.Host, "port", ep.Port, "err", err)
		if firstErr == nil {
			firstErr = err
		}
		failed++
	}
	lastErr := firstErr
	if failed > 1 {
		lastErr = fmt.Errorf("%w (and %d backup registrars failed too)", firstErr, failed-1)
	}
	// One registrar that answered 503 says more than connection refusals on
	// the guessed fallback names (sipinternal, sip…): report it as busy.
	var ra *RetryAfterError
	if retry != nil && !errors.As(lastErr, &ra) {
		lastErr = &RetryAfterError{After: retry.After, Err: lastErr}
	}
	if busy > 0 {
		return nil, failure.New(failure.StageRegister, failure.RegistrarBusy, lastErr)
	}
	return nil, failure.New(failure.StageRegister, failure.RegistrarUnreachable, lastErr)
}

// attempt registers with one registrar. It returns a session, or the
// redirect contacts of a 301, or an error: a *failure.Error for final
// authentication outcomes, anything else to try the next candidate.
func attempt(ctx context.Context, cfg *Config, aor string, ep discover.Endpoint) (*Session, []discover.Endpoint, error) {
	s := newSession(cfg, aor, ep)
	l, err := dial(ctx, cfg, ep, s.onRequest)
	if err != nil {
		return nil, nil, err
	}
	s.link = l
	res, err := s.authenticate(ctx)
	if err != nil {
		l.close()
		return nil, nil, err
	}
	switch {
	case res.StatusCode == gosip.StatusMovedPermanently:
		l.close()
		contacts := redirectContacts(res)
		if len(contacts) == 0 {
			return nil, nil, fmt.Errorf("sip: 301 from %s without a usable contact", ep.Host)
		}
		return nil, contacts, nil
	case res.IsSuccess():
		s.registered(res)
		return s, nil, nil
	}
	l.close()
	return nil, nil, s.statusError(res)
}

// authenticate runs the whole handshake on the session's link, starting
// with an unsigned REGISTER, and returns the final signed response (200 or
// 301). It installs the new SA in s.
func (s *Session) authenticate(ctx context.Context) (*gosip.Response, error) {
	cfg := s.cfg
	legs := 1
	res, err := s.sendRegister(ctx, nil, 0)
	if err != nil {
		return nil, err
	}
	s.log.Debug("register leg", "leg", 0, "status", res.StatusCode)
	if res.StatusCode != gosip.StatusUnauthorized {
		return nil, s.statusError(res)
	}
	chs := sipauth.ParseChallenges(values(res, "WWW-Authenticate"))
	ch, ok := sipauth.Select(chs, SchemeTLSDSK)
	if !ok {
		schemes := make([]string, 0, len(chs))
		for _, c := range chs {
			schemes = append(schemes, c.Scheme)
		}
		return nil, failure.New(failure.StageRegister, failure.AuthRejected,
			fmt.Errorf("%w: offered %v", ErrNoScheme, schemes))
	}
	sts := ch.Params["sts-uri"]
	leaf, why := certUsable(cfg.Certificate, cfg.Now())
	if why != "" {
		return nil, failure.New(failure.StageRegister, failure.AuthRejected, &NeedCertificateError{STSURI: sts, Reason: why})
	}
	realm, target := ch.Params["realm"], ch.Params["targetname"]
	version, _ := strconv.Atoi(ch.Params["version"])
	auth, err := newTLSDSK(cfg, target)
	if err != nil {
		return nil, failure.New(failure.StageRegister, failure.Internal, err)
	}
	defer auth.Close()

	tok, done, err := auth.Step(ctx, nil)
	if err != nil {
		return nil, failure.New(failure.StageRegister, failure.HandshakeFailed, err)
	}
	opaque := ""
	for !done {
		if legs >= maxLegs {
			return nil, failure.New(failure.StageRegister, failure.HandshakeFailed, errors.New("sip: tls-dsk: too many legs"))
		}
		cred := sipauth.Credentials{
			Scheme: auth.Scheme(), Opaque: opaque, Realm: realm, TargetName: target,
			GSSAPIData: base64.StdEncoding.EncodeToString(tok), IncludeGSSAPI: true, Version: version,
		}
		res, err = s.sendRegister(ctx, &cred, 0)
		if err != nil {
			return nil, err
		}
		s.log.Debug("register leg", "leg", legs, "status", res.StatusCode)
		legs++
		if res.StatusCode != gosip.StatusUnauthorized {
			return nil, s.handshakeRefused(res, sts)
		}
		next, ok := pickChallenge(res, auth.Scheme())
		if !ok || next.Params["gssapi-data"] == "" {
			// A fresh challenge: the registrar restarted authentication.
			return nil, s.handshakeRefused(res, sts)
		}
		if o := next.Params["opaque"]; o != "" {
			opaque = o
		}
		in, err := base64.StdEncoding.DecodeString(next.Params["gssapi-data"])
		if err != nil {
			return nil, failure.New(failure.StageRegister, failure.HandshakeFailed, fmt.Errorf("sip: gssapi-data: %w", err))
		}
		if tok, done, err = auth.Step(ctx, in); err != nil {
			return nil, failure.New(failure.StageRegister, failure.HandshakeFailed, err)
		}
	}
	sg, err := auth.Signer()
	if err != nil {
		return nil, failure.New(failure.StageRegister, failure.HandshakeFailed, err)
	}
	sa := &securityAssoc{scheme: auth.Scheme(), realm: realm, target: target, opaque: opaque,
		version: version, signer: sg, established: cfg.Now()}
	s.mu.Lock()
	s.sa = sa
	s.certNotAfter = leaf.NotAfter
	s.mu.Unlock()

	// Final leg: signed, no gssapi-data (§1.3 row 3).
	res, err = s.sendRegister(ctx, nil, 0)
	if err != nil {
		return nil, err
	}
	s.log.Debug("register leg", "leg", legs, "status", res.StatusCode)
	legs++
	s.info.Legs = legs
	if res.StatusCode != gosip.StatusOK && res.StatusCode != gosip.StatusMovedPermanently {
		return nil, s.handshakeRefused(res, sts)
	}
	return res, nil
}

// handshakeRefused maps a response that ends the handshake early.
func (s *Session) handshakeRefused(res *gosip.Response, sts string) error {
	diag := diagnostics(res)
	if diag != nil && diag.Code == diagHandshakeFailed {
		return failure.New(failure.StageRegister, failure.HandshakeFailed, s.statusError(res))
	}
	if res.StatusCode == gosip.StatusUnauthorized {
		if ch, ok := pickChallenge(res, SchemeTLSDSK); ok && ch.Params["sts-uri"] != "" {
			sts = ch.Params["sts-uri"]
		}
		reason := "certificate refused by the registrar"
		if diag != nil && diag.Reason != "" {
			reason = diag.Reason
		}
		return failure.New(failure.StageRegister, failure.AuthRejected, &NeedCertificateError{STSURI: sts, Reason: reason})
	}
	if res.StatusCode == gosip.StatusForbidden {
		return failure.New(failure.StageRegister, failure.AuthRejected, s.statusError(res))
	}
	return s.statusError(res)
}

// statusError maps an unexpected final response: 503 carries Retry-After.
func (s *Session) statusError(res *gosip.Response) error {
	se := &StatusError{Code: res.StatusCode, Reason: res.Reason, Diagnostics: diagnostics(res)}
	if res.StatusCode == gosip.StatusServiceUnavailable {
		after := time.Duration(0)
		if v := values(res, "Retry-After"); len(v) > 0 {
			f := strings.Fields(v[0])
			if len(f) > 0 {
				if n, err := strconv.Atoi(f[0]); err == nil && n >= 0 {
					after = time.Duration(n) * time.Second
				}
			}
		}
		return &RetryAfterError{After: after, Err: se}
	}
	return se
}

// sendRegister sends one REGISTER on the session's Call-ID with the next
// CSeq. cred is the handshake Authorization (nil: sign with the SA if there
// is one). expires 0 means cfg.Expires; negative means Expires: 0 (remove).
func (s *Session) sendRegister(ctx context.Context, cred *sipauth.Credentials, expires time.Duration) (*gosip.Response, error) {
	if expires == 0 {
		expires = s.cfg.Expires
	}
	if expires < 0 {
		expires = 0
	}
	req := s.newRequest(gosip.REGISTER, "sip:"+s.domain, s.callID, s.nextCSeq(), s.aor)
	req.AppendHeader(gosip.NewHeader("Contact", s.registerContact()))
	req.AppendHeader(gosip.NewHeader("Supported", supported))
	req.AppendHeader(gosip.NewHeader("Event", "registration"))
	req.AppendHeader(gosip.NewHeader("Allow-Events", "presence"))
	req.AppendHeader(gosip.NewHeader("ms-keep-alive", "UAC;hop-hop=yes"))
	req.AppendHeader(gosip.NewHeader("Expires", strconv.Itoa(int(expires/time.Second))))
	if cred != nil {
		req.AppendHeader(gosip.NewHeader("Authorization", sipauth.FormatAuthorization(*cred)))
		return s.do(ctx, req, false)
	}
	return s.do(ctx, req, true)
}

// registerContact is the REGISTER Contact of §1.6.
func (s *Session) registerContact() string {
	la := s.link.conn.LocalAddr().(*net.TCPAddr)
	return fmt.Sprintf(`<sip:%s;transport=tls;ms-opaque=%s>;methods=%s;proxy=replace;+sip.instance="<urn:uuid:%s>"`,
		net.JoinHostPort(la.IP.String(), strconv.Itoa(la.Port)), s.msOpaque, contactMethods, epid.Instance(s.cfg.Epid))
}

// newRequest builds a request with From (tag, epid), To, Call-ID, CSeq,
// Max-Forwards and User-Agent; Via is added by sipgo.
func (s *Session) newRequest(method gosip.RequestMethod, ruri, callID string, cseq uint32, to string) *gosip.Request {
	var u gosip.Uri
	_ = gosip.ParseUri(ruri, &u)
	req := gosip.NewRequest(method, u)
	from := &gosip.FromHeader{Params: gosip.NewParams()}
	_ = gosip.ParseUri(s.aor, &from.Address)
	from.Params.Add("tag", s.fromTag)
	from.Params.Add("epid", s.cfg.Epid)
	toH := &gosip.ToHeader{Params: gosip.NewParams()}
	_ = gosip.ParseUri(to, &toH.Address)
	cid := gosip.CallIDHeader(callID)
	mf := gosip.MaxForwardsHeader(70)
	req.AppendHeader(from)
	req.AppendHeader(toH)
	req.AppendHeader(&cid)
	req.AppendHeader(&gosip.CSeqHeader{SeqNo: cseq, MethodName: method})
	req.AppendHeader(&mf)
	req.AppendHeader(gosip.NewHeader("User-Agent", s.cfg.UserAgent))
	return req
}

// do signs req (if sign and an SA exists), sends it on the link, waits for
// the final response within cfg.Timeout, and verifies its signature: a
// mismatch drops the connection. Unsigned final responses are accepted only
// for REGISTER and 401 (§1.5).
func (s *Session) do(ctx context.Context, req *gosip.Request, signIt bool) (*gosip.Response, error) {
	s.reqMu.Lock()
	defer s.reqMu.Unlock()
	sa := s.currentSA()
	if req.Body() == nil {
		req.SetBody(nil)
	}
	s.link.prepare(req)
	tctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	// Sign and write under wireMu so that cnum order on the wire is the
	// signing order (the registrar rejects a cnum that goes backwards).
	// ClientRequestBuild only adds the Via: our CSeq stays as set (sipgo
	// does not auto-increment on this path).
	s.wireMu.Lock()
	if signIt && sa != nil {
		sa.sign(req, "Authorization")
	}
	tx, err := s.link.client.TransactionRequest(tctx, req, sipgo.ClientRequestBuild)
	s.wireMu.Unlock()
	var res *gosip.Response
	if err == nil {
		res, err = finalResponse(tctx, tx)
	}
	if err != nil {
		select {
		case <-s.link.lost():
			return nil, fmt.Errorf("sip: %s: connection lost: %w", req.Method, err)
		default:
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, gosip.ErrTransactionTimeout) {
			return nil, fmt.Errorf("%w: %s to %s: %v", ErrTimeout, req.Method, s.ep.Host, err)
		}
		return nil, fmt.Errorf("sip: %s: %w", req.Method, err)
	}
	signed, err := sa.verify(res)
	if err != nil {
		s.log.Error("bad server signature, dropping connection", "method", req.Method, "status", res.StatusCode, "err", err)
		s.link.drop()
		return nil, failure.New(failure.StageRegister, failure.BadSignature, err)
	}
	if signed {
		s.log.Debug("signature verified", "method", req.Method, "status", res.StatusCode)
	} else if sa != nil && res.StatusCode != gosip.StatusUnauthorized && req.Method != gosip.REGISTER {
		return nil, fmt.Errorf("%w: %d to %s", ErrUnsigned, res.StatusCode, req.Method)
	} else if sa != nil && signIt && req.Method == gosip.REGISTER && res.StatusCode < 300 {
		// We require the registrar to sign its answer to a signed REGISTER.
		s.link.drop()
		return nil, failure.New(failure.StageRegister, failure.BadSignature,
			fmt.Errorf("%w: unsigned %d to a signed REGISTER", ErrBadSignature, res.StatusCode))
	}
	return res, nil
}

// finalResponse waits for the final response of tx and terminates it.
func finalResponse(ctx context.Context, tx gosip.ClientTransaction) (*gosip.Response, error) {
	defer tx.Terminate()
	for {
		select {
		case res := <-tx.Responses():
			if res.IsProvisional() {
				continue
			}
			return res, nil
		case <-tx.Done():
			if err := tx.Err(); err != nil {
				return nil, err
			}
			return nil, gosip.ErrTransactionTerminated
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// pickChallenge returns the WWW-Authenticate challenge of scheme.
func pickChallenge(res *gosip.Response, scheme string) (sipauth.Challenge, bool) {
	return sipauth.Select(sipauth.ParseChallenges(values(res, "WWW-Authenticate")), scheme)
}

func diagnostics(res *gosip.Response) *sipauth.Diagnostics {
	for _, name := range []string{"ms-diagnostics", "ms-diagnostics-public"} {
		if v := values(res, name); len(v) > 0 {
			if d, err := sipauth.ParseDiagnostics(v[0]); err == nil {
				return &d
			}
		}
	}
	return nil
}

func values(m gosip.Message, name string) []string {
	hs := m.GetHeaders(name)
	out := make([]string, 0, len(hs))
	for _, h := range hs {
		out = append(out, h.Value())
	}
	return out
}

// redirectContacts returns the 301 Contacts ordered by q (highest first,
// stable): primary, then backups (platform-notes.md §3.3).
func redirectContacts(res *gosip.Response) []discover.Endpoint {
	type cand struct {
		ep discover.Endpoint
		q  float64
	}
	var cs []cand
	for _, c := range parseContacts(values(res, "Contact")) {
		host, port := hostPort(c.URI)
		if host == "" {
			continue
		}
		q := 1.0
		if v, ok := c.Params["q"]; ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		if port == 0 {
			port = DefaultPort
		}
		cs = append(cs, cand{discover.Endpoint{Host: host, Port: port}, q})
	}
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].q > cs[j].q })
	out := make([]discover.Endpoint, 0, len(cs))
	for _, c := range cs {
		out = append(out, c.ep)
	}
	return out
}

func unquote(v string) string {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		return v[1 : len(v)-1]
	}
	return v
}

// parseAOR normalizes "alice@example.test" or "sip:alice@example.test".
func parseAOR(u string) (string, error) {
	if !strings.HasPrefix(strings.ToLower(u), "sip:") {
		u = "sip:" + u
	}
	var p gosip.Uri
	if err := gosip.ParseUri(u, &p); err != nil || p.User == "" || p.Host == "" {
		return "", fmt.Errorf("sip: bad SIP URI %q", u)
	}
	return "sip:" + p.User + "@" + p.Host, nil
}
