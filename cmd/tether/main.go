// Command tether is the field technician's CLI for the phone's USB
// tethering link (docs/tether-protocol.md, cli-contract.md "tether").
//
//	tether [--port DEV|auto] [--json] status | logs [-f] | config get [KEY] |
//	       config set KEY VALUE | roots list|add FILE|remove FP |
//	       signin --ext N (--pin P | --pin-stdin) |
//	       provision --user U [--login L] [--password-stdin] [--ca FILE] |
//	       diag | reset | reboot
//
// Exit status: 0 success, 1 the command failed on the phone, 2 usage, 3 no
// link (no phone found, no answer, cable pulled), 4 the confirmation on the
// phone was refused, timed out or is locked out.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit codes.
const (
	exitOK       = 0
	exitFailed   = 1
	exitUsage    = 2
	exitLink     = 3
	exitConfirm  = 4
	usageSummary = `usage: tether [--port DEV|auto] [--json] [--timeout DUR] [-v] COMMAND
commands:
  status                       the phone's state
  logs [-f]                    the log ring buffer; -f follows new lines
  config get [KEY]             configuration (all keys without KEY)
  config set KEY VALUE         override a key (registrar, certprov_url and
                               trusted_domains need OK on the phone)
  roots list                   trusted root certificates
  roots add FILE               add a site root (PEM or DER; OK on the phone)
  roots remove FP              remove a site root by SHA-256 (OK on the phone)
  signin --ext N --pin-stdin   PIN sign-in (--pin P works but lands in shell history)
  provision --user U [--login DOMAIN\user] [--password-stdin] [--ca FILE] [--dns ADDR:PORT]
                               sign in with domain credentials: the phone's CSR is
                               relayed to the pool's CertProv (OK on the phone)
  diag                         run the diagnostic stages
  reset                        forget the identity (OK on the phone)
  reboot                       reboot the phone
--port: a serial device (/dev/ttyACM0, a pty path) or auto (USB 0525:a4a7);
        default $TETHER_PORT or auto.
exit status: 0 ok, 1 failed on the phone, 2 usage, 3 no link, 4 not confirmed.
`
)

// usageError is a command-line mistake (exit 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cli := &cli{stdin: stdin, stdout: stdout, stderr: stderr}
	err := cli.main(ctx, args)
	if err == nil {
		return exitOK
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "tether: %s\n%s", ue.msg, usageSummary)
		return exitUsage
	}
	cli.reportError(err)
	return exitCode(err)
}
