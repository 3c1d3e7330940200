package device

import (
	"context"
	"net/http"
	"time"

	"github.com/deskphone/deskphone/bootstrap/chain"
	"github.com/deskphone/deskphone/bootstrap/discover"
	"github.com/deskphone/deskphone/bootstrap/failure"
	"github.com/deskphone/deskphone/certstore"
)

type chainStage struct{ a *Agent }

func (s chainStage) Establish(ctx context.Context, d discover.Result, base *certstore.Trust) (*certstore.Trust, error) {
	a := s.a
	c := a.Config()
	cu, web, err := chainURL(d.CertProvURL, c.WebHTTPPort)
	if err != nil {
		return nil, failure.New(failure.StageChain, failure.CertServiceNotFound, err)
	}
	dl := a.dialer()
	plain := &http.Client{Transport: &http.Transport{DialContext: dl.DialContext}, Timeout: 20 * time.Second}
	defer plain.CloseIdleConnections()
	t, _, err := chain.Establish(ctx, chain.Config{
		ChainURL: cu, WebURL: web, Trust: base, TrustDownloadedRoot: c.TrustDownloadedRoot,
		HTTP: plain, DialTLS: dl.DialContext, Now: a.b.Clock.Now,
	}, a.opts.Logger)
	return t, err
}
