package main

import (
	"context"
	"crypto"
	"log/slog"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/deskphone/deskphone/bootstrap/certprov"
	"github.com/deskphone/deskphone/bootstrap/failure"
	"github.com/deskphone/deskphone/tools/labpool/faults"
)

func TestRuns(t *testing.T) {
	for _, tt := range []struct {
		in   []string
		want string
	}{
		{nil, ""},
		{[]string{"E701"}, "E701"},
		{[]string{"E701", "E701", "E702", "E701"}, "E701×2,E702,E701"},
	} {
		if got := runs(tt.in); got != tt.want {
			t.Errorf("runs(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestFaultRecovers runs two rows of the matrix end to end: the full agent
// on a sim board against an in-process pool shows the documented code and
// registers once the fault clears, without a restart or a second PIN entry.
func TestFaultRecovers(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	key, err := certprov.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	for _, fc := range []FaultCase{
		{Fault: faults.ChainUntrusted, Want: []failure.Code{failure.ChainUntrusted}},
		{Fault: faults.BadRspauth, Want: []failure.Code{failure.BadSignature}},
	} {
		t.Run(fc.Fault, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			r := RunFault(ctx, fc, crypto.Signer(key), 15*time.Second, logger)
			if !r.OK {
				t.Fatalf("%+v", r)
			}
			t.Logf("%s: %s in %.0f ms, recovered in %.0f ms", r.Fault, r.Got, r.ErrorMS, r.RecoverMS)
		})
	}
}
