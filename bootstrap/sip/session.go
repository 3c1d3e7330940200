package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	gosip "github.com/emiago/sipgo/sip"

	"github.com/deskphone/deskphone/bootstrap/discover"
	"github.com/deskphone/deskphone/bootstrap/failure"
	"github.com/deskphone/deskphone/bootstrap/sip/epid"
	"github.com/deskphone/deskphone/bootstrap/sip/inband"
)

// SA lifetime rules (MS-SIPAE 3.2.2, signin-protocols.md §1.4).
const (
	saMaxLifetime = 8 * time.Hour
	saRenewMargin = 5 * time.Minute
	refreshMargin = 30 * time.Second
	maxNotifyBody = inband.MaxBody
)

// Session is an established registration on one registrar connection.
type Session struct {
	cfg    *Config
	log    *slog.Logger
	aor    string // sip:user@domain
	domain string
	ep     discover.Endpoint
	link   *link

	callID, fromTag, msOpaque string

	reqMu  sync.Mutex // one outgoing transaction at a time (CSeq order)
	wireMu sync.Mutex // sign-and-write is atomic (cnum order on the wire)

	mu            sync.Mutex
	cseq          uint32
	sa            *securityAssoc
	certNotAfter  time.Time
	renewDeadline time.Time // monotonic: when to redo the handshake
	info          Info
	notifies      map[string]chan []byte // provisioning NOTIFY bodies by Call-ID

	closed    chan struct{}
	closeOnce sync.Once
}

func newSession(cfg *Config, aor string, ep discover.Endpoint) *Session {
	_, domain, _ := strings.Cut(aor, "@")
	return &Session{
		cfg:      cfg,
		log:      cfg.Logger.With("registrar", ep.Host),
		aor:      aor,
		domain:   domain,
		ep:       ep,
		callID:   randHex(16),
		fromTag:  randHex(5),
		msOpaque: randHex(5),
		notifies: map[string]chan []byte{},
		closed:   make(chan struct{}),
		info:     Info{SIPURI: aor, Registrar: ep, Auth: SchemeTLSDSK},
	}
}

func (s *Session) nextCSeq() uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cseq++
	return s.cseq
}

func (s *Session) currentSA() *securityAssoc {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sa
}

// Info returns what the registration established.
func (s *Session) Info() Info {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.info
}

// registered records what a 200 to REGISTER grants: GRUU, expiry and
// keep-alive interval.
func (s *Session) registered(res *gosip.Response) {
	s.mu.Lock()
	defer s.mu.Unlock()
	inst := epid.Instance(s.cfg.Epid)
	expires := time.Duration(0)
	for _, c := range parseContacts(values(res, "Contact")) {
		if v, ok := c.Params["+sip.instance"]; ok && !strings.Contains(strings.ToLower(v), inst) {
			continue
		}
		if g, ok := c.Params["gruu"]; ok {
			s.info.GRUU = g
		}
		if n, err := strconv.Atoi(c.Params["expires"]); err == nil {
			expires = time.Duration(n) * time.Second
		}
		break
	}
	if expires == 0 {
		if v := values(res, "Expires"); len(v) > 0 {
			if n, err := strconv.Atoi(strings.TrimSpace(v[0])); err == nil {
				expires = time.Duration(n) * time.Second
			}
		}
	}
	if expires <= 0 {
		expires = s.cfg.Expires
	}
	s.info.Expires = expires
	s.info.KeepAlive = DefaultKeepAlive
	for _, v := range values(res, "ms-keep-alive") {
		for _, p := range strings.Split(v, ";") {
			if k, val, ok := strings.Cut(strings.TrimSpace(p), "="); ok && strings.EqualFold(k, "timeout") {
				if n, err := strconv.Atoi(val); err == nil && n > 0 {
					s.info.KeepAlive = time.Duration(n) * time.Second
				}
			}
		}
	}
	s.info.CertNotAfter = s.certNotAfter
	if s.sa != nil {
		life := min(saMaxLifetime, s.certNotAfter.Sub(s.sa.established)) - saRenewMargin
		s.renewDeadline = time.Now().Add(max(life, time.Second))
	}
}

// Run keeps the registration alive: CRLF keep-alives at the ms-keep-alive
// interval, a signed re-REGISTER 30 s before expiry (half-way for short
// grants), and a fresh TLS-DSK handshake before the SA lifetime ends
// (min(8 h, certificate expiry) − 5 min). It returns when ctx ends, after
// Close, or with an error when the registration is lost.
func (s *Session) Run(ctx context.Context) error {
	now := time.Now()
	info := s.Info()
	nextRefresh := now.Add(refreshDelay(info.Expires))
	nextKA := now.Add(info.KeepAlive)
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		s.mu.Lock()
		renew := s.renewDeadline
		s.mu.Unlock()
		wake := nextRefresh
		if nextKA.Before(wake) {
			wake = nextKA
		}
		if renew.Before(wake) {
			wake = renew
		}
		t.Reset(time.Until(wake))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.closed:
			return nil
		case <-s.link.lost():
			return failure.New(failure.StageRegister, failure.RegistrarUnreachable, fmt.Errorf("%w: connection to %s closed", ErrLost, s.ep.Host))
		case <-t.C:
		}
		now := time.Now()
		switch {
		case !now.Before(renew):
			s.log.Info("renewing security association")
			if err := s.reauthenticate(ctx); err != nil {
				return s.lostErr(ctx, err)
			}
			nextRefresh = time.Now().Add(refreshDelay(s.Info().Expires))
		case !now.Before(nextRefresh):
			if err := s.refresh(ctx); err != nil {
				return s.lostErr(ctx, err)
			}
			nextRefresh = time.Now().Add(refreshDelay(s.Info().Expires))
		case !now.Before(nextKA):
			if err := s.link.keepAlive(); err != nil {
				return s.lostErr(ctx, fmt.Errorf("sip: keep-alive: %w", err))
			}
			s.log.Debug("keep-alive sent")
			nextKA = now.Add(s.Info().KeepAlive)
		}
	}
}

func (s *Session) lostErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	select {
	case <-s.closed:
		return nil
	default:
	}
	if failure.As(err) != nil {
		return err
	}
	return failure.New(failure.StageRegister, failure.RegistrarUnreachable, fmt.Errorf("%w: %w", ErrLost, err))
}

// refreshDelay is when to re-REGISTER: 30 s before expiry, or half-way for
// grants of a minute or less.
func refreshDelay(expires time.Duration) time.Duration {
	if expires > 2*refreshMargin {
		return expires - refreshMargin
	}
	return max(expires/2, 100*time.Millisecond)
}

// refresh sends a signed re-REGISTER; a 401 forces a full handshake.
func (s *Session) refresh(ctx context.Context) error {
	res, err := s.sendRegister(ctx, nil, 0)
	if err != nil {
		return err
	}
	switch {
	case res.StatusCode == gosip.StatusUnauthorized:
		s.log.Info("re-register challenged, re-authenticating")
		return s.reauthenticate(ctx)
	case res.IsSuccess():
		s.registered(res)
		s.log.Debug("registration refreshed", "expires", s.Info().Expires)
		return nil
	}
	return s.statusError(res)
}

// reauthenticate redoes the TLS-DSK handshake on the same connection.
func (s *Session) reauthenticate(ctx context.Context) error {
	s.mu.Lock()
	s.sa = nil
	s.mu.Unlock()
	res, err := s.authenticate(ctx)
	if err != nil {
		return err
	}
	if !res.IsSuccess() {
		return s.statusError(res)
	}
	s.registered(res)
	s.log.Info("registered", "registrar", s.ep.Host, "gruu", s.Info().GRUU, "reauth", true)
	return nil
}

// Close removes the registration (REGISTER Expires: 0, best effort, 2 s)
// and closes the connection. It is safe to call more than once.
func (s *Session) Close() error {
	s.closeOnce.Do(func() {
		close(s.closed)
		select {
		case <-s.link.lost():
		default:
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			if _, err := s.sendRegister(ctx, nil, -1); err != nil {
				s.log.Debug("unregister failed", "err", err)
			}
			cancel()
		}
		s.link.close()
	})
	return nil
}

// contact is the Contact for requests after registration: the GRUU.
func (s *Session) contact() string {
	s.mu.Lock()
	g := s.info.GRUU
	s.mu.Unlock()
	if g != "" {
		return "<" + g + ">"
	}
	return s.registerContact()
}

// provision fetches in-band provisioning and the location profile. Failures
// are recorded in Info (the registration stands).
func (s *Session) provision(ctx context.Context) {
	start := time.Now()
	settings, err := s.subscribeProvisioning(ctx)
	if err != nil {
		s.log.Warn("in-band provisioning failed", "err", err)
		s.mu.Lock()
		s.info.ProvisioningErr = failure.New(failure.StageProvisioning, failure.ProvisioningFailed, err)
		s.info.ProvisioningTime = time.Since(start)
		s.mu.Unlock()
		return
	}
	lp, err := s.locationProfile(ctx, settings.LocationProfile)
	s.mu.Lock()
	s.info.Provisioning = &settings
	if err != nil {
		s.log.Warn("location profile failed", "err", err)
	} else {
		s.info.LocationProfile = &lp
	}
	s.info.ProvisioningTime = time.Since(start)
	s.mu.Unlock()
	s.log.Info("provisioned", "pool", settings.Pool, "location_profile", lp.Name)
}

// subscribeProvisioning sends the provisioning-v2 SUBSCRIBE
// ([MS-SIPREGE] 2.2.2.1) and returns the answer from the 200 (piggybacked)
// or the NOTIFY that follows.
func (s *Session) subscribeProvisioning(ctx context.Context) (inband.Settings, error) {
	callID := randHex(16)
	ch := make(chan []byte, 1)
	s.mu.Lock()
	s.notifies[callID] = ch
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.notifies, callID)
		s.mu.Unlock()
	}()
	req := s.newRequest(gosip.SUBSCRIBE, s.aor, callID, 1, s.aor)
	req.AppendHeader(gosip.NewHeader("Contact", s.contact()))
	req.AppendHeader(gosip.NewHeader("Event", inband.Event))
	req.AppendHeader(gosip.NewHeader("Accept", inband.ContentType))
	req.AppendHeader(gosip.NewHeader("Content-Type", inband.ContentType))
	if !s.cfg.noPiggyback {
		req.AppendHeader(gosip.NewHeader("Supported", "ms-piggyback-first-notify"))
	}
	req.AppendHeader(gosip.NewHeader("Expires", "0"))
	req.SetBody(inband.Request())
	res, err := s.do(ctx, req, true)
	if err != nil {
		return inband.Settings{}, err
	}
	if !res.IsSuccess() {
		return inband.Settings{}, s.statusError(res)
	}
	body := res.Body()
	if len(body) == 0 {
		t := time.NewTimer(s.cfg.Timeout)
		defer t.Stop()
		select {
		case body = <-ch:
		case <-t.C:
			return inband.Settings{}, fmt.Errorf("%w: no provisioning NOTIFY", ErrTimeout)
		case <-ctx.Done():
			return inband.Settings{}, ctx.Err()
		}
	} else if ct := res.ContentType(); ct == nil || !strings.HasPrefix(strings.ToLower(ct.Value()), inband.ContentType) {
		return inband.Settings{}, errors.New("sip: provisioning answer has the wrong content type")
	}
	return inband.Parse(body)
}

// locationProfile sends SERVICE to the location-profile URI ([MS-SIPRE]
// 2.2.3; the opaque value is [G]) and parses the dial plan.
func (s *Session) locationProfile(ctx context.Context, uri string) (inband.LocationProfile, error) {
	if uri == "" {
		uri = s.aor + ";opaque=app:locationprofile:get;default"
	}
	req := s.newRequest(gosip.RequestMethod("SERVICE"), uri, randHex(16), 1, s.aor)
	req.AppendHeader(gosip.NewHeader("Contact", s.contact()))
	req.AppendHeader(gosip.NewHeader("Accept", inband.LocationProfileContentType))
	res, err := s.do(ctx, req, true)
	if err != nil {
		return inband.LocationProfile{}, err
	}
	if !res.IsSuccess() {
		return inband.LocationProfile{}, s.statusError(res)
	}
	return inband.ParseLocationProfile(res.Body())
}

// onRequest handles requests the registrar sends us. Unsigned ones are
// ignored (§1.5); a bad signature drops the connection.
func (s *Session) onRequest(req *gosip.Request, tx gosip.ServerTransaction) {
	sa := s.currentSA()
	signed, err := sa.verify(req)
	if err != nil {
		s.log.Error("bad server signature, dropping connection", "method", req.Method, "err", err)
		s.link.drop()
		return
	}
	if !signed {
		s.log.Debug("unsigned request ignored", "method", req.Method)
		return
	}
	s.log.Debug("signature verified", "method", req.Method)
	if req.Method == gosip.RequestMethod("BENOTIFY") {
		return
	}
	code, reason := 501, "Not Implemented"
	if req.Method == gosip.NOTIFY || req.Method == gosip.OPTIONS {
		code, reason = 200, "OK"
	}
	var body []byte
	if req.Method == gosip.NOTIFY {
		if ev := values(req, "Event"); len(ev) > 0 && strings.HasPrefix(strings.TrimSpace(ev[0]), inband.Event) && len(req.Body()) <= maxNotifyBody {
			body = append([]byte{}, req.Body()...)
		}
	}
	res := gosip.NewResponseFromRequest(req, code, reason, nil)
	s.wireMu.Lock()
	sa.sign(res, "Authorization")
	err = tx.Respond(res)
	s.wireMu.Unlock()
	if err != nil {
		s.log.Debug("respond failed", "method", req.Method, "err", err)
	}
	if body != nil {
		s.mu.Lock()
		ch := s.notifies[req.CallID().Value()]
		s.mu.Unlock()
		if ch != nil {
			select {
			case ch <- body:
			default:
			}
		}
	}
}
