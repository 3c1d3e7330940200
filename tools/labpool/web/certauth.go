package web

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"

	"github.com/deskphone/deskphone/tools/labpool/directory"
	"github.com/deskphone/deskphone/tools/labpool/faults"
)

// diagCertAuthDisabled answers the certificate binding while
// cert-auth-disabled is on (UseCertificateAuth False). The id is a guess,
// shared with bootstrap/webticket.DiagCertAuthDisabled. [G]
const diagCertAuthDisabled = 28024

var errNoClientCert = errors.New("web: no client certificate")

// serveCert is the WebTicketServiceCert binding ("OCS-signed certificate"
// authentication, OCAUTHWS 3.2): the phone proves itself with the
// certificate CertProv issued it, presented as the TLS client certificate
// ([G], bootstrap/webticket guess.go), and gets a ticket for that
// certificate's SIP URI, exactly as the PIN binding issues one.
func (s *Server) serveCert(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(w, r)
	if err != nil {
		s.fault(w, http.StatusBadRequest, "s:Client", "Bad request", 0)
		return
	}
	q, err := parseRST(body)
	if err == nil && q.hasToken {
		err = fmt.Errorf("%w: certificate rst carries a UsernameToken", errBadRequest)
	}
	if err == nil && q.appliesTo != s.baseURL(r)+CertProvPort {
		err = fmt.Errorf("%w: applies to %q", errBadRequest, q.appliesTo)
	}
	if err != nil {
		s.logger.Info("web ticket request rejected", "binding", "cert", "err", err)
		s.fault(w, http.StatusBadRequest, "s:Client", "Bad request", 0)
		return
	}
	if s.cfg.Faults.Has(faults.CertAuthDisabled) {
		s.logger.Info("certificate sign-in refused", "reason", "fault cert-auth-disabled")
		s.authFault(w, diagCertAuthDisabled, "Certificate authentication is disabled.")
		return
	}
	user, err := s.clientCertUser(r)
	if err != nil {
		s.logger.Info("certificate sign-in refused", "err", err)
		s.authFault(w, diagNoValidToken, "No valid security token.")
		return
	}
	if q.claimURI != "" && directory.NormalizeSIP(q.claimURI) != user.SIPURI {
		s.logger.Info("certificate sign-in refused", "sip_uri", user.SIPURI, "reason", "claim is another user")
		s.authFault(w, diagNoValidToken, "No valid security token.")
		return
	}
	s.issue(w, r, q, user, "cert")
}

// clientCertUser returns the user whose certificate the client presented:
// it must chain to the pool's client CA, be current at the pool's clock,
// allow client authentication, and be published and unrevoked for the SIP
// URI its CN names (Directory.CheckClientCert).
func (s *Server) clientCertUser(r *http.Request) (directory.User, error) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return directory.User{}, errNoClientCert
	}
	leaf := r.TLS.PeerCertificates[0]
	inter := x509.NewCertPool()
	for _, c := range r.TLS.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: s.cfg.CA.ClientCAPool(), Intermediates: inter,
		CurrentTime: s.cfg.Now(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return directory.User{}, fmt.Errorf("web: client certificate %q: %w", leaf.Subject.CommonName, err)
	}
	uri := directory.NormalizeSIP("sip:" + leaf.Subject.CommonName)
	user, ok := s.cfg.Dir.LookupBySIP(uri)
	if !ok {
		return directory.User{}, fmt.Errorf("web: client certificate: %w: %s", directory.ErrNotFound, uri)
	}
	if err := s.cfg.Dir.CheckClientCert(user.SIPURI, leaf); err != nil {
		return directory.User{}, fmt.Errorf("web: client certificate serial %s of %s: %w", leaf.SerialNumber, user.SIPURI, err)
	}
	return user, nil
}
