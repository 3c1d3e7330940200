package web

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"net/http"

	"github.com/smallstep/pkcs7"

	"github.com/deskphone/deskphone/tools/labpool/faults"
)

func (s *Server) serveChain(w http.ResponseWriter, r *http.Request) {
	chain := s.cfg.CA.Chain()
	if s.cfg.Faults.Has(faults.ChainUntrusted) {
		chain = s.cfg.CA.UntrustedChain()
	}
	var raw []byte
	for _, c := range chain {
		raw = append(raw, c.Raw...)
	}
	p7, err := pkcs7.DegenerateCertificate(raw)
	if err != nil {
		s.logger.Error("chain encoding failed", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/pkcs7-mime")
	_, _ = w.Write(p7)
}

func xmlEsc(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

const wsdlOpen = `<?xml version="1.0" encoding="utf-8"?>` +
	`<wsdl:definitions name="%s" targetNamespace="http://schemas.microsoft.com/OCS/AuthWebServices/"` +
	` xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/" xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"` +
	` xmlns:wsu="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"` +
	` xmlns:wsp="http://schemas.xmlsoap.org/ws/2004/09/policy" xmlns:sp="http://docs.oasis-open.org/ws-sx/ws-securitypolicy/200702"` +
	` xmlns:wsa10="http://www.w3.org/2005/08/addressing" xmlns:wsaw="http://www.w3.org/2006/05/addressing/wsdl"` +
	` xmlns:tns="http://schemas.microsoft.com/OCS/AuthWebServices/" xmlns:xsd="http://www.w3.org/2001/XMLSchema">`

// issuedTokenPolicy is an issued-token policy naming the WebTicket service
// as issuer; wrapper is EndorsingSupportingTokens (proof) or
// SignedSupportingTokens (bearer).
func issuedTokenPolicy(id, wrapper, issuer string) string {
	return `<wsp:Policy wsu:Id="` + id + `"><wsp:ExactlyOne><wsp:All>` +
		`<sp:TransportBinding><wsp:Policy><sp:TransportToken><wsp:Policy><sp:HttpsToken/></wsp:Policy></sp:TransportToken>` +
		`<sp:AlgorithmSuite><wsp:Policy><sp:Basic256/></wsp:Policy></sp:AlgorithmSuite><sp:Layout><wsp:Policy><sp:Strict/></wsp:Policy></sp:Layout>` +
		`<sp:IncludeTimestamp/></wsp:Policy></sp:TransportBinding>` +
		`<sp:` + wrapper + `><wsp:Policy><sp:IssuedToken sp:IncludeToken="http://docs.oasis-open.org/ws-sx/ws-securitypolicy/200702/IncludeToken/AlwaysToRecipient">` +
		`<sp:Issuer><wsa10:Address>` + xmlEsc(issuer) + `</wsa10:Address></sp:Issuer>` +
		`<sp:RequestSecurityTokenTemplate><t:TokenType xmlns:t="http://docs.oasis-open.org/ws-sx/ws-trust/200512">` +
		`http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.1#SAMLV1.1</t:TokenType>` +
		`<t:KeyType xmlns:t="http://docs.oasis-open.org/ws-sx/ws-trust/200512">http://docs.oasis-open.org/ws-sx/ws-trust/200512/SymmetricKey</t:KeyType>` +
		`</sp:RequestSecurityTokenTemplate><wsp:Policy><sp:RequireInternalReference/></wsp:Policy></sp:IssuedToken></wsp:Policy></sp:` + wrapper + `>` +
		`</wsp:All></wsp:ExactlyOne></wsp:Policy>`
}

func port(name, binding, location string) string {
	return `<wsdl:port name="` + name + `" binding="tns:` + binding + `"><soap:address location="` + xmlEsc(location) + `"/>` +
		`<wsa10:EndpointReference><wsa10:Address>` + xmlEsc(location) + `</wsa10:Address></wsa10:EndpointReference></wsdl:port>`
}

func (s *Server) serveCertProvMex(w http.ResponseWriter, r *http.Request) {
	base := s.baseURL(r)
	issuer := base + WebTicketPath
	var b bytes.Buffer
	b.WriteString(fmt.Sprintf(wsdlOpen, "CertProvisioningService"))
	b.WriteString(issuedTokenPolicy("CertProvisioningServiceWebTicketProof_SHA1_policy", "EndorsingSupportingTokens", issuer))
	b.WriteString(issuedTokenPolicy("CertProvisioningServiceWebTicketBearer_policy", "SignedSupportingTokens", issuer))
	b.WriteString(`<wsdl:portType name="ICertProvisioningService"><wsdl:operation name="GetAndPublishCert">` +
		`<wsdl:input wsaw:Action="http://schemas.microsoft.com/OCS/AuthWebServices/GetAndPublishCert" message="tns:GetAndPublishCertRequest"/>` +
		`<wsdl:output wsaw:Action="http://schemas.microsoft.com/OCS/AuthWebServices/GetAndPublishCertResponse" message="tns:GetAndPublishCertResponse"/>` +
		`</wsdl:operation></wsdl:portType>`)
	for _, bn := range []string{"CertProvisioningServiceWebTicketProof_SHA1", "CertProvisioningServiceWebTicketBearer"} {
		b.WriteString(`<wsdl:binding name="` + bn + `" type="tns:ICertProvisioningService"><wsp:PolicyReference URI="#` + bn + `_policy"/>` +
			`<soap:binding transport="http://schemas.xmlsoap.org/soap/http"/><wsdl:operation name="GetAndPublishCert">` +
			`<soap:operation soapAction="http://schemas.microsoft.com/OCS/AuthWebServices/GetAndPublishCert" style="document"/>` +
			`</wsdl:operation></wsdl:binding>`)
	}
	b.WriteString(`<wsdl:service name="CertProvisioningService">`)
	b.WriteString(port("CertProvisioningServiceWebTicketProof_SHA1", "CertProvisioningServiceWebTicketProof_SHA1", base+CertProvPort))
	b.WriteString(port("CertProvisioningServiceWebTicketBearer", "CertProvisioningServiceWebTicketBearer", base+CertProvPath+"/WebTicket_Bearer"))
	b.WriteString(`</wsdl:service></wsdl:definitions>`)
	writeXML(w, http.StatusOK, b.Bytes())
}

func (s *Server) serveWebTicketMex(w http.ResponseWriter, r *http.Request) {
	origin := s.baseURL(r)
	base := origin + WebTicketPath
	var b bytes.Buffer
	b.WriteString(fmt.Sprintf(wsdlOpen, "WebTicketService"))
	b.WriteString(`<wsdl:service name="WebTicketService">`)
	for _, p := range []struct{ name, addr string }{
		{"WebTicketServiceWinNegotiate", base},
		{"WebTicketServicePin", origin + PinPath},
		{"WebTicketServiceCert", origin + CertPath},
		{"WebTicketServiceAnon", base + "/anon"},
		{"WebTicketServiceAuth", base + "/Auth"},
		{"WsFedBearer", base + "/WsFed_bearer"},
	} {
		b.WriteString(port(p.name, p.name, p.addr))
	}
	b.WriteString(`</wsdl:service></wsdl:definitions>`)
	writeXML(w, http.StatusOK, b.Bytes())
}

func writeXML(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
