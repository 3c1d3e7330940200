package device

import (
	"context"
	"crypto/x509"
	"errors"
	"strings"
	"time"

	"github.com/deskphone/deskphone/bootstrap/failure"
	"github.com/deskphone/deskphone/bootstrap/webticket"
	"github.com/deskphone/deskphone/certstore"
)

// StageReport is one line of `phoned diag` (cli-contract.md):
// {"stage":..,"ok":..,"ms":..,"detail":{..},"error":null}.
type StageReport struct {
	Stage  string     `json:"stage"`
	OK     bool       `json:"ok"`
	MS     float64    `json:"ms"`
	Detail any        `json:"detail"`
	Error  *ErrorInfo `json:"error"`
}

// ErrorInfo is a failure as shown to technicians: code, cause and fix from
// the message catalog, plus the full detail.
type ErrorInfo struct {
	Stage  string `json:"stage"`
	Code   string `json:"code"`
	Cause  string `json:"cause"`
	Fix    string `json:"fix"`
	Detail string `json:"detail,omitempty"`
}

// DiagStages are the stage names diag accepts, in boot order.
var DiagStages = []string{"discover", "time", "chain", "ticket", "cert", "register"}

// DiagOptions are the inputs of a diagnostic run.
type DiagOptions struct {
	User string // extension / phone number, for ticket and cert
	PIN  Secret
	// Lang selects the language of cause/fix (en by default).
	Lang string
}

// RunDiag runs the named stages ("all" = every one) exactly as boot does and
// reports each. Stages a later one needs run first but are reported only if
// asked for. It must not run concurrently with Run.
func (a *Agent) RunDiag(ctx context.Context, which []string, o DiagOptions) []StageReport {
	want := map[string]bool{}
	for _, w := range which {
		if w == "all" {
			for _, s := range DiagStages {
				want[s] = true
			}
			continue
		}
		want[w] = true
	}
	last := -1
	for i, s := range DiagStages {
		if want[s] {
			last = i
		}
	}
	var out []StageReport
	for k := range want {
		if !contains(DiagStages, k) {
			out = append(out, StageReport{Stage: k, Error: &ErrorInfo{Stage: k, Code: string(failure.Internal),
				Cause: "unknown stage", Fix: "use one of " + strings.Join(DiagStages, ", ") + " or all"}})
		}
	}
	if err := a.boot(ctx); err != nil {
		return append(out, a.report("boot", 0, nil, err, o.Lang))
	}
	var ticket *webticket.Ticket
	for i := 0; i <= last; i++ {
		stage := DiagStages[i]
		start := time.Now()
		detail, err := a.diagStage(ctx, stage, o, &ticket)
		r := a.report(stage, time.Since(start), detail, err, o.Lang)
		if want[stage] {
			out = append(out, r)
		}
		if err != nil {
			// Later stages depend on this one: report them as skipped.
			for _, s := range DiagStages[i+1 : last+1] {
				if want[s] {
					out = append(out, StageReport{Stage: s, Detail: map[string]string{"skipped": "needs " + stage},
						Error: &ErrorInfo{Stage: s, Code: r.Error.Code, Cause: "not run: " + stage + " failed", Fix: r.Error.Fix}})
				}
			}
			break
		}
	}
	return out
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func (a *Agent) report(stage string, d time.Duration, detail any, err error, lang string) StageReport {
	r := StageReport{Stage: stage, OK: err == nil, MS: ms(d), Detail: detail}
	if err != nil {
		r.Error = errorInfo(err, lang)
	}
	if r.Detail == nil {
		r.Detail = map[string]string{}
	}
	return r
}

// errorInfo turns an error into the technician's view.
func errorInfo(err error, lang string) *ErrorInfo {
	fe := failure.As(err)
	if fe == nil {
		fe = failure.New(failure.StageDevice, failure.Internal, err)
	}
	cause, fix := message(lang, fe.Code)
	return &ErrorInfo{Stage: fe.Stage, Code: string(fe.Code), Cause: cause, Fix: fix, Detail: fe.Detail()}
}

func (a *Agent) diagStage(ctx context.Context, stage string, o DiagOptions, ticket **webticket.Ticket) (any, error) {
	switch stage {
	case "discover":
		if err := a.discover(ctx); err != nil {
			return nil, err
		}
		return a.Snapshot().Discovery, nil
	case "time":
		err := a.syncTime(ctx)
		s := a.Snapshot()
		if s.Time != nil {
			return s.Time, err
		}
		return map[string]any{"clock_set": false, "restored": err == nil}, err
	case "chain":
		if err := a.chainTrust(ctx); err != nil {
			return nil, err
		}
		a.mu.Lock()
		t := a.trust
		a.mu.Unlock()
		return map[string]any{"anchors": len(t.Anchors()), "bundled": t.IncludesBundled(), "certprov_url": a.Snapshot().Discovery.CertProvURL}, nil
	case "ticket":
		if o.User == "" || o.PIN == "" {
			return nil, failure.Errorf(failure.StageTicket, failure.CredentialsNeeded, "diag ticket needs --ext and --pin")
		}
		a.mu.Lock()
		t, d := a.trust, a.disc
		a.mu.Unlock()
		hc := a.httpsClient(t)
		defer hc.CloseIdleConnections()
		wt := &webticket.Client{HTTP: hc, Logger: a.opts.Logger, Base64Credentials: a.Config().PINEncoding == "base64"}
		ep, err := wt.Discover(ctx, d.CertProvURL)
		if err != nil {
			return nil, err
		}
		tk, err := wt.ByPIN(ctx, ep, o.User, webticket.Secret(o.PIN.Reveal()))
		if err != nil {
			return ep, err
		}
		*ticket = tk
		return map[string]any{"sip_uri": tk.SIPURI, "assertion_id": tk.AssertionID, "expires": tk.Expires, "certprov_port": ep.CertProvPort, "pin_port": ep.Pin}, nil
	case "cert":
		a.mu.Lock()
		rec := a.rec
		a.mu.Unlock()
		if o.User != "" && o.PIN != "" {
			a.startKeygen()
			a.SubmitCredentials(o.User, o.PIN)
			c := <-a.credsCh
			a.mu.Lock()
			a.creds = &c
			a.mu.Unlock()
			if err := a.enroll(ctx); err != nil {
				return nil, err
			}
			a.mu.Lock()
			rec = a.rec
			a.mu.Unlock()
		}
		if rec == nil || rec.Cert == nil {
			return nil, failure.Errorf(failure.StageCert, failure.CredentialsNeeded, "no certificate stored; pass --ext and --pin to enrol")
		}
		return certDetail(rec, a.b.Clock.Now()), rec.Check(a.b.Clock.Now(), time.Hour)
	case "register":
		a.mu.Lock()
		rec := a.rec
		a.mu.Unlock()
		if rec == nil || rec.Cert == nil {
			return nil, failure.Errorf(failure.StageRegister, failure.CredentialsNeeded, "no certificate stored")
		}
		if err := a.register(ctx); err != nil {
			return nil, err
		}
		a.mu.Lock()
		sess := a.session
		a.session = nil
		a.mu.Unlock()
		info := sess.Info()
		_ = sess.Close()
		return info, nil
	}
	return nil, errors.New("unknown stage")
}

func certDetail(rec *certstore.Record, now time.Time) map[string]any {
	return map[string]any{
		"sip_uri":   rec.SIPURI,
		"subject":   rec.Cert.Subject.String(),
		"issuer":    rec.Cert.Issuer.String(),
		"not_after": rec.NotAfter.UTC().Format(time.RFC3339),
		"days_left": int(rec.NotAfter.Sub(now).Hours() / 24),
		"device_id": rec.DeviceID,
		"chain":     len(rec.Chain),
		"key":       keyKind(rec.Cert),
	}
}

func keyKind(c *x509.Certificate) string {
	return c.PublicKeyAlgorithm.String()
}
