package certprov

import (
	"crypto/x509"

	"github.com/deskphone/deskphone/bootstrap/failure"
)

// This file holds the [G] choices of certificate provisioning, each behind
// one small function or constant; labpool accepts and sends exactly these.

// csrSignatureAlgorithm is the CSR signature. SIPE signs with SHA-1, which
// Go no longer creates or verifies by default; SHA-256 is assumed accepted
// by pools (signin-protocols.md §3.4, U5). [G]
func csrSignatureAlgorithm() x509.SignatureAlgorithm { return x509.SHA256WithRSA }

// ValueTypePKCS7 marks the issuing chain: a BinarySecurityToken sibling of
// RequestedSecurityToken, as in MS-WSTEP (§3.5, U3). [G]
const ValueTypePKCS7 = "http://schemas.microsoft.com/OCS/AuthWebServices.xsd#PKCS7"

// ErrorInfo codes (the element's structure is not public, §3.5, U3). [G]
// labpool answers <ErrorInfo><ErrorCode>CODE</ErrorCode><Message>..</Message></ErrorInfo>.
const (
	ErrorCodeDataStore   = "DataStoreUnavailable"
	ErrorCodeCSRRejected = "CSRRejected"
)

// errorInfoCode maps an ErrorInfo code to the user-visible failure. [G]
func errorInfoCode(code string) failure.Code {
	if code == ErrorCodeCSRRejected {
		return failure.CertRejected
	}
	return failure.CertPublishFailed
}
