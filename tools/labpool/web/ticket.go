package web

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/beevik/etree"
	"github.com/google/uuid"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/deskphone/deskphone/bootstrap/webticket"
	"github.com/deskphone/deskphone/tools/labpool/directory"
	"github.com/deskphone/deskphone/tools/labpool/faults"
)

// Web ticket diagnostic ids ([G] for the lockout; see bootstrap/webticket).
const (
	diagNoValidToken = 28020
	diagPINLocked    = 28023
)

type issuedTicket struct {
	sipURI           string
	proofKey         []byte
	created, expires time.Time
	canonical        []byte // exc-c14n of the assertion
}

// rst is a parsed web ticket request.
type rst struct {
	context, appliesTo string
	entropy            []byte
	claimURI           string
	hasClaims          bool
	username, password string
	hasToken           bool
	passwordType       string
}

var errBadRequest = errors.New("web: malformed request")

// parseRST reads the WS-Trust RST exactly as the phone sends it
// (signin-protocols.md §4.2, §8.2): namespaces, token, request and key
// types are checked.
func parseRST(body []byte) (*rst, error) {
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(body); err != nil {
		return nil, fmt.Errorf("%w: %v", errBadRequest, err)
	}
	env := doc.Root()
	if env == nil || env.Tag != "Envelope" || env.NamespaceURI() != webticket.NSSoap {
		return nil, fmt.Errorf("%w: not a soap 1.1 envelope", errBadRequest)
	}
	var q rst
	if sec := find(env, webticket.NSSoap, "Header", webticket.NSWSSE, "Security"); sec != nil {
		if ut := find(sec, webticket.NSWSSE, "UsernameToken"); ut != nil {
			q.hasToken = true
			if u := find(ut, webticket.NSWSSE, "Username"); u != nil {
				q.username = u.Text()
			}
			if p := find(ut, webticket.NSWSSE, "Password"); p != nil {
				q.password = p.Text()
				q.passwordType = p.SelectAttrValue("Type", "")
			}
		}
	}
	t := find(env, webticket.NSSoap, "Body", webticket.NSWST, "RequestSecurityToken")
	if t == nil {
		return nil, fmt.Errorf("%w: no RequestSecurityToken", errBadRequest)
	}
	q.context = t.SelectAttrValue("Context", "")
	text := func(path ...string) string {
		if e := find(t, path...); e != nil {
			return strings.TrimSpace(e.Text())
		}
		return ""
	}
	if text(webticket.NSWST, "TokenType") != webticket.TokenTypeSAML11 ||
		text(webticket.NSWST, "RequestType") != webticket.RequestTypeIssue ||
		text(webticket.NSWST, "KeyType") != webticket.KeyTypeSymmetric {
		return nil, fmt.Errorf("%w: unexpected token, request or key type", errBadRequest)
	}
	q.appliesTo = text(webticket.NSWSP, "AppliesTo", webticket.NSWSA, "EndpointReference", webticket.NSWSA, "Address")
	ent, err := base64.StdEncoding.DecodeString(text(webticket.NSWST, "Entropy", webticket.NSWST, "BinarySecret"))
	if err != nil || len(ent) < 16 || len(ent) > 128 {
		return nil, fmt.Errorf("%w: bad client entropy", errBadRequest)
	}
	q.entropy = ent
	if c := find(t, webticket.NSWST, "Claims"); c != nil {
		q.hasClaims = true
		q.claimURI = text(webticket.NSWST, "Claims", webticket.NSAuth, "ClaimType", webticket.NSAuth, "Value")
	}
	return &q, nil
}

// find walks child elements by (namespace, local name) pairs.
func find(el *etree.Element, path ...string) *etree.Element {
	for i := 0; el != nil && i+1 < len(path); i += 2 {
		var next *etree.Element
		for _, c := range el.ChildElements() {
			if c.Tag == path[i+1] && c.NamespaceURI() == path[i] {
				next = c
				break
			}
		}
		el = next
	}
	return el
}

// pinCredentialCandidates undoes the phone's pinCredentials: the fields
// as sent, then their base64 decoding (the §8.2 switch). [G]
func pinCredentialCandidates(username, password string) [][2]string {
	out := [][2]string{{username, password}}
	u, err1 := base64.StdEncoding.DecodeString(username)
	p, err2 := base64.StdEncoding.DecodeString(password)
	if err1 == nil && err2 == nil && len(u) > 0 && printable(u) && printable(p) {
		out = append(out, [2]string{string(u), string(p)})
	}
	return out
}

func printable(b []byte) bool {
	return bytes.IndexFunc(b, func(r rune) bool { return !unicode.IsPrint(r) }) < 0
}

func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBytes))
	if err != nil {
		return nil, fmt.Errorf("web: read request: %w", err)
	}
	return b, nil
}

func (s *Server) servePIN(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(w, r)
	if err != nil {
		s.fault(w, http.StatusBadRequest, "s:Client", "Bad request", 0)
		return
	}
	q, err := parseRST(body)
	if err == nil && (!q.hasToken || q.hasClaims || q.passwordType != webticket.PasswordText) {
		err = fmt.Errorf("%w: pin rst wants a PasswordText UsernameToken and no claims", errBadRequest)
	}
	if err == nil && q.appliesTo != s.baseURL(r)+CertProvPort {
		err = fmt.Errorf("%w: applies to %q", errBadRequest, q.appliesTo)
	}
	if err != nil {
		s.logger.Info("web ticket request rejected", "binding", "pin", "err", err)
		s.fault(w, http.StatusBadRequest, "s:Client", "Bad request", 0)
		return
	}
	if s.cfg.Faults.Has(faults.PINLocked) {
		s.authFault(w, diagPINLocked, "The PIN is locked.")
		return
	}
	var (
		user    directory.User
		authErr = directory.ErrBadPIN
	)
	for _, c := range pinCredentialCandidates(q.username, q.password) {
		if _, ok := s.cfg.Dir.LookupByPhoneOrExt(c[0]); ok {
			user, authErr = s.cfg.Dir.CheckPIN(c[0], c[1])
			break
		}
	}
	switch {
	case errors.Is(authErr, directory.ErrPINLocked):
		s.logger.Info("pin sign-in refused", "reason", "locked")
		s.authFault(w, diagPINLocked, "The PIN is locked.")
		return
	case authErr != nil:
		s.logger.Info("pin sign-in refused", "reason", "bad pin")
		s.authFault(w, diagNoValidToken, "No valid security token.")
		return
	}
	s.issue(w, r, q, user, "pin")
}

// issue answers an RST for user with a SAML 1.1 ticket and P_SHA1 proof key.
func (s *Server) issue(w http.ResponseWriter, r *http.Request, q *rst, user directory.User, method string) {
	now := s.cfg.Now()
	created, expires := now.UTC().Truncate(time.Millisecond), now.UTC().Truncate(time.Millisecond).Add(s.cfg.TicketLifetime)
	serverEntropy := make([]byte, 32)
	_, _ = rand.Read(serverEntropy)
	id := "SamlSecurityToken-" + uuid.NewString()
	ts := func(t time.Time) string { return t.Format("2006-01-02T15:04:05.000Z") }
	assertion := `<saml:Assertion xmlns:saml="` + webticket.NSSAML + `" MajorVersion="1" MinorVersion="1" AssertionID="` + id +
		`" Issuer="URI:` + xmlEsc(s.baseURL(r)+WebTicketPath) + `" IssueInstant="` + ts(created) + `">` +
		`<saml:Conditions NotBefore="` + ts(created) + `" NotOnOrAfter="` + ts(expires) + `"><saml:AudienceRestrictionCondition>` +
		`<saml:Audience>` + xmlEsc(q.appliesTo) + `</saml:Audience></saml:AudienceRestrictionCondition></saml:Conditions>` +
		`<saml:AuthenticationStatement AuthenticationMethod="urn:component:Microsoft.Rtc.WebAuthentication.2010:` + method +
		`" AuthenticationInstant="` + ts(created) + `"><saml:Subject><saml:NameIdentifier Format="` + webticket.ClaimTypeURI + `">` +
		xmlEsc(user.SIPURI) + `</saml:NameIdentifier><saml:SubjectConfirmation><saml:ConfirmationMethod>` +
		`urn:oasis:names:tc:SAML:1.0:cm:holder-of-key</saml:ConfirmationMethod></saml:SubjectConfirmation></saml:Subject>` +
		`</saml:AuthenticationStatement></saml:Assertion>`
	canon, err := canonicalOf(assertion)
	if err != nil {
		s.logger.Error("assertion canonicalization failed", "err", err)
		s.fault(w, http.StatusInternalServerError, "s:Receiver", "Internal error", 0)
		return
	}
	s.mu.Lock()
	for k, t := range s.tickets {
		if now.After(t.expires) {
			delete(s.tickets, k)
		}
	}
	if len(s.tickets) >= 100000 {
		s.mu.Unlock()
		s.fault(w, http.StatusServiceUnavailable, "s:Receiver", "Too many tickets", 0)
		return
	}
	s.tickets[id] = &issuedTicket{sipURI: user.SIPURI, proofKey: webticket.PSHA1(q.entropy, serverEntropy, 32),
		created: created, expires: expires, canonical: canon}
	s.mu.Unlock()
	// wsu is declared on the envelope, not on Created/Expires: SIPE copies
	// the Lifetime children into its Timestamp literally, and a redundant
	// declaration there would break its canonical digest.
	resp := `<s:Envelope xmlns:s="` + webticket.NSSoap + `" xmlns:wsu="` + webticket.NSWSU + `"><s:Body><RequestSecurityTokenResponseCollection xmlns="` + webticket.NSWST + `">` +
		`<RequestSecurityTokenResponse Context="` + xmlEsc(q.context) + `"><TokenType>` + webticket.TokenTypeSAML11 + `</TokenType>` +
		`<RequestedSecurityToken>` + assertion + `</RequestedSecurityToken>` +
		`<RequestedProofToken><ComputedKey>` + webticket.ComputedKeyPSHA1 + `</ComputedKey></RequestedProofToken>` +
		`<Entropy><BinarySecret>` + base64.StdEncoding.EncodeToString(serverEntropy) + `</BinarySecret></Entropy>` +
		`<Lifetime><wsu:Created>` + ts(created) + `</wsu:Created><wsu:Expires>` + ts(expires) + `</wsu:Expires></Lifetime>` +
		`<KeySize>256</KeySize></RequestSecurityTokenResponse></RequestSecurityTokenResponseCollection></s:Body></s:Envelope>`
	s.logger.Info("web ticket issued", "sip_uri", user.SIPURI, "binding", method, "assertion_id", id, "expires", expires)
	writeXML(w, http.StatusOK, []byte(resp))
}

func canonicalOf(xmlText string) ([]byte, error) {
	doc := etree.NewDocument()
	if err := doc.ReadFromString(xmlText); err != nil {
		return nil, err
	}
	return dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("").Canonicalize(doc.Root())
}

// authFault answers an authentication failure: HTTP 500, a SOAP fault with
// OCSDiagnosticsFault, and X-Ms-diagnostics (§4.3, §6.9).
func (s *Server) authFault(w http.ResponseWriter, id int, reason string) {
	w.Header().Set("X-Ms-Diagnostics", fmt.Sprintf(`%d;source="%s";reason="%s"`, id, s.cfg.FQDN, reason))
	s.fault(w, http.StatusInternalServerError, "a:FailedAuthentication", reason, id)
}

func (s *Server) fault(w http.ResponseWriter, status int, code, reason string, id int) {
	var detail string
	if id != 0 {
		detail = fmt.Sprintf(`<detail><OCSDiagnosticsFault xmlns="%s"><Ms-Diagnostics-Fault><ErrorId>%d</ErrorId><Reason>%s</Reason>`+
			`</Ms-Diagnostics-Fault></OCSDiagnosticsFault></detail>`, webticket.NSDiag, id, xmlEsc(reason))
	}
	b := `<s:Envelope xmlns:s="` + webticket.NSSoap + `"><s:Body><s:Fault><faultcode xmlns:a="` + webticket.NSWSSE + `">` + code +
		`</faultcode><faultstring xml:lang="en-US">` + xmlEsc(reason) + `</faultstring>` + detail + `</s:Fault></s:Body></s:Envelope>`
	writeXML(w, status, []byte(b))
}

func (s *Server) serveWinNegotiate(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(w, r)
	if err != nil {
		s.fault(w, http.StatusBadRequest, "s:Client", "Bad request", 0)
		return
	}
	user, ok := s.winAuth(w, r)
	if !ok {
		return
	}
	q, err := parseRST(body)
	if err == nil && q.hasToken {
		err = fmt.Errorf("%w: windows rst carries a UsernameToken", errBadRequest)
	}
	if err == nil && q.appliesTo != s.baseURL(r)+CertProvPort {
		err = fmt.Errorf("%w: applies to %q", errBadRequest, q.appliesTo)
	}
	if err != nil {
		s.logger.Info("web ticket request rejected", "binding", "winnegotiate", "err", err)
		s.fault(w, http.StatusBadRequest, "s:Client", "Bad request", 0)
		return
	}
	if q.claimURI != "" && directory.NormalizeSIP(q.claimURI) != user.SIPURI {
		s.logger.Info("web ticket request rejected", "binding", "winnegotiate", "reason", "claim is another user")
		s.authFault(w, diagNoValidToken, "No valid security token.")
		return
	}
	s.issue(w, r, q, user, "winnegotiate")
}
