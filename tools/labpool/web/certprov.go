package web

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
	"github.com/russellhaering/goxmldsig/etreeutils"
	"github.com/smallstep/pkcs7"

	"github.com/deskphone/deskphone/bootstrap/certprov"
	"github.com/deskphone/deskphone/bootstrap/webticket"
	"github.com/deskphone/deskphone/tools/labpool/faults"
)

// clockSkew is the tolerance on ticket and timestamp times.
const clockSkew = 5 * time.Minute

var errTicket = errors.New("web: no valid security token")

// serveGetAndPublishCert verifies the web ticket and its proof signature,
// then issues and publishes a certificate for the CSR (§3.3–3.5, §4.4).
func (s *Server) serveGetAndPublishCert(w http.ResponseWriter, r *http.Request) {
	if !s.delay(r.Context(), "certprov") {
		return
	}
	body, err := readBody(w, r)
	if err != nil {
		s.fault(w, http.StatusBadRequest, "s:Client", "Bad request", 0)
		return
	}
	if a := strings.Trim(r.Header.Get("SOAPAction"), `"`); a != certprov.SOAPAction {
		s.fault(w, http.StatusBadRequest, "s:Client", "Unknown SOAPAction", 0)
		return
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(body); err != nil || doc.Root() == nil || doc.Root().Tag != "Envelope" ||
		doc.Root().NamespaceURI() != webticket.NSSoap {
		s.fault(w, http.StatusBadRequest, "s:Client", "Bad request", 0)
		return
	}
	env := doc.Root()
	t, err := s.verifyTicket(env, r)
	if err != nil {
		s.logger.Info("certificate request refused", "err", err)
		s.authFault(w, diagNoValidToken, "No valid security token.")
		return
	}
	gp := find(env, webticket.NSSoap, "Body", certprov.NSAuthWS, "GetAndPublishCert")
	bst := find(gp, certprov.NSWSTSlash, "RequestSecurityToken", webticket.NSWSSE, "BinarySecurityToken")
	if bst == nil || bst.SelectAttrValue("ValueType", "") != certprov.ValueTypePKCS10 {
		s.fault(w, http.StatusBadRequest, "s:Client", "Bad request", 0)
		return
	}
	deviceID := gp.SelectAttrValue("DeviceId", "")
	entity := gp.SelectAttrValue("Entity", "")
	want := strings.TrimPrefix(t.sipURI, "sip:")
	if len(deviceID) < 3 || deviceID[0] != '{' || deviceID[len(deviceID)-1] != '}' {
		s.errorInfo(w, certprov.ErrorCodeCSRRejected, "DeviceId must be a GUID in braces.")
		return
	}
	if !strings.EqualFold(entity, want) {
		s.errorInfo(w, certprov.ErrorCodeCSRRejected, "Entity does not match the web ticket.")
		return
	}
	der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(bst.Text()), ""))
	if err != nil {
		s.errorInfo(w, certprov.ErrorCodeCSRRejected, "The certificate request is not base64.")
		return
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		s.errorInfo(w, certprov.ErrorCodeCSRRejected, "The certificate request is malformed.")
		return
	}
	if !strings.EqualFold(csr.Subject.CommonName, want) {
		s.logger.Info("certificate request refused", "reason", "cn mismatch", "cn", csr.Subject.CommonName, "sip_uri", t.sipURI)
		s.errorInfo(w, certprov.ErrorCodeCSRRejected, "The certificate request subject does not match the user.")
		return
	}
	cert, err := s.cfg.CA.IssueClient(csr, s.cfg.CertValidity, s.cfg.Now())
	if err != nil {
		s.logger.Info("certificate request refused", "err", err, "sip_uri", t.sipURI)
		s.errorInfo(w, certprov.ErrorCodeCSRRejected, "The certificate request does not meet the policy.")
		return
	}
	if s.cfg.Faults.Has(faults.DatastoreUnavailable) {
		s.logger.Info("certificate publish failed", "sip_uri", t.sipURI, "reason", "fault datastore-unavailable")
		s.errorInfo(w, certprov.ErrorCodeDataStore, "The user data store is unavailable.")
		return
	}
	if err := s.cfg.Dir.Publish(t.sipURI, deviceID, cert); err != nil {
		s.logger.Error("certificate publish failed", "sip_uri", t.sipURI, "err", err)
		s.errorInfo(w, certprov.ErrorCodeDataStore, "The user data store is unavailable.")
		return
	}
	chain, err := pkcs7.DegenerateCertificate(s.cfg.CA.ClientCA().Raw)
	if err != nil {
		s.logger.Error("chain encoding failed", "err", err)
		s.fault(w, http.StatusInternalServerError, "s:Receiver", "Internal error", 0)
		return
	}
	s.logger.Info("certificate published", "sip_uri", t.sipURI, "device_id", deviceID,
		"serial", cert.SerialNumber.String(), "not_after", cert.NotAfter)
	bstOpen := `<BinarySecurityToken xmlns="` + webticket.NSWSSE + `" EncodingType="` + certprov.EncodingBase64 + `" ValueType="`
	reqID := ""
	if e := find(gp, certprov.NSWSTSlash, "RequestSecurityToken", certprov.NSWSTEP, "RequestID"); e != nil {
		reqID = e.Text()
	}
	resp := `<s:Envelope xmlns:s="` + webticket.NSSoap + `"><s:Body><GetAndPublishCertResponse xmlns="` + certprov.NSAuthWS + `">` +
		`<RequestSecurityTokenResponse xmlns="` + webticket.NSWST + `"><TokenType>` + certprov.TokenTypeX509v3 + `</TokenType>` +
		`<DispositionMessage xmlns="` + certprov.NSWSTEP + `">Issued</DispositionMessage>` +
		bstOpen + certprov.ValueTypePKCS7 + `">` + base64.StdEncoding.EncodeToString(chain) + `</BinarySecurityToken>` +
		`<RequestedSecurityToken>` + bstOpen + certprov.TokenTypeX509v3 + `">` + base64.StdEncoding.EncodeToString(cert.Raw) +
		`</BinarySecurityToken></RequestedSecurityToken><RequestID xmlns="` + certprov.NSWSTEP + `">` + xmlEsc(reqID) +
		`</RequestID></RequestSecurityTokenResponse></GetAndPublishCertResponse></s:Body></s:Envelope>`
	writeXML(w, http.StatusOK, []byte(resp))
}

// errorInfo answers a failed GetAndPublishCert the way OCAUTHWS wants: an
// ErrorInfo element, not a SOAP fault. The structure is a guess (U3). [G]
func (s *Server) errorInfo(w http.ResponseWriter, code, msg string) {
	b := `<s:Envelope xmlns:s="` + webticket.NSSoap + `"><s:Body><GetAndPublishCertResponse xmlns="` + certprov.NSAuthWS + `">` +
		`<ErrorInfo><ErrorCode>` + xmlEsc(code) + `</ErrorCode><Message>` + xmlEsc(msg) + `</Message></ErrorInfo>` +
		`</GetAndPublishCertResponse></s:Body></s:Envelope>`
	writeXML(w, http.StatusOK, []byte(b))
}

// verifyTicket checks the WS-Security header: the assertion is one we
// issued and is unchanged, both it and the timestamp are current, the
// timestamp digest matches, and the HMAC-SHA1 over the exc-c14n SignedInfo
// verifies with the ticket's proof key.
func (s *Server) verifyTicket(env *etree.Element, r *http.Request) (*issuedTicket, error) {
	sec := find(env, webticket.NSSoap, "Header", webticket.NSWSSE, "Security")
	if sec == nil {
		return nil, fmt.Errorf("%w: no wsse:Security header", errTicket)
	}
	if to := find(env, webticket.NSSoap, "Header", webticket.NSWSA, "To"); to == nil || to.Text() != s.baseURL(r)+CertProvPort {
		return nil, fmt.Errorf("%w: wsa:To is not this port", errTicket)
	}
	as := find(sec, webticket.NSSAML, "Assertion")
	ts := find(sec, webticket.NSWSU, "Timestamp")
	sig := find(sec, certprov.NSDSig, "Signature")
	if as == nil || ts == nil || sig == nil {
		return nil, fmt.Errorf("%w: security header lacks assertion, timestamp or signature", errTicket)
	}
	id := as.SelectAttrValue("AssertionID", "")
	s.mu.Lock()
	t := s.tickets[id]
	s.mu.Unlock()
	if t == nil {
		return nil, fmt.Errorf("%w: unknown assertion %q", errTicket, id)
	}
	canon, err := excC14N(as)
	if err != nil || string(canon) != string(t.canonical) {
		return nil, fmt.Errorf("%w: assertion altered", errTicket)
	}
	now := s.cfg.Now()
	if now.After(t.expires.Add(clockSkew)) || now.Before(t.created.Add(-clockSkew)) {
		return nil, fmt.Errorf("%w: ticket expired", errTicket)
	}
	created, err1 := time.Parse(time.RFC3339Nano, childText(ts, webticket.NSWSU, "Created"))
	expires, err2 := time.Parse(time.RFC3339Nano, childText(ts, webticket.NSWSU, "Expires"))
	if err1 != nil || err2 != nil || now.After(expires.Add(clockSkew)) || now.Before(created.Add(-clockSkew)) {
		return nil, fmt.Errorf("%w: timestamp missing or not current", errTicket)
	}
	tsID := ""
	for _, a := range ts.Attr {
		if a.Key == "Id" && a.NamespaceURI() == webticket.NSWSU {
			tsID = a.Value
		}
	}
	si := find(sig, certprov.NSDSig, "SignedInfo")
	if si == nil || tsID == "" {
		return nil, fmt.Errorf("%w: no SignedInfo or timestamp id", errTicket)
	}
	alg := func(el *etree.Element, path ...string) string {
		if e := find(el, path...); e != nil {
			return e.SelectAttrValue("Algorithm", "")
		}
		return ""
	}
	refs := si.SelectElements("Reference")
	if alg(si, certprov.NSDSig, "CanonicalizationMethod") != certprov.AlgExcC14N ||
		alg(si, certprov.NSDSig, "SignatureMethod") != certprov.AlgHMACSHA1 || len(refs) != 1 {
		return nil, fmt.Errorf("%w: unsupported signature algorithms", errTicket)
	}
	ref := refs[0]
	if ref.SelectAttrValue("URI", "") != "#"+tsID || alg(ref, certprov.NSDSig, "DigestMethod") != certprov.AlgSHA1 {
		return nil, fmt.Errorf("%w: reference is not the timestamp", errTicket)
	}
	if tr := find(ref, certprov.NSDSig, "Transforms"); tr == nil || len(tr.ChildElements()) != 1 ||
		alg(tr, certprov.NSDSig, "Transform") != certprov.AlgExcC14N {
		return nil, fmt.Errorf("%w: unsupported transforms", errTicket)
	}
	cts, err := excC14N(ts)
	if err != nil {
		return nil, fmt.Errorf("%w: canonicalize timestamp: %v", errTicket, err)
	}
	d := sha1.Sum(cts)
	want, err := base64.StdEncoding.DecodeString(childText(ref, certprov.NSDSig, "DigestValue"))
	if err != nil || !hmac.Equal(d[:], want) {
		return nil, fmt.Errorf("%w: timestamp digest mismatch", errTicket)
	}
	csi, err := excC14N(si)
	if err != nil {
		return nil, fmt.Errorf("%w: canonicalize signedinfo: %v", errTicket, err)
	}
	m := hmac.New(sha1.New, t.proofKey)
	m.Write(csi)
	sv, err := base64.StdEncoding.DecodeString(strings.TrimSpace(childText(sig, certprov.NSDSig, "SignatureValue")))
	if err != nil || !hmac.Equal(m.Sum(nil), sv) {
		return nil, fmt.Errorf("%w: proof signature mismatch", errTicket)
	}
	if kid := find(sig, certprov.NSDSig, "KeyInfo", webticket.NSWSSE, "SecurityTokenReference", webticket.NSWSSE, "KeyIdentifier"); kid == nil ||
		strings.TrimSpace(kid.Text()) != id {
		return nil, fmt.Errorf("%w: key identifier does not name the assertion", errTicket)
	}
	return t, nil
}

func childText(el *etree.Element, ns, tag string) string {
	if e := find(el, ns, tag); e != nil {
		return strings.TrimSpace(e.Text())
	}
	return ""
}

// excC14N canonicalizes el (exclusive, no comments) in its document's
// namespace context.
func excC14N(el *etree.Element) ([]byte, error) {
	ctx, err := etreeutils.NSBuildParentContext(el)
	if err != nil {
		return nil, err
	}
	det, err := etreeutils.NSDetatch(ctx, el)
	if err != nil {
		return nil, err
	}
	return dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("").Canonicalize(det)
}
