package storm

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"

	"github.com/deskphone/deskphone/tools/labpool"
)

// Main is the command line of `go run ./tools/storm/cmd` and `labpool storm`:
//
//	storm [-phones N] [-concurrency N] [-keys N] [-state DIR] [-v]
//	storm soak [-refreshes N] [-sessions N] [-expires D] [-sample-every N] [-state DIR] [-v]
//
// It starts one in-process labpool on loopback, runs the storm (or the
// soak), prints one JSON document on stdout and returns an error when a
// sign-in failed or the soak did not stay flat.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	soak := len(args) > 0 && args[0] == "soak"
	if soak {
		args = args[1:]
	}
	fs := flag.NewFlagSet("storm", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o Options
	var so SoakOptions
	state := fs.String("state", "", "pool state directory (default: a temporary directory, on /dev/shm when present)")
	verbose := fs.Bool("v", false, "log progress on stderr")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the run to this file")
	if soak {
		fs.IntVar(&so.Refreshes, "refreshes", 1000, "re-registrations to wait for")
		fs.IntVar(&so.Sessions, "sessions", 10, "sessions refreshing at once")
		fs.DurationVar(&so.Expires, "expires", 0, "registration lifetime asked for (default 1s)")
		fs.IntVar(&so.SampleEvery, "sample-every", 50, "sample RSS and goroutines every N refreshes")
	} else {
		fs.IntVar(&o.Phones, "phones", 1000, "phones (cold sign-ins, then warm sign-ins)")
		fs.IntVar(&o.Concurrency, "concurrency", 32, "phones signing in at once")
		fs.IntVar(&o.Keys, "keys", 0, "distinct pre-generated RSA keys, used round robin (default min(phones,16))")
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("storm: unexpected argument %q", fs.Arg(0))
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	poolLog := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	dir := *state
	if dir == "" {
		base := ""
		if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
			base = "/dev/shm"
		}
		d, err := os.MkdirTemp(base, "storm-pool-")
		if err != nil {
			return fmt.Errorf("storm: %w", err)
		}
		defer os.RemoveAll(d)
		dir = d
	}
	p, err := labpool.Start(ctx, labpool.Options{StateDir: dir, NoDHCP: true, Logger: poolLog.With("side", "pool")})
	if err != nil {
		return err
	}
	defer p.Close()
	o.Logger, so.Logger = logger, logger
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return fmt.Errorf("storm: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("storm: %w", err)
		}
		defer pprof.StopCPUProfile()
	}

	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if soak {
		rep, err := Soak(ctx, p, so)
		if jerr := enc.Encode(rep); jerr != nil {
			return jerr
		}
		if err != nil {
			return err
		}
		return rep.Err()
	}
	rep, err := Run(ctx, p, o)
	if jerr := enc.Encode(rep); jerr != nil {
		return jerr
	}
	if err != nil {
		return err
	}
	return rep.Err()
}
