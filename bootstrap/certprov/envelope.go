package certprov

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
	"github.com/russellhaering/goxmldsig/etreeutils"

	"github.com/deskphone/deskphone/bootstrap/webticket"
)

// URIs of the GetAndPublishCert exchange (signin-protocols.md §3.3, §4.4).
const (
	SOAPAction       = "http://schemas.microsoft.com/OCS/AuthWebServices/GetAndPublishCert"
	NSAuthWS         = "http://schemas.microsoft.com/OCS/AuthWebServices/"
	NSWSTSlash       = "http://docs.oasis-open.org/ws-sx/ws-trust/200512/"
	NSWSTEP          = "http://schemas.microsoft.com/windows/pki/2009/01/enrollment"
	NSDSig           = "http://www.w3.org/2000/09/xmldsig#"
	TokenTypeX509v3  = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3"
	RequestTypeIssue = "http://docs.oasis-open.org/ws-sx/ws-trust/200512/Issue"
	ValueTypePKCS10  = "http://schemas.microsoft.com/OCS/AuthWebServices.xsd#PKCS10"
	EncodingBase64   = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd#Base64Binary"
	AlgExcC14N       = "http://www.w3.org/2001/10/xml-exc-c14n#"
	AlgHMACSHA1      = "http://www.w3.org/2000/09/xmldsig#hmac-sha1"
	AlgSHA1          = "http://www.w3.org/2000/09/xmldsig#sha1"
	ValueTypeSAMLID  = "http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.0#SAMLAssertionID"
	AnonymousAddress = "http://www.w3.org/2005/08/addressing/anonymous"
	// TimestampID is the wsu:Id of the signed timestamp.
	TimestampID = "timestamp"
)

// Request is the content of one GetAndPublishCert call.
type Request struct {
	// PortURL is the CertProvisioningServiceWebTicketProof_SHA1 address.
	PortURL string
	// MessageID and RequestID are UUIDs (without "uuid:" or braces).
	MessageID, RequestID string
	// DeviceID is the device UUID (braces optional; sent as {uuid}).
	DeviceID string
	// CSR is the DER PKCS#10 request.
	CSR []byte
	// Ticket is the web ticket; its SIP URI gives Entity.
	Ticket *webticket.Ticket
	// Bearer omits the Signature (a SignedSupportingTokens policy).
	Bearer bool
}

// BuildEnvelope returns the signed SOAP envelope of a GetAndPublishCert call.
func BuildEnvelope(r Request) ([]byte, error) {
	t := r.Ticket
	if t == nil || t.Assertion == "" || t.AssertionID == "" {
		return nil, errors.New("certprov: build envelope: no web ticket")
	}
	if !r.Bearer && len(t.ProofKey) == 0 {
		return nil, errors.New("certprov: build envelope: ticket has no proof key")
	}
	ts, err := canonicalTimestamp(t.Created, t.Expires)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString(webticket.EnvelopeOpen)
	b.WriteString(`<soap:Header><wsa:To>`)
	esc(&b, r.PortURL)
	b.WriteString(`</wsa:To><wsa:ReplyTo><wsa:Address>` + AnonymousAddress + `</wsa:Address></wsa:ReplyTo><wsa:MessageID>uuid:`)
	esc(&b, r.MessageID)
	b.WriteString(`</wsa:MessageID><wsa:Action>` + SOAPAction + `</wsa:Action><wsse:Security>`)
	b.Write(ts)
	b.WriteString(t.Assertion)
	if !r.Bearer {
		sig, err := Signature(ts, t.ProofKey, t.AssertionID)
		if err != nil {
			return nil, err
		}
		b.Write(sig)
	}
	b.WriteString(`</wsse:Security></soap:Header><soap:Body><GetAndPublishCert xmlns="` + NSAuthWS +
		`" xmlns:wst="` + NSWSTSlash + `" xmlns:wstep="` + NSWSTEP + `" DeviceId="{`)
	esc(&b, strings.Trim(r.DeviceID, "{}"))
	b.WriteString(`}" Entity="`)
	esc(&b, Entity(t.SIPURI))
	b.WriteString(`"><wst:RequestSecurityToken><wst:TokenType>` + TokenTypeX509v3 + `</wst:TokenType><wst:RequestType>` +
		RequestTypeIssue + `</wst:RequestType><wsse:BinarySecurityToken ValueType="` + ValueTypePKCS10 +
		`" EncodingType="` + EncodingBase64 + `">`)
	b.WriteString(WrapBase64(r.CSR))
	b.WriteString(`</wsse:BinarySecurityToken><wstep:RequestID>`)
	esc(&b, r.RequestID)
	b.WriteString(`</wstep:RequestID></wst:RequestSecurityToken></GetAndPublishCert></soap:Body></soap:Envelope>`)
	return b.Bytes(), nil
}

func esc(b *bytes.Buffer, s string) { _ = xml.EscapeText(b, []byte(s)) }

// WrapBase64 encodes der as base64 in 76-character lines joined by CRLF,
// with a CRLF before the first line (§3.3).
func WrapBase64(der []byte) string {
	s := base64.StdEncoding.EncodeToString(der)
	var b strings.Builder
	b.Grow(len(s) + len(s)/76*2 + 4)
	for len(s) > 0 {
		n := min(76, len(s))
		b.WriteString("\r\n")
		b.WriteString(s[:n])
		s = s[n:]
	}
	return b.String()
}

// FormatTime is the xsd:dateTime form of Timestamp Created/Expires.
func FormatTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// canonicalTimestamp returns the exc-c14n form of the WS-Security Timestamp
// built from the ticket lifetime. It is written without whitespace and with
// one namespace declaration, so it equals its canonical form; running it
// through the canonicalizer keeps that true by construction.
func canonicalTimestamp(created, expires time.Time) ([]byte, error) {
	lit := `<wsu:Timestamp xmlns:wsu="` + webticket.NSWSU + `" wsu:Id="` + TimestampID + `"><wsu:Created>` +
		FormatTime(created) + `</wsu:Created><wsu:Expires>` + FormatTime(expires) + `</wsu:Expires></wsu:Timestamp>`
	doc := etree.NewDocument()
	if err := doc.ReadFromString(lit); err != nil {
		return nil, fmt.Errorf("certprov: timestamp: %w", err)
	}
	c, err := ExcC14N(doc.Root())
	if err != nil {
		return nil, fmt.Errorf("certprov: timestamp: %w", err)
	}
	return c, nil
}

// ExcC14N returns the exclusive canonical form (without comments, empty
// inclusive prefix list) of el, taking in-scope namespaces from its ancestors.
func ExcC14N(el *etree.Element) ([]byte, error) {
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

// Signature returns the ds:Signature element that proves possession of the
// ticket's key (§4.4): SignedInfo (exc-c14n) referencing #timestamp with the
// SHA-1 digest of the canonical timestamp, HMAC-SHA1 over the canonical
// SignedInfo, and a KeyInfo naming the SAML assertion.
func Signature(canonicalTS, key []byte, assertionID string) ([]byte, error) {
	digest := sha1.Sum(canonicalTS)
	si := etree.NewElement("SignedInfo")
	si.CreateAttr("xmlns", NSDSig)
	si.CreateElement("CanonicalizationMethod").CreateAttr("Algorithm", AlgExcC14N)
	si.CreateElement("SignatureMethod").CreateAttr("Algorithm", AlgHMACSHA1)
	ref := si.CreateElement("Reference")
	ref.CreateAttr("URI", "#"+TimestampID)
	ref.CreateElement("Transforms").CreateElement("Transform").CreateAttr("Algorithm", AlgExcC14N)
	ref.CreateElement("DigestMethod").CreateAttr("Algorithm", AlgSHA1)
	ref.CreateElement("DigestValue").SetText(base64.StdEncoding.EncodeToString(digest[:]))
	csi, err := dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("").Canonicalize(si)
	if err != nil {
		return nil, fmt.Errorf("certprov: canonicalize signedinfo: %w", err)
	}
	m := hmac.New(sha1.New, key)
	m.Write(csi)
	var b bytes.Buffer
	b.WriteString(`<Signature xmlns="` + NSDSig + `">`)
	b.Write(csi)
	b.WriteString(`<SignatureValue>` + base64.StdEncoding.EncodeToString(m.Sum(nil)) + `</SignatureValue>`)
	b.WriteString(`<KeyInfo><wsse:SecurityTokenReference xmlns:wsse="` + webticket.NSWSSE + `" wsse:TokenType="` +
		webticket.TokenTypeSAML11 + `"><wsse:KeyIdentifier ValueType="` + ValueTypeSAMLID + `">`)
	esc(&b, assertionID)
	b.WriteString(`</wsse:KeyIdentifier></wsse:SecurityTokenReference></KeyInfo></Signature>`)
	return b.Bytes(), nil
}
