// Command storm is the boot storm and registration soak against an
// in-process labpool (see package storm):
//
//	go run ./tools/storm/cmd -phones 1000
//	go run ./tools/storm/cmd soak -refreshes 1000
package main

import (
	"context"
	"fmt"
	gosip "github.com/emiago/sipgo/sip"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/deskphone/deskphone/tools/storm"
)

func main() {
	// sipgo's package-level logger reports normal connection teardown.
	gosip.SetDefaultLogger(slog.New(slog.DiscardHandler))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := storm.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "storm:", err)
		os.Exit(1)
	}
}
