package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/deskphone/deskphone/tools/storm"
)

// stormCmd is `labpool storm [-phones N] ...` and `labpool storm soak ...`:
// the boot storm and registration soak against an in-process pool (see
// package storm; it starts its own pool on loopback).
func stormCmd(args []string, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return storm.Main(ctx, args, stdout, stderr)
}
