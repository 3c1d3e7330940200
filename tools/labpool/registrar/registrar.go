// Package registrar is labpool's SIP registrar: a sipgo TLS server that
// challenges REGISTER with NTLM, Kerberos and TLS-DSK (only TLS-DSK is
// implemented), runs the server side of the TLS-DSK handshake, verifies
// every signed request (rejecting replayed cnum values), signs its
// responses, grants a GRUU, redirects to the home pool in director mode, and
// answers in-band provisioning (SUBSCRIBE provisioning-v2) and the location
// profile (SERVICE).
//
// Log lines other tests grep: "register leg" (leg=N), "signature verified",
// "registered".
//
// References: signin-protocols.md §1–2, platform-notes.md §3.3–3.4.
package registrar

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	gosip "github.com/emiago/sipgo/sip"

	"github.com/deskphone/deskphone/bootstrap/sip/epid"
	"github.com/deskphone/deskphone/bootstrap/sip/inband"
	"github.com/deskphone/deskphone/bootstrap/sip/sign"
	"github.com/deskphone/deskphone/bootstrap/sip/sipauth"
	"github.com/deskphone/deskphone/bootstrap/sip/tlsdsk"
	"github.com/deskphone/deskphone/tools/labpool/faults"
)

// Realm is the MS-SIPAE realm of every Lync pool.
const Realm = "SIP Communications Service"

// Diagnostic codes labpool sends in ms-diagnostics. 1000 is Lync's "Final
// handshake failed"; the others are labpool's own [G].
const (
	DiagHandshakeFailed  = 1000
	DiagCertRejected     = 1001
	DiagBadSignature     = 1002
	DiagReplay           = 1003
	DiagIdentity         = 1004
	DiagSchemeNotHandled = 1005
)

// CertChecker says whether cert may sign in as sipURI (labpool's directory:
// published for that user and not revoked).
type CertChecker interface {
	CheckClientCert(sipURI string, cert *x509.Certificate) error
}

// Contact is a redirect target with its q weight.
type Contact struct {
	Host string
	Port int
	Q    float64
}

// Config configures the registrar.
type Config struct {
	Domain string // SIP domain, e.g. example.test
	FQDN   string // this pool, e.g. pool.example.test (targetname)
	// TLS is the transport configuration (server certificate) used by
	// ServeTLS.
	TLS *tls.Config
	// DSKCertificate is the server certificate inside TLS-DSK (the pool
	// certificate).
	DSKCertificate tls.Certificate
	Certs          CertChecker
	STSURI         string // CertProv URL advertised in the TLS-DSK challenge
	// Homes maps a user (alice@example.test) to its home pool contacts; in
	// Director mode such users get a 301.
	Homes    map[string][]Contact
	Director bool
	// Schemes are the challenges offered (default NTLM, Kerberos, TLS-DSK).
	Schemes    []string
	Expires    time.Duration // granted registration lifetime (default 1 h)
	KeepAlive  time.Duration // ms-keep-alive timeout (default 300 s)
	RetryAfter time.Duration // Retry-After of the registrar-503 fault (default 30 s)
	// Provisioning is the in-band provisioning answer; nil makes a
	// realistic default for FQDN/Domain. LocationProfile likewise.
	Provisioning    *inband.Settings
	LocationProfile *inband.LocationProfile
	Faults          *faults.Set
	Now             func() time.Time
	Logger          *slog.Logger
}

// Registration is one registered endpoint.
type Registration struct {
	AOR        string // sip:alice@example.test
	Epid       string
	Instance   string
	Contact    string
	GRUU       string
	Source     string // remote address of the connection
	Expires    time.Time
	Refreshes  int
	CertSerial string
}

// Server is the registrar.
type Server struct {
	cfg    Config
	log    *slog.Logger
	ua     *sipgo.UserAgent
	srv    *sipgo.Server
	client *sipgo.Client

	mu   sync.Mutex
	sas  map[string]*sa // by opaque
	regs map[string]*Registration

	wg     sync.WaitGroup
	ctx    context.Context
	cancel context.CancelFunc
}

// sa is a TLS-DSK security association, keyed by opaque.
type sa struct {
	mu       sync.Mutex
	opaque   string
	aor      string
	version  int
	hs       *tlsdsk.Server
	legs     int
	done     bool
	keys     tlsdsk.Keys
	cert     *x509.Certificate
	certErr  error
	lastCNum uint32
	snum     uint32
	created  time.Time
}

const maxSAs = 1024

// New checks cfg and builds the SIP stack.
func New(cfg Config) (*Server, error) {
	if cfg.Domain == "" || cfg.FQDN == "" {
		return nil, errors.New("registrar: domain and fqdn are required")
	}
	if len(cfg.DSKCertificate.Certificate) == 0 {
		return nil, errors.New("registrar: no TLS-DSK certificate")
	}
	if cfg.Certs == nil {
		return nil, errors.New("registrar: no certificate checker")
	}
	if len(cfg.Schemes) == 0 {
		cfg.Schemes = []string{"NTLM", "Kerberos", "TLS-DSK"}
	}
	if cfg.Expires <= 0 {
		cfg.Expires = time.Hour
	}
	if cfg.KeepAlive <= 0 {
		cfg.KeepAlive = 300 * time.Second
	}
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Provisioning == nil {
		p := DefaultProvisioning(cfg.FQDN, cfg.Domain)
		cfg.Provisioning = &p
	}
	if cfg.LocationProfile == nil {
		lp := DefaultLocationProfile(cfg.Domain)
		cfg.LocationProfile = &lp
	}
	s := &Server{
		cfg:  cfg,
		log:  cfg.Logger.With("component", "registrar", "pool", cfg.FQDN),
		sas:  map[string]*sa{},
		regs: map[string]*Registration{},
	}
	sipLog := slog.New(debugOnly{s.log.Handler()}).With("component", "sipgo")
	ua, err := sipgo.NewUA(
		sipgo.WithUserAgent("labpool"),
		sipgo.WithUserAgentHostname(cfg.FQDN),
		sipgo.WithUserAgentTransportLayerOptions(gosip.WithTransportLayerLogger(sipLog)),
		sipgo.WithUserAgentTransactionLayerOptions(
			gosip.WithTransactionLayerLogger(sipLog),
			gosip.WithTransactionLayerTerminateOnConnClose(),
			gosip.WithTransactionLayerUnhandledResponseHandler(func(*gosip.Response) {}),
		),
	)
	if err != nil {
		return nil, fmt.Errorf("registrar: user agent: %w", err)
	}
	s.ua = ua
	if s.srv, err = sipgo.NewServer(ua, sipgo.WithServerLogger(sipLog)); err != nil {
		return nil, fmt.Errorf("registrar: server: %w", err)
	}
	if s.client, err = sipgo.NewClient(ua, sipgo.WithClientLogger(sipLog), sipgo.WithClientHostname(cfg.FQDN)); err != nil {
		return nil, fmt.Errorf("registrar: client: %w", err)
	}
	s.srv.OnRegister(s.onRegister)
	s.srv.OnSubscribe(s.onSubscribe)
	s.srv.OnRequest(gosip.RequestMethod("SERVICE"), s.onService)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// ServeTLS wraps a TCP listener with cfg.TLS and serves it.
func (s *Server) ServeTLS(ctx context.Context, ln net.Listener) error {
	if s.cfg.TLS == nil {
		return errors.New("registrar: no TLS configuration")
	}
	return s.Serve(ctx, tls.NewListener(ln, s.cfg.TLS))
}

// Serve serves SIP over a TLS listener until ctx ends; it closes ln and
// every connection, and returns nil on cancellation.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.ServeTLS(ln) }()
	var err error
	select {
	case <-ctx.Done():
		ln.Close()
		<-errc
	case err = <-errc:
		ln.Close()
	}
	s.cancel()
	s.ua.Close()
	s.wg.Wait()
	s.mu.Lock()
	for k, a := range s.sas {
		a.hs.Close()
		delete(s.sas, k)
	}
	s.mu.Unlock()
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("registrar: serve: %w", err)
}

// Registrations returns the current registrations, sorted by AOR.
func (s *Server) Registrations() []Registration {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	out := make([]Registration, 0, len(s.regs))
	for _, r := range s.regs {
		if r.Expires.After(now) {
			out = append(out, *r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].AOR < out[j].AOR })
	return out
}

// onRegister answers REGISTER: challenge, handshake legs, signed
// registration (§1.3).
func (s *Server) onRegister(req *gosip.Request, tx gosip.ServerTransaction) {
	aor := addrOf(req.From())
	authz := value(req, "Authorization")
	if authz == "" {
		s.log.Info("register leg", "leg", 0, "aor", aor, "source", req.Source())
		if d := s.cfg.Faults.Slow("register"); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-s.ctx.Done():
				t.Stop()
				return
			}
		}
		if s.cfg.Faults.Has(faults.DropConnection) {
			s.log.Info("fault: dropping connection", "source", req.Source())
			if stx, ok := tx.(*gosip.ServerTx); ok {
				stx.Connection().Close()
			}
			return
		}
		if s.cfg.Faults.Has(faults.Registrar503) {
			res := gosip.NewResponseFromRequest(req, 503, "Service Unavailable", nil)
			res.AppendHeader(gosip.NewHeader("Retry-After", strconv.Itoa(int(s.cfg.RetryAfter/time.Second))))
			s.respond(tx, res)
			return
		}
		s.challenge(req, tx, nil)
		return
	}
	cred, err := sipauth.ParseAuthorization(authz)
	if err != nil {
		s.respond(tx, gosip.NewResponseFromRequest(req, 400, "Bad Authorization", nil))
		return
	}
	if !strings.EqualFold(cred.Scheme, "TLS-DSK") {
		res := gosip.NewResponseFromRequest(req, 403, "Forbidden", nil)
		res.AppendHeader(diag(DiagSchemeNotHandled, "Authentication scheme "+cred.Scheme+" is not implemented by labpool; use TLS-DSK", s.cfg.FQDN))
		s.log.Warn("unsupported auth scheme", "scheme", cred.Scheme, "aor", aor)
		s.respond(tx, res)
		return
	}
	if cred.Response == "" {
		s.handshakeLeg(req, tx, aor, cred)
		return
	}
	a, res := s.verify(req, cred)
	if res != nil {
		s.respond(tx, res)
		return
	}
	a.mu.Lock()
	a.legs++
	leg := a.legs
	a.mu.Unlock()
	s.log.Info("register leg", "leg", leg, "aor", aor, "signed", true)
	s.registerSigned(req, tx, a, aor)
}

// challenge sends 401 with one WWW-Authenticate per scheme (§1.1), plus an
// optional ms-diagnostics.
func (s *Server) challenge(req *gosip.Request, tx gosip.ServerTransaction, extra gosip.Header) {
	res := gosip.NewResponseFromRequest(req, 401, "Unauthorized", nil)
	for _, sc := range s.cfg.Schemes {
		target := s.cfg.FQDN
		if strings.EqualFold(sc, "Kerberos") {
			target = "sip/" + target
		}
		v := fmt.Sprintf(`%s realm="%s", targetname="%s", version=4`, sc, Realm, target)
		if strings.EqualFold(sc, "TLS-DSK") && s.cfg.STSURI != "" {
			v += fmt.Sprintf(`, sts-uri="%s"`, s.cfg.STSURI)
		}
		res.AppendHeader(gosip.NewHeader("WWW-Authenticate", v))
	}
	if extra != nil {
		res.AppendHeader(extra)
	}
	s.respond(tx, res)
}

// handshakeLeg runs one server step of the TLS-DSK handshake.
func (s *Server) handshakeLeg(req *gosip.Request, tx gosip.ServerTransaction, aor string, cred sipauth.Credentials) {
	in, err := base64.StdEncoding.DecodeString(cred.GSSAPIData)
	if err != nil || len(in) == 0 {
		s.respond(tx, gosip.NewResponseFromRequest(req, 400, "Bad gssapi-data", nil))
		return
	}
	var a *sa
	if cred.Opaque == "" {
		a = s.newSA(aor, cred.Version)
	} else {
		s.mu.Lock()
		a = s.sas[cred.Opaque]
		s.mu.Unlock()
		if a == nil || a.aor != aor {
			s.challenge(req, tx, nil)
			return
		}
	}
	a.mu.Lock()
	a.legs++
	leg := a.legs
	a.mu.Unlock()
	s.log.Info("register leg", "leg", leg, "aor", aor, "opaque", a.opaque)
	out, done, err := a.hs.Step(s.ctx, in)
	if err != nil {
		s.dropSA(a)
		if a.certErr != nil {
			s.log.Warn("client certificate rejected", "aor", aor, "err", a.certErr)
			s.challenge(req, tx, diag(DiagCertRejected, "Client certificate rejected: "+a.certErr.Error(), s.cfg.FQDN))
			return
		}
		s.log.Warn("tls-dsk handshake failed", "aor", aor, "err", err)
		res := gosip.NewResponseFromRequest(req, 403, "Forbidden", nil)
		res.AppendHeader(diag(DiagHandshakeFailed, "Final handshake failed", s.cfg.FQDN))
		s.respond(tx, res)
		return
	}
	if done {
		keys, err := a.hs.Keys()
		if err != nil {
			s.dropSA(a)
			s.respond(tx, gosip.NewResponseFromRequest(req, 500, "Server Internal Error", nil))
			return
		}
		a.mu.Lock()
		a.done, a.keys = true, keys
		if pc := a.hs.PeerCertificates(); len(pc) > 0 {
			a.cert = pc[0]
		}
		a.mu.Unlock()
		a.hs.Close()
	}
	res := gosip.NewResponseFromRequest(req, 401, "Unauthorized", nil)
	res.AppendHeader(gosip.NewHeader("WWW-Authenticate", fmt.Sprintf(
		`TLS-DSK opaque="%s", gssapi-data="%s", targetname="%s", realm="%s", version=%d`,
		a.opaque, base64.StdEncoding.EncodeToString(out), s.cfg.FQDN, Realm, a.version)))
	s.respond(tx, res)
}

func (s *Server) newSA(aor string, version int) *sa {
	if version == 0 {
		version = 4
	}
	a := &sa{opaque: strings.ToUpper(randHex(4)), aor: aor, version: version, created: s.cfg.Now()}
	a.hs = tlsdsk.NewServer(tlsdsk.ServerConfig{
		Certificate: s.cfg.DSKCertificate,
		Time:        s.cfg.Now,
		VerifyClient: func(chain []*x509.Certificate) error {
			err := s.checkCert(aor, chain)
			a.certErr = err
			return err
		},
	})
	s.mu.Lock()
	if len(s.sas) >= maxSAs {
		var oldest *sa
		for _, x := range s.sas {
			if oldest == nil || x.created.Before(oldest.created) {
				oldest = x
			}
		}
		oldest.hs.Close()
		delete(s.sas, oldest.opaque)
	}
	s.sas[a.opaque] = a
	s.mu.Unlock()
	return a
}

func (s *Server) dropSA(a *sa) {
	a.hs.Close()
	s.mu.Lock()
	delete(s.sas, a.opaque)
	s.mu.Unlock()
}

func (s *Server) checkCert(aor string, chain []*x509.Certificate) error {
	if len(chain) == 0 {
		return errors.New("no client certificate")
	}
	now := s.cfg.Now()
	if now.Before(chain[0].NotBefore) || now.After(chain[0].NotAfter) {
		return fmt.Errorf("certificate outside its validity (%s .. %s)", chain[0].NotBefore.Format(time.RFC3339), chain[0].NotAfter.Format(time.RFC3339))
	}
	return s.cfg.Certs.CheckClientCert(aor, chain[0])
}

// verify checks the signature and cnum of a signed request. It returns the
// SA, or the response to send.
func (s *Server) verify(req *gosip.Request, cred sipauth.Credentials) (*sa, *gosip.Response) {
	s.mu.Lock()
	a := s.sas[cred.Opaque]
	s.mu.Unlock()
	if a == nil {
		return nil, s.challengeResponse(req)
	}
	a.mu.Lock()
	done, keys, version, last := a.done, a.keys, a.version, a.lastCNum
	a.mu.Unlock()
	if !done || !strings.EqualFold(cred.TargetName, s.cfg.FQDN) || cred.Realm != Realm {
		return nil, s.challengeResponse(req)
	}
	f := sign.FromMessage(req)
	f.Scheme, f.Rand, f.Num, f.Realm, f.Target = "TLS-DSK", cred.CRand, strconv.FormatUint(uint64(cred.CNum), 10), Realm, s.cfg.FQDN
	if !sign.Verify(keys.Alg, keys.Client, sign.Buffer(f, version), cred.Response) {
		s.log.Warn("bad client signature", "method", req.Method, "aor", a.aor, "cnum", cred.CNum)
		res := gosip.NewResponseFromRequest(req, 403, "Forbidden", nil)
		res.AppendHeader(diag(DiagBadSignature, "Message signature did not verify", s.cfg.FQDN))
		return nil, res
	}
	a.mu.Lock()
	replay := cred.CNum <= a.lastCNum
	if !replay {
		a.lastCNum = cred.CNum
	}
	a.mu.Unlock()
	if replay {
		s.log.Warn("replayed cnum rejected", "method", req.Method, "aor", a.aor, "cnum", cred.CNum, "last", last)
		res := gosip.NewResponseFromRequest(req, 403, "Forbidden", nil)
		res.AppendHeader(diag(DiagReplay, "Replayed or out-of-order cnum", s.cfg.FQDN))
		// The SA is genuine: sign the refusal.
		s.signMessage(a, res)
		return nil, res
	}
	s.log.Info("signature verified", "method", string(req.Method), "aor", a.aor, "cnum", cred.CNum)
	return a, nil
}

func (s *Server) challengeResponse(req *gosip.Request) *gosip.Response {
	res := gosip.NewResponseFromRequest(req, 401, "Unauthorized", nil)
	for _, sc := range s.cfg.Schemes {
		if strings.EqualFold(sc, "TLS-DSK") {
			res.AppendHeader(gosip.NewHeader("WWW-Authenticate", fmt.Sprintf(`TLS-DSK realm="%s", targetname="%s", version=4, sts-uri="%s"`, Realm, s.cfg.FQDN, s.cfg.STSURI)))
		}
	}
	return res
}

// registerSigned handles the signed REGISTER: identity, redirect or
// registration, and the signed answer.
func (s *Server) registerSigned(req *gosip.Request, tx gosip.ServerTransaction, a *sa, aor string) {
	from := req.From()
	ep, _ := from.Params.Get("epid")
	contact := value(req, "Contact")
	var inst string
	if c := req.Contact(); c != nil {
		if v, ok := c.Params.Get("+sip.instance"); ok {
			inst = strings.TrimSuffix(strings.TrimPrefix(strings.Trim(v, `"`), "<urn:uuid:"), ">")
		}
	}
	if ep == "" || (inst != "" && !strings.EqualFold(inst, epid.Instance(ep))) {
		s.log.Warn("endpoint identity mismatch", "aor", aor, "epid", ep, "instance", inst)
		res := gosip.NewResponseFromRequest(req, 403, "Forbidden", nil)
		res.AppendHeader(diag(DiagIdentity, "+sip.instance not derived from epid", s.cfg.FQDN))
		s.respondSigned(tx, a, res)
		return
	}
	user := strings.TrimPrefix(aor, "sip:")
	if homes := s.cfg.Homes[user]; s.cfg.Director && len(homes) > 0 {
		res := gosip.NewResponseFromRequest(req, 301, "Redirect request to Home Server", nil)
		for _, h := range homes {
			port := h.Port
			if port == 0 {
				port = 5061
			}
			res.AppendHeader(gosip.NewHeader("Contact", fmt.Sprintf("<sip:%s:%d;transport=tls>;q=%s", h.Host, port, strconv.FormatFloat(h.Q, 'f', -1, 64))))
		}
		res.AppendHeader(gosip.NewHeader("Expires", "2592000"))
		s.log.Info("redirecting to home pool", "aor", aor, "home", homes[0].Host)
		s.respondSigned(tx, a, res)
		return
	}
	expires := s.cfg.Expires
	if v := value(req, "Expires"); v != "" {
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 {
			expires = min(time.Duration(n)*time.Second, s.cfg.Expires)
		}
	}
	key := aor + "|" + inst
	res := gosip.NewResponseFromRequest(req, 200, "OK", nil)
	if expires == 0 {
		s.mu.Lock()
		delete(s.regs, key)
		s.mu.Unlock()
		s.log.Info("unregistered", "aor", aor, "epid", ep)
		res.AppendHeader(gosip.NewHeader("Expires", "0"))
		s.respondSigned(tx, a, res)
		return
	}
	gruu := gruuFor(aor, inst)
	secs := int(expires / time.Second)
	s.mu.Lock()
	r := s.regs[key]
	refresh := r != nil
	if r == nil {
		r = &Registration{AOR: aor, Epid: ep, Instance: inst}
		s.regs[key] = r
	} else {
		r.Refreshes++
	}
	r.Contact, r.GRUU, r.Source = contact, gruu, req.Source()
	r.Expires = s.cfg.Now().Add(expires)
	if a.cert != nil {
		r.CertSerial = a.cert.SerialNumber.String()
	}
	s.mu.Unlock()
	res.AppendHeader(gosip.NewHeader("Contact", fmt.Sprintf(`%s;expires=%d;+sip.instance="<urn:uuid:%s>";gruu="%s"`, contactURI(contact), secs, inst, gruu)))
	res.AppendHeader(gosip.NewHeader("Expires", strconv.Itoa(secs)))
	res.AppendHeader(gosip.NewHeader("ms-keep-alive", fmt.Sprintf("UAS; tcp=no; hop-hop=yes; end-end=no; timeout=%d", int(s.cfg.KeepAlive/time.Second))))
	res.AppendHeader(gosip.NewHeader("Supported", "gruu-10, ms-keepalive-deregister"))
	s.log.Info("registered", "aor", aor, "epid", ep, "gruu", gruu, "expires", secs, "refresh", refresh)
	s.respondSigned(tx, a, res)
}

// onSubscribe answers the provisioning-v2 SUBSCRIBE ([MS-SIPREGE] 2.2.2).
func (s *Server) onSubscribe(req *gosip.Request, tx gosip.ServerTransaction) {
	a := s.signedOrReject(req, tx)
	if a == nil {
		return
	}
	if ev := value(req, "Event"); !strings.EqualFold(strings.TrimSpace(ev), inband.Event) {
		s.respondSigned(tx, a, gosip.NewResponseFromRequest(req, 489, "Bad Event", nil))
		return
	}
	if acc := value(req, "Accept"); !strings.Contains(strings.ToLower(acc), inband.ContentType) {
		s.respondSigned(tx, a, gosip.NewResponseFromRequest(req, 406, "Not Acceptable", nil))
		return
	}
	if _, err := inband.ParseRequest(req.Body()); err != nil {
		s.respondSigned(tx, a, gosip.NewResponseFromRequest(req, 400, "Bad provisioningGroupList", nil))
		return
	}
	doc := inband.Marshal(*s.cfg.Provisioning)
	piggyback := false
	for _, h := range req.GetHeaders("Supported") {
		if strings.Contains(strings.ToLower(h.Value()), "ms-piggyback-first-notify") {
			piggyback = true
		}
	}
	res := gosip.NewResponseFromRequest(req, 200, "OK", nil)
	res.AppendHeader(gosip.NewHeader("Expires", "0"))
	if piggyback {
		res.AppendHeader(gosip.NewHeader("Event", inband.Event))
		res.AppendHeader(gosip.NewHeader("Content-Type", inband.ContentType))
		res.SetBody(doc)
		s.respondSigned(tx, a, res)
		s.log.Info("provisioning sent", "aor", a.aor, "piggyback", true)
		return
	}
	s.respondSigned(tx, a, res)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.notify(req, a, doc); err != nil {
			s.log.Warn("provisioning notify failed", "aor", a.aor, "err", err)
			return
		}
		s.log.Info("provisioning sent", "aor", a.aor, "piggyback", false)
	}()
}

// notify sends the signed provisioning NOTIFY over the subscriber's
// connection.
func (s *Server) notify(sub *gosip.Request, a *sa, doc []byte) error {
	target := sub.From().Address
	if c := sub.Contact(); c != nil {
		target = c.Address
	}
	n := gosip.NewRequest(gosip.NOTIFY, *target.Clone())
	aorURI := sub.From().Address
	from := &gosip.FromHeader{Address: *sub.To().Address.Clone(), Params: gosip.NewParams()}
	from.Params.Add("tag", randHex(5))
	to := &gosip.ToHeader{Address: *aorURI.Clone(), Params: gosip.NewParams()}
	if tag, ok := sub.From().Params.Get("tag"); ok {
		to.Params.Add("tag", tag)
	}
	cid := *sub.CallID()
	mf := gosip.MaxForwardsHeader(70)
	n.AppendHeader(from)
	n.AppendHeader(to)
	n.AppendHeader(&cid)
	n.AppendHeader(&gosip.CSeqHeader{SeqNo: 1, MethodName: gosip.NOTIFY})
	n.AppendHeader(&mf)
	n.AppendHeader(gosip.NewHeader("Event", inband.Event))
	n.AppendHeader(gosip.NewHeader("Subscription-State", "terminated;expires=0"))
	n.AppendHeader(gosip.NewHeader("Content-Type", inband.ContentType))
	n.SetBody(doc)
	s.signMessage(a, n)
	n.SetTransport("TLS")
	n.SetDestination(sub.Source())
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	defer cancel()
	res, err := s.client.Do(ctx, n, sipgo.ClientRequestBuild)
	if err != nil {
		return err
	}
	if cred, err := sipauth.ParseAuthorization(value(res, "Authorization")); err == nil && cred.Response != "" {
		a.mu.Lock()
		f := sign.FromMessage(res)
		f.Scheme, f.Rand, f.Num, f.Realm, f.Target = "TLS-DSK", cred.CRand, strconv.FormatUint(uint64(cred.CNum), 10), Realm, s.cfg.FQDN
		ok := sign.Verify(a.keys.Alg, a.keys.Client, sign.Buffer(f, a.version), cred.Response) && cred.CNum > a.lastCNum
		if ok {
			a.lastCNum = cred.CNum
		}
		a.mu.Unlock()
		if !ok {
			return errors.New("notify response signature did not verify")
		}
		s.log.Info("signature verified", "method", "NOTIFY response", "aor", a.aor, "cnum", cred.CNum)
	}
	if !res.IsSuccess() {
		return fmt.Errorf("notify answered %d", res.StatusCode)
	}
	return nil
}

// onService answers SERVICE with the location profile ([MS-SIPRE] 3.8.5.1).
func (s *Server) onService(req *gosip.Request, tx gosip.ServerTransaction) {
	a := s.signedOrReject(req, tx)
	if a == nil {
		return
	}
	res := gosip.NewResponseFromRequest(req, 200, "OK", nil)
	res.AppendHeader(gosip.NewHeader("Content-Type", inband.LocationProfileContentType))
	res.SetBody(inband.MarshalLocationProfile(*s.cfg.LocationProfile))
	s.respondSigned(tx, a, res)
}

// signedOrReject verifies a non-REGISTER request; unsigned ones get a 401.
func (s *Server) signedOrReject(req *gosip.Request, tx gosip.ServerTransaction) *sa {
	cred, err := sipauth.ParseAuthorization(value(req, "Authorization"))
	if err != nil || cred.Response == "" {
		s.respond(tx, s.challengeResponse(req))
		return nil
	}
	a, res := s.verify(req, cred)
	if res != nil {
		s.respond(tx, res)
		return nil
	}
	return a
}

// signMessage adds Authentication-Info (srand, snum, rspauth) to m, which
// must be complete. The bad-rspauth fault corrupts the MAC.
func (s *Server) signMessage(a *sa, m gosip.Message) {
	a.mu.Lock()
	a.snum++
	snum := a.snum
	keys, version := a.keys, a.version
	a.mu.Unlock()
	srand := strings.ToUpper(randHex(4))
	f := sign.FromMessage(m)
	f.Scheme, f.Rand, f.Num, f.Realm, f.Target = "TLS-DSK", srand, strconv.FormatUint(uint64(snum), 10), Realm, s.cfg.FQDN
	mac := sign.Hex(sign.MAC(keys.Alg, keys.Server, sign.Buffer(f, version)))
	if s.cfg.Faults.Has(faults.BadRspauth) {
		mac = tamper(mac)
	}
	m.AppendHeader(gosip.NewHeader("Authentication-Info", sipauth.FormatAuthInfo(sipauth.AuthInfo{
		Scheme: "TLS-DSK", Opaque: a.opaque, SRand: srand, SNum: snum, RspAuth: mac,
		TargetName: s.cfg.FQDN, Realm: Realm, Version: version,
	})))
}

func (s *Server) respondSigned(tx gosip.ServerTransaction, a *sa, res *gosip.Response) {
	s.signMessage(a, res)
	s.respond(tx, res)
}

func (s *Server) respond(tx gosip.ServerTransaction, res *gosip.Response) {
	res.AppendHeader(gosip.NewHeader("Server", "labpool RTC/6.0"))
	if err := tx.Respond(res); err != nil {
		s.log.Debug("respond failed", "status", res.StatusCode, "err", err)
	}
}

func tamper(mac string) string {
	if mac == "" {
		return "00"
	}
	c := byte('0')
	if mac[0] == '0' {
		c = '1'
	}
	return string(c) + mac[1:]
}

func diag(code int, reason, source string) gosip.Header {
	return gosip.NewHeader("ms-diagnostics", fmt.Sprintf(`%d;reason="%s";source="%s"`, code, strings.ReplaceAll(reason, `"`, "'"), source))
}

func value(m gosip.Message, name string) string {
	if hs := m.GetHeaders(name); len(hs) > 0 {
		return hs[0].Value()
	}
	return ""
}

// addrOf returns sip:user@host of a From/To header.
func addrOf(h *gosip.FromHeader) string {
	if h == nil {
		return ""
	}
	return "sip:" + h.Address.User + "@" + h.Address.Host
}

// contactURI returns the <uri> part of a Contact value.
func contactURI(v string) string {
	if i := strings.IndexByte(v, '>'); i >= 0 && strings.HasPrefix(strings.TrimSpace(v), "<") {
		return strings.TrimSpace(v[:i+1])
	}
	u, _, _ := strings.Cut(v, ";")
	return "<" + strings.TrimSpace(u) + ">"
}

// debugOnly demotes sipgo's log records to Debug.
type debugOnly struct{ h slog.Handler }

func (d debugOnly) Enabled(ctx context.Context, _ slog.Level) bool {
	return d.h.Enabled(ctx, slog.LevelDebug)
}

func (d debugOnly) Handle(ctx context.Context, r slog.Record) error {
	r.Level = slog.LevelDebug
	return d.h.Handle(ctx, r)
}

func (d debugOnly) WithAttrs(as []slog.Attr) slog.Handler { return debugOnly{d.h.WithAttrs(as)} }
func (d debugOnly) WithGroup(n string) slog.Handler       { return debugOnly{d.h.WithGroup(n)} }

// DropConnectionsForTest closes every client connection (a pool restart as
// the phone sees it).
func (s *Server) DropConnectionsForTest() {
	if p := s.ua.TransportLayer().Pool("tls"); p != nil {
		_ = p.Clear()
	}
}
