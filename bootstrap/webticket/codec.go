package webticket

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/beevik/etree"
)

// XML namespaces and URIs of the web ticket exchange (signin-protocols.md §3.3, §4.2).
const (
	NSSoap = "http://schemas.xmlsoap.org/soap/envelope/"
	NSWSA  = "http://www.w3.org/2005/08/addressing"
	NSWSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
	NSWSU  = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
	NSWSP  = "http://schemas.xmlsoap.org/ws/2004/09/policy"
	NSAuth = "http://schemas.xmlsoap.org/ws/2006/12/authorization"
	NSSAML = "urn:oasis:names:tc:SAML:1.0:assertion"
	NSWST  = "http://docs.oasis-open.org/ws-sx/ws-trust/200512"

	// SOAPActionIssue is the SOAPAction of an RST (quoted on the wire).
	SOAPActionIssue = "http://docs.oasis-open.org/ws-sx/ws-trust/200512/RST/Issue"
	// TokenTypeSAML11 is the requested token type.
	TokenTypeSAML11 = "http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.1#SAMLV1.1"
	// RequestTypeIssue is the 2005/02 Issue URI that SIPE and lyncsmash send.
	RequestTypeIssue = "http://schemas.xmlsoap.org/ws/2005/02/trust/Issue"
	// KeyTypeSymmetric asks for a symmetric proof key.
	KeyTypeSymmetric = "http://docs.oasis-open.org/ws-sx/ws-trust/200512/SymmetricKey"
	// ClaimsDialect is the Lync claims dialect; ClaimTypeURI the SIP URI claim.
	ClaimsDialect = "urn:component:Microsoft.Rtc.WebAuthentication.2010:authclaims"
	ClaimTypeURI  = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/uri"
	// PasswordText is the UsernameToken password type.
	PasswordText = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText"
	// ComputedKeyPSHA1 marks a proof key computed with P_SHA1 from both entropies.
	ComputedKeyPSHA1 = "http://docs.oasis-open.org/ws-sx/ws-trust/200512/CK/PSHA1"
	// NSDiag is the namespace of OCSDiagnosticsFault.
	NSDiag = "urn:component:Microsoft.Rtc.WebAuthentication.2010"
)

// WSDL port and policy names (signin-protocols.md §3.2, §4.1).
const (
	PortCertProvProof    = "CertProvisioningServiceWebTicketProof_SHA1"
	PolicyCertProvProof  = "CertProvisioningServiceWebTicketProof_SHA1_policy"
	PortWebTicketPin     = "WebTicketServicePin"
	PortWebTicketWinNego = "WebTicketServiceWinNegotiate"
	PortWebTicketCert    = "WebTicketServiceCert"
)

// EnvelopeOpen is the SOAP envelope start tag with the namespace
// declarations SIPE sends (signin-protocols.md §3.3).
const EnvelopeOpen = `<soap:Envelope xmlns:soap="` + NSSoap + `" xmlns:wsa="` + NSWSA +
	`" xmlns:wsse="` + NSWSSE + `" xmlns:wsu="` + NSWSU + `" xmlns:wsp="` + NSWSP +
	`" xmlns:auth="` + NSAuth + `" xmlns:saml="` + NSSAML + `" xmlns:wst="` + NSWST + `">`

// RSTRequest is the content of a web ticket request.
type RSTRequest struct {
	// Context is the RST Context attribute (a UUID).
	Context string
	// AppliesTo is the CertProv port address the ticket is for.
	AppliesTo string
	// ClientEntropy is the client half of the proof key (32 bytes).
	ClientEntropy []byte
	// ClaimURI, if set, adds the SIP URI claim (password binding).
	ClaimURI string
	// Username and Password, if Username is set, go in a
	// wsse:Security/wsse:UsernameToken header (PIN binding).
	Username, Password string
}

// BuildRST returns the SOAP 1.1 envelope of a WS-Trust RST
// (signin-protocols.md §4.2; PIN header per §8.2).
func BuildRST(r RSTRequest) []byte {
	var b bytes.Buffer
	b.WriteString(EnvelopeOpen)
	if r.Username != "" {
		b.WriteString(`<soap:Header><wsse:Security><wsse:UsernameToken><wsse:Username>`)
		esc(&b, r.Username)
		b.WriteString(`</wsse:Username><wsse:Password Type="` + PasswordText + `">`)
		esc(&b, r.Password)
		b.WriteString(`</wsse:Password></wsse:UsernameToken></wsse:Security></soap:Header>`)
	}
	b.WriteString(`<soap:Body><wst:RequestSecurityToken Context="`)
	esc(&b, r.Context)
	b.WriteString(`"><wst:TokenType>` + TokenTypeSAML11 + `</wst:TokenType>`)
	b.WriteString(`<wst:RequestType>` + RequestTypeIssue + `</wst:RequestType>`)
	b.WriteString(`<wsp:AppliesTo><wsa:EndpointReference><wsa:Address>`)
	esc(&b, r.AppliesTo)
	b.WriteString(`</wsa:Address></wsa:EndpointReference></wsp:AppliesTo>`)
	if r.ClaimURI != "" {
		b.WriteString(`<wst:Claims Dialect="` + ClaimsDialect + `"><auth:ClaimType Uri="` + ClaimTypeURI +
			`" Optional="false"><auth:Value>`)
		esc(&b, r.ClaimURI)
		b.WriteString(`</auth:Value></auth:ClaimType></wst:Claims>`)
	}
	b.WriteString(`<wst:Entropy><wst:BinarySecret>`)
	b.WriteString(base64.StdEncoding.EncodeToString(r.ClientEntropy))
	b.WriteString(`</wst:BinarySecret></wst:Entropy><wst:KeyType>` + KeyTypeSymmetric +
		`</wst:KeyType></wst:RequestSecurityToken></soap:Body></soap:Envelope>`)
	return b.Bytes()
}

func esc(b *bytes.Buffer, s string) {
	_ = xml.EscapeText(b, []byte(s))
}

// RSTR is what the phone needs from a RequestSecurityTokenResponse
// (signin-protocols.md §4.3). Element names are matched on local names.
type RSTR struct {
	// Assertion is the saml:Assertion element, byte for byte as received.
	Assertion   string
	AssertionID string
	// NameID is the SAML NameIdentifier (the user's SIP URI).
	NameID           string
	Created, Expires time.Time
	// LifetimeCreated and LifetimeExpires are the Lifetime texts as received.
	LifetimeCreated, LifetimeExpires string
	// ServerEntropy is Entropy/BinarySecret.
	ServerEntropy []byte
	// ComputedKey is RequestedProofToken/ComputedKey (a URI), if any.
	ComputedKey string
	// ProofSecret is RequestedProofToken/BinarySecret, if the server sent
	// the key itself.
	ProofSecret []byte
	// KeySizeBits is KeySize (0 if absent).
	KeySizeBits int
}

// ErrNoToken means the response carried no usable security token.
var ErrNoToken = errors.New("webticket: response has no security token")

// ParseRSTR parses a SOAP response carrying a RequestSecurityTokenResponse.
func ParseRSTR(body []byte) (*RSTR, error) {
	d := xml.NewDecoder(bytes.NewReader(body))
	var (
		r        RSTR
		stack    []string
		text     strings.Builder
		asStart  int64 = -1
		asDepth  int
		asEnd    int64 = -1
		keySize  string
		inFault  bool
		entropy  string
		pSecret  string
		haveBody bool
	)
	for {
		off := d.InputOffset()
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("webticket: parse rstr: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			stack = append(stack, t.Name.Local)
			text.Reset()
			switch {
			case t.Name.Local == "Body":
				haveBody = true
			case t.Name.Local == "Fault":
				inFault = true
			case t.Name.Local == "Assertion" && asStart < 0 && parentIs(stack, "RequestedSecurityToken"):
				asStart, asDepth = off, len(stack)
				r.AssertionID = attr(t, "AssertionID")
			}
		case xml.CharData:
			if text.Len()+len(t) <= 64<<10 {
				text.Write(t)
			}
		case xml.EndElement:
			v := strings.TrimSpace(text.String())
			n := len(stack)
			switch local := t.Name.Local; {
			case local == "Assertion" && asStart >= 0 && asEnd < 0 && n == asDepth:
				asEnd = d.InputOffset()
			case local == "NameIdentifier" && asStart >= 0 && asEnd < 0 && r.NameID == "":
				r.NameID = v
			case local == "Created" && parentIs(stack, "Lifetime"):
				r.LifetimeCreated = v
			case local == "Expires" && parentIs(stack, "Lifetime"):
				r.LifetimeExpires = v
			case local == "BinarySecret" && parentIs(stack, "Entropy"):
				entropy = v
			case local == "BinarySecret" && parentIs(stack, "RequestedProofToken"):
				pSecret = v
			case local == "ComputedKey" && parentIs(stack, "RequestedProofToken"):
				r.ComputedKey = v
			case local == "KeySize" && (asStart < 0 || asEnd >= 0):
				keySize = v
			}
			stack = stack[:n-1]
			text.Reset()
		}
	}
	if !haveBody {
		return nil, errors.New("webticket: parse rstr: no soap body")
	}
	if inFault {
		return nil, errors.New("webticket: parse rstr: soap fault")
	}
	if asStart < 0 || asEnd < 0 || r.AssertionID == "" {
		return nil, ErrNoToken
	}
	r.Assertion = string(body[asStart:asEnd])
	var err error
	if r.Created, err = time.Parse(time.RFC3339Nano, r.LifetimeCreated); err != nil {
		return nil, fmt.Errorf("webticket: parse rstr: lifetime created: %w", err)
	}
	if r.Expires, err = time.Parse(time.RFC3339Nano, r.LifetimeExpires); err != nil {
		return nil, fmt.Errorf("webticket: parse rstr: lifetime expires: %w", err)
	}
	if !r.Expires.After(r.Created) {
		return nil, errors.New("webticket: parse rstr: lifetime expires before it starts")
	}
	if entropy != "" {
		if r.ServerEntropy, err = base64.StdEncoding.DecodeString(entropy); err != nil {
			return nil, fmt.Errorf("webticket: parse rstr: entropy: %w", err)
		}
	}
	if pSecret != "" {
		if r.ProofSecret, err = base64.StdEncoding.DecodeString(pSecret); err != nil {
			return nil, fmt.Errorf("webticket: parse rstr: proof secret: %w", err)
		}
	}
	if keySize != "" {
		if r.KeySizeBits, err = strconv.Atoi(keySize); err != nil || r.KeySizeBits < 0 || r.KeySizeBits > 4096 {
			return nil, fmt.Errorf("webticket: parse rstr: bad key size %q", keySize)
		}
	}
	return &r, nil
}

// ProofKey derives the ticket's proof key for the given client entropy:
// P_SHA1(client, server) for CK/PSHA1, or the proof secret sent as is.
func (r *RSTR) ProofKey(clientEntropy []byte) ([]byte, error) {
	switch {
	case r.ComputedKey == ComputedKeyPSHA1 || (r.ComputedKey == "" && len(r.ServerEntropy) > 0):
		if len(r.ServerEntropy) == 0 {
			return nil, errors.New("webticket: computed key without server entropy")
		}
		n := r.KeySizeBits / 8
		if n == 0 {
			n = 32
		}
		return PSHA1(clientEntropy, r.ServerEntropy, n), nil
	case r.ComputedKey == "" && len(r.ProofSecret) > 0:
		return r.ProofSecret, nil
	case r.ComputedKey != "":
		return nil, fmt.Errorf("webticket: unsupported computed key %q", r.ComputedKey)
	}
	return nil, errors.New("webticket: response has no proof key")
}

func parentIs(stack []string, name string) bool {
	return len(stack) >= 2 && stack[len(stack)-2] == name
}

func attr(t xml.StartElement, local string) string {
	for _, a := range t.Attr {
		if a.Name.Local == local {
			return a.Value
		}
	}
	return ""
}

// WSDL is what the metadata (mex) documents tell: port addresses and the
// issued-token policies (signin-protocols.md §3.2). Names are local names;
// namespaces are ignored, as SIPE does.
type WSDL struct {
	// Ports maps wsdl:port/@name to its address/@location.
	Ports map[string]string
	// Policies maps wsp:Policy/@Id to the policy's issued-token facts.
	Policies map[string]Policy
}

// Policy describes an issued-token policy.
type Policy struct {
	// Issuer is IssuedToken/Issuer/Address (the WebTicket service URL).
	Issuer string
	// Proof is true under EndorsingSupportingTokens (a signed,
	// proof-of-possession ticket); false under SignedSupportingTokens
	// (a bearer ticket).
	Proof bool
}

// ParseWSDL parses a WSDL (+ WS-Policy) metadata document.
func ParseWSDL(b []byte) (*WSDL, error) {
	doc := etree.NewDocument()
	doc.ReadSettings.Permissive = false
	if err := doc.ReadFromBytes(b); err != nil {
		return nil, fmt.Errorf("webticket: parse wsdl: %w", err)
	}
	root := doc.Root()
	if root == nil || root.Tag != "definitions" {
		return nil, errors.New("webticket: parse wsdl: not a wsdl definitions document")
	}
	w := &WSDL{Ports: map[string]string{}, Policies: map[string]Policy{}}
	walk(root, func(el *etree.Element) {
		switch el.Tag {
		case "port":
			name := localAttr(el, "name")
			for _, c := range el.ChildElements() {
				if c.Tag == "address" && name != "" {
					if _, dup := w.Ports[name]; !dup {
						w.Ports[name] = strings.TrimSpace(localAttr(c, "location"))
					}
				}
			}
		case "Policy":
			id := localAttr(el, "Id")
			if id == "" {
				return
			}
			if _, dup := w.Policies[id]; dup {
				return
			}
			var p Policy
			found := false
			walk(el, func(e *etree.Element) {
				if found || (e.Tag != "EndorsingSupportingTokens" && e.Tag != "SignedSupportingTokens") {
					return
				}
				walk(e, func(it *etree.Element) {
					if found || it.Tag != "Issuer" {
						return
					}
					for _, a := range it.ChildElements() {
						if a.Tag == "Address" {
							p.Issuer = strings.TrimSpace(a.Text())
							p.Proof = e.Tag == "EndorsingSupportingTokens"
							found = true
							return
						}
					}
				})
			})
			if found {
				w.Policies[id] = p
			}
		}
	})
	return w, nil
}

func walk(el *etree.Element, f func(*etree.Element)) {
	f(el)
	for _, c := range el.ChildElements() {
		walk(c, f)
	}
}

func localAttr(el *etree.Element, key string) string {
	for _, a := range el.Attr {
		if a.Key == key && a.Space != "xmlns" {
			return a.Value
		}
	}
	return ""
}

// Fault is a SOAP fault, with the Lync OCSDiagnosticsFault detail if present
// (signin-protocols.md §4.3, §6.9).
type Fault struct {
	Code, String string
	// ErrorID and Reason come from OCSDiagnosticsFault/Ms-Diagnostics-Fault
	// (ErrorID 0 if absent).
	ErrorID int
	Reason  string
}

// ParseFault finds a SOAP fault in a response body. ok is false when the
// body is not a SOAP envelope with a Fault.
func ParseFault(b []byte) (f Fault, ok bool) {
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(b); err != nil {
		return Fault{}, false
	}
	root := doc.Root()
	if root == nil || root.Tag != "Envelope" {
		return Fault{}, false
	}
	var fe *etree.Element
	for _, c := range root.ChildElements() {
		if c.Tag != "Body" {
			continue
		}
		for _, cc := range c.ChildElements() {
			if cc.Tag == "Fault" {
				fe = cc
			}
		}
	}
	if fe == nil {
		return Fault{}, false
	}
	for _, c := range fe.ChildElements() {
		switch c.Tag {
		case "faultcode":
			f.Code = strings.TrimSpace(c.Text())
		case "faultstring":
			f.String = strings.TrimSpace(c.Text())
		case "Code": // SOAP 1.2
			if v := c.SelectElement("Value"); v != nil {
				f.Code = strings.TrimSpace(v.Text())
			}
		case "Reason": // SOAP 1.2
			if v := c.SelectElement("Text"); v != nil {
				f.String = strings.TrimSpace(v.Text())
			}
		}
	}
	walk(fe, func(el *etree.Element) {
		if el.Tag != "Ms-Diagnostics-Fault" || f.ErrorID != 0 {
			return
		}
		for _, c := range el.ChildElements() {
			switch c.Tag {
			case "ErrorId":
				if n, err := strconv.Atoi(strings.TrimSpace(c.Text())); err == nil && n > 0 {
					f.ErrorID = n
				}
			case "Reason":
				f.Reason = strings.TrimSpace(c.Text())
			}
		}
	})
	return f, true
}

// Diagnostic is a parsed ms-diagnostics value:
// `28020;source="pool.example.test";reason="No valid security token."`.
type Diagnostic struct {
	ErrorID int
	// Params holds the key="value" parameters (source, reason, fault...),
	// keys lowercased.
	Params map[string]string
}

// ParseDiagnostics parses an X-Ms-diagnostics / ms-diagnostics header value.
func ParseDiagnostics(v string) (Diagnostic, bool) {
	v = strings.TrimSpace(v)
	id, rest, _ := strings.Cut(v, ";")
	n, err := strconv.Atoi(strings.TrimSpace(id))
	if err != nil || n <= 0 {
		return Diagnostic{}, false
	}
	d := Diagnostic{ErrorID: n, Params: map[string]string{}}
	for len(rest) > 0 && len(d.Params) < 16 {
		rest = strings.TrimLeft(rest, " ;")
		key, after, ok := strings.Cut(rest, "=")
		if !ok {
			break
		}
		key = strings.ToLower(strings.TrimSpace(key))
		after = strings.TrimLeft(after, " ")
		var val string
		if strings.HasPrefix(after, `"`) {
			end := strings.IndexByte(after[1:], '"')
			if end < 0 {
				val, rest = after[1:], ""
			} else {
				val, rest = after[1:1+end], after[2+end:]
			}
		} else {
			val, rest, _ = strings.Cut(after, ";")
			val = strings.TrimSpace(val)
		}
		if key != "" {
			d.Params[key] = val
		}
	}
	return d, true
}
