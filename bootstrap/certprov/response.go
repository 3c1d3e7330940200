package certprov

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/beevik/etree"
)

// Response is a parsed GetAndPublishCertResponse (§3.5).
type Response struct {
	// Cert is the issued certificate (DER), from
	// RequestSecurityTokenResponse/RequestedSecurityToken/BinarySecurityToken.
	Cert []byte
	// Chain is the PKCS#7 issuing chain (DER) from a sibling
	// BinarySecurityToken with a #PKCS7 ValueType, if present [G].
	Chain []byte
	// ErrorCode and ErrorMessage come from ErrorInfo; HasError reports
	// whether ErrorInfo was present.
	HasError                bool
	ErrorCode, ErrorMessage string
}

// ParseResponse parses the SOAP body of a GetAndPublishCert answer. Element
// names are matched on local names.
func ParseResponse(b []byte) (*Response, error) {
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(b); err != nil {
		return nil, fmt.Errorf("certprov: parse response: %w", err)
	}
	root := doc.Root()
	if root == nil || root.Tag != "Envelope" {
		return nil, errors.New("certprov: parse response: not a soap envelope")
	}
	body := child(root, "Body")
	gr := child(body, "GetAndPublishCertResponse")
	if gr == nil {
		return nil, errors.New("certprov: parse response: no GetAndPublishCertResponse")
	}
	var r Response
	if ei := child(gr, "ErrorInfo"); ei != nil {
		r.HasError = true
		for _, c := range ei.ChildElements() {
			switch c.Tag {
			case "ErrorCode", "Code":
				r.ErrorCode = strings.TrimSpace(c.Text())
			case "Message", "Reason":
				r.ErrorMessage = strings.TrimSpace(c.Text())
			}
		}
		if r.ErrorCode == "" && r.ErrorMessage == "" {
			r.ErrorMessage = strings.TrimSpace(ei.Text())
		}
		return &r, nil
	}
	rstr := child(gr, "RequestSecurityTokenResponse")
	bst := child(child(rstr, "RequestedSecurityToken"), "BinarySecurityToken")
	if bst == nil {
		return nil, errors.New("certprov: parse response: no certificate")
	}
	var err error
	if r.Cert, err = decodeB64(bst.Text()); err != nil || len(r.Cert) == 0 {
		return nil, fmt.Errorf("certprov: parse response: certificate: %w", errOrEmpty(err))
	}
	for _, c := range rstr.ChildElements() {
		if c.Tag == "BinarySecurityToken" && strings.HasSuffix(attrValue(c, "ValueType"), "#PKCS7") {
			if r.Chain, err = decodeB64(c.Text()); err != nil || len(r.Chain) == 0 {
				return nil, fmt.Errorf("certprov: parse response: chain: %w", errOrEmpty(err))
			}
			break
		}
	}
	return &r, nil
}

func errOrEmpty(err error) error {
	if err == nil {
		return errors.New("empty")
	}
	return err
}

func child(el *etree.Element, tag string) *etree.Element {
	if el == nil {
		return nil
	}
	for _, c := range el.ChildElements() {
		if c.Tag == tag {
			return c
		}
	}
	return nil
}

func attrValue(el *etree.Element, key string) string {
	for _, a := range el.Attr {
		if a.Key == key && a.Space != "xmlns" {
			return a.Value
		}
	}
	return ""
}

// decodeB64 decodes base64 that may be wrapped with CR/LF and spaces.
func decodeB64(s string) ([]byte, error) {
	s = strings.Map(func(r rune) rune {
		switch r {
		case '\r', '\n', ' ', '\t':
			return -1
		}
		return r
	}, s)
	return base64.StdEncoding.DecodeString(s)
}
