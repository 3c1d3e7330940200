package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/deskphone/deskphone/bootstrap/dnsdisco"
	"github.com/deskphone/deskphone/bootstrap/webticket"
	"github.com/deskphone/deskphone/device/tether/wire"
	"github.com/deskphone/deskphone/tools/tetherclient"
)

type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer

	port    string
	json    bool
	timeout time.Duration
	verbose bool
	log     *slog.Logger
	// jsonStarted is set once a streamed JSON array began on stdout.
	jsonStarted bool
}

// newIssuer builds the provisioning relay's Issuer; tests replace it.
var newIssuer = func(hc *http.Client, logger *slog.Logger, login string, password webticket.Secret) tetherclient.Issuer {
	return &tetherclient.PoolIssuer{HTTP: hc, Logger: logger, Login: login, Password: password}
}

func (c *cli) commonFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.port, "port", c.port, "serial device of the phone, or auto")
	fs.BoolVar(&c.json, "json", c.json, "print one JSON document on stdout")
	fs.DurationVar(&c.timeout, "timeout", c.timeout, "how long to wait for an answer from the phone")
	fs.BoolVar(&c.verbose, "v", c.verbose, "debug logs on stderr")
}

func (c *cli) parse(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	c.commonFlags(fs)
	if err := fs.Parse(args); err != nil {
		return nil, usagef("%s: %v", fs.Name(), err)
	}
	return fs.Args(), nil
}

func (c *cli) main(ctx context.Context, args []string) error {
	c.port = os.Getenv("TETHER_PORT")
	if c.port == "" {
		c.port = "auto"
	}
	c.timeout = 10 * time.Second
	rest, err := c.parse(flag.NewFlagSet("tether", flag.ContinueOnError), args)
	if err != nil {
		return err
	}
	if len(rest) == 0 {
		return usagef("no command")
	}
	cmd, rest := rest[0], rest[1:]
	switch cmd {
	case "status":
		return c.noArgs(ctx, cmd, rest, c.status)
	case "logs":
		return c.logs(ctx, rest)
	case "config":
		return c.config(ctx, rest)
	case "roots":
		return c.roots(ctx, rest)
	case "signin":
		return c.signin(ctx, rest)
	case "provision":
		return c.provision(ctx, rest)
	case "diag":
		return c.noArgs(ctx, cmd, rest, c.diag)
	case "reset":
		return c.noArgs(ctx, cmd, rest, func(ctx context.Context, cl *tetherclient.Client) error {
			return c.okResult(cl.Reset(ctx), nil)
		})
	case "reboot":
		return c.noArgs(ctx, cmd, rest, func(ctx context.Context, cl *tetherclient.Client) error {
			return c.okResult(cl.Reboot(ctx), nil)
		})
	case "version":
		fmt.Fprintln(c.stdout, "tether", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(c.stdout, usageSummary)
		return nil
	}
	return usagef("unknown command %q", cmd)
}

func (c *cli) noArgs(ctx context.Context, name string, args []string, fn func(context.Context, *tetherclient.Client) error) error {
	rest, err := c.parse(flag.NewFlagSet(name, flag.ContinueOnError), args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("%s takes no arguments", name)
	}
	return c.with(ctx, fn)
}

// linkError marks failures to reach the phone (exit 3).
type linkError struct{ err error }

func (e *linkError) Error() string { return e.err.Error() }
func (e *linkError) Unwrap() error { return e.err }

// with opens the link, checks the protocol version and runs fn.
func (c *cli) with(ctx context.Context, fn func(context.Context, *tetherclient.Client) error) error {
	level := slog.LevelWarn
	if c.verbose {
		level = slog.LevelDebug
	}
	c.log = slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: level}))
	port := c.port
	if port == "auto" {
		p, err := tetherclient.AutoPort()
		if err != nil {
			return &linkError{err}
		}
		port = p
	}
	cl, err := tetherclient.Open(port, tetherclient.WithLogger(c.log), tetherclient.WithTimeout(c.timeout),
		tetherclient.WithConfirm(func(cf wire.Confirm) {
			fmt.Fprintf(c.stderr, "Confirm on the phone: press OK (code %s)\n", cf.Code)
		}))
	if err != nil {
		return &linkError{err}
	}
	defer cl.Close()
	if _, err := cl.Hello(ctx, "tether/"+version); err != nil {
		return err
	}
	return fn(ctx, cl)
}

// --- output helpers

func (c *cli) printJSON(v any) error {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func (c *cli) okResult(err error, extra map[string]any) error {
	if err != nil {
		return err
	}
	if c.json {
		out := map[string]any{"ok": true}
		for k, v := range extra {
			out[k] = v
		}
		return c.printJSON(out)
	}
	fmt.Fprintln(c.stdout, "ok")
	return nil
}

func (c *cli) table(rows [][]string) {
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
}

func exitCode(err error) int {
	var re *tetherclient.RemoteError
	var le *linkError
	switch {
	case errors.As(err, &re):
		switch re.Code {
		case wire.ErrConfirmationDenied, wire.ErrConfirmationTimeout, wire.ErrRateLimited:
			return exitConfirm
		}
		return exitFailed
	case errors.As(err, &le), errors.Is(err, tetherclient.ErrTimeout), errors.Is(err, tetherclient.ErrClosed):
		return exitLink
	}
	return exitFailed
}

// reportError prints err: a JSON error document on stdout with --json
// (unless a streamed array already began), and a line on stderr.
func (c *cli) reportError(err error) {
	code, msg := "error", err.Error()
	var failure *wire.ErrorInfo
	var retry int64
	var re *tetherclient.RemoteError
	switch {
	case errors.As(err, &re):
		code, msg, failure, retry = re.Code, re.Message, re.Failure, re.RetryAfterMS
	case exitCode(err) == exitLink:
		code = "no-link"
	}
	if c.json && !c.jsonStarted {
		e := map[string]any{"code": code, "message": msg}
		if failure != nil {
			e["failure"] = failure
		}
		if retry > 0 {
			e["retry_after_ms"] = retry
		}
		if errors.As(err, new(*tetherclient.ProvisionError)) {
			var pe *tetherclient.ProvisionError
			errors.As(err, &pe)
			e["step"] = pe.Step
		}
		_ = c.printJSON(map[string]any{"error": e})
	}
	line := "tether: " + err.Error()
	switch code {
	case wire.ErrConfirmationDenied:
		line = "tether: refused on the phone (Back was pressed)"
	case wire.ErrConfirmationTimeout:
		line = "tether: nobody pressed OK on the phone in time"
	case wire.ErrRateLimited:
		line = fmt.Sprintf("tether: too many refused confirmations; try again in %v", (time.Duration(retry) * time.Millisecond).Round(time.Second))
	case wire.ErrBusy:
		line = "tether: the phone is busy with another command; try again"
	}
	if failure != nil {
		line += fmt.Sprintf("\n  %s at stage %s: %s", failure.Code, failure.Stage, failure.Cause)
		if failure.Fix != "" {
			line += "\n  fix: " + failure.Fix
		}
	}
	fmt.Fprintln(c.stderr, line)
}

// --- commands

func (c *cli) status(ctx context.Context, cl *tetherclient.Client) error {
	st, err := cl.Status(ctx)
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(st)
	}
	c.printStatus(st)
	return nil
}

func (c *cli) printStatus(st wire.Status) {
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	rows := [][]string{
		{"State:", dash(st.State)},
		{"SIP URI:", dash(st.SIPURI)},
		{"Registrar:", dash(st.Registrar)},
		{"Certificate until:", dash(st.CertNotAfter)},
		{"Firmware:", dash(st.Firmware)},
	}
	if e := st.LastError; e != nil {
		rows = append(rows, []string{"Last error:", fmt.Sprintf("%s (%s) %s", e.Code, e.Stage, e.Cause)})
		if e.Fix != "" {
			rows = append(rows, []string{"Fix:", e.Fix})
		}
	} else {
		rows = append(rows, []string{"Last error:", "none"})
	}
	c.table(rows)
}

func (c *cli) logs(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("logs", flag.ContinueOnError)
	follow := fs.Bool("f", false, "follow new lines")
	rest, err := c.parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("logs takes no arguments")
	}
	return c.with(ctx, func(ctx context.Context, cl *tetherclient.Client) error {
		// With --json the lines form one JSON array, streamed element by
		// element so that -f shows lines as they come; it is closed when
		// the command ends (also on Ctrl-C).
		n := 0
		if c.json {
			fmt.Fprint(c.stdout, "[")
			c.jsonStarted = true
		}
		err := cl.Logs(ctx, *follow, func(line string) error {
			if !c.json {
				_, err := fmt.Fprintln(c.stdout, line)
				return err
			}
			b, _ := json.Marshal(line)
			sep := ","
			if n == 0 {
				sep = ""
			}
			n++
			_, err := fmt.Fprintf(c.stdout, "%s\n  %s", sep, b)
			return err
		})
		if c.json {
			if n > 0 {
				fmt.Fprint(c.stdout, "\n")
			}
			fmt.Fprintln(c.stdout, "]")
		}
		return err
	})
}

func (c *cli) config(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usagef("config get [KEY] | config set KEY VALUE")
	}
	sub, args := args[0], args[1:]
	rest, err := c.parse(flag.NewFlagSet("config "+sub, flag.ContinueOnError), args)
	if err != nil {
		return err
	}
	switch {
	case sub == "get" && len(rest) <= 1:
		key := ""
		if len(rest) == 1 {
			key = rest[0]
		}
		return c.with(ctx, func(ctx context.Context, cl *tetherclient.Client) error {
			v, err := cl.ConfigGet(ctx, key)
			if err != nil {
				return err
			}
			if c.json {
				return c.printJSON(v)
			}
			keys := make([]string, 0, len(v))
			for k := range v {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			var rows [][]string
			for _, k := range keys {
				rows = append(rows, []string{k, v[k]})
			}
			c.table(rows)
			return nil
		})
	case sub == "set" && len(rest) == 2:
		return c.with(ctx, func(ctx context.Context, cl *tetherclient.Client) error {
			return c.okResult(cl.ConfigSet(ctx, rest[0], rest[1]), map[string]any{"key": rest[0], "value": rest[1]})
		})
	}
	return usagef("config get [KEY] | config set KEY VALUE")
}

func (c *cli) roots(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usagef("roots list | roots add FILE | roots remove FP")
	}
	sub, args := args[0], args[1:]
	rest, err := c.parse(flag.NewFlagSet("roots "+sub, flag.ContinueOnError), args)
	if err != nil {
		return err
	}
	switch {
	case sub == "list" && len(rest) == 0:
		return c.with(ctx, func(ctx context.Context, cl *tetherclient.Client) error {
			roots, err := cl.Roots(ctx)
			if err != nil {
				return err
			}
			if c.json {
				if roots == nil {
					roots = []wire.RootInfo{}
				}
				return c.printJSON(roots)
			}
			rows := [][]string{{"SOURCE", "FINGERPRINT (SHA-256)", "NOT AFTER", "SUBJECT"}}
			for _, r := range roots {
				rows = append(rows, []string{r.Source, r.Fingerprint, r.NotAfter, r.Subject})
			}
			c.table(rows)
			return nil
		})
	case sub == "add" && len(rest) == 1:
		der, err := readCert(rest[0])
		if err != nil {
			return err
		}
		return c.with(ctx, func(ctx context.Context, cl *tetherclient.Client) error {
			return c.okResult(cl.AddRoot(ctx, der), nil)
		})
	case sub == "remove" && len(rest) == 1:
		return c.with(ctx, func(ctx context.Context, cl *tetherclient.Client) error {
			return c.okResult(cl.RemoveRoot(ctx, rest[0]), map[string]any{"fingerprint": rest[0]})
		})
	}
	return usagef("roots list | roots add FILE | roots remove FP")
}

// readCert reads one certificate, PEM or DER.
func readCert(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var ders [][]byte
	for rest := b; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type == "CERTIFICATE" {
			ders = append(ders, blk.Bytes)
		}
	}
	if len(ders) == 0 {
		ders = [][]byte{b}
	}
	if len(ders) > 1 {
		return nil, fmt.Errorf("%s holds %d certificates; add one root at a time", path, len(ders))
	}
	if _, err := x509.ParseCertificate(ders[0]); err != nil {
		return nil, fmt.Errorf("%s: not a certificate: %w", path, err)
	}
	return ders[0], nil
}

// readSecret reads a PIN or password: the first line of stdin with
// fromStdin, else a prompt without echo on the terminal.
func (c *cli) readSecret(prompt string, fromStdin bool) (string, error) {
	if !fromStdin {
		f, ok := c.stdin.(*os.File)
		if !ok || !isTerminal(f) {
			return "", usagef("no terminal to ask for the %s; pass it on stdin with --%s-stdin", prompt, prompt)
		}
		fmt.Fprintf(c.stderr, "%s: ", strings.ToUpper(prompt[:1])+prompt[1:])
		s, err := readNoEcho(f)
		fmt.Fprintln(c.stderr)
		return s, err
	}
	line, err := bufio.NewReader(c.stdin).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", fmt.Errorf("read %s from stdin: %w", prompt, err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func (c *cli) signin(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("signin", flag.ContinueOnError)
	ext := fs.String("ext", "", "extension or phone number")
	pinFlag := fs.String("pin", "", "PIN (lands in shell history; prefer --pin-stdin)")
	pinStdin := fs.Bool("pin-stdin", false, "read the PIN from stdin")
	rest, err := c.parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 || *ext == "" {
		return usagef("signin --ext N (--pin-stdin | --pin P)")
	}
	pin := *pinFlag
	if pin != "" {
		fmt.Fprintln(c.stderr, "tether: warning: --pin puts the PIN in your shell history and the process list; use --pin-stdin")
	} else if pin, err = c.readSecret("pin", *pinStdin); err != nil {
		return err
	}
	if pin == "" {
		return usagef("empty PIN")
	}
	return c.with(ctx, func(ctx context.Context, cl *tetherclient.Client) error {
		if !c.json {
			fmt.Fprintln(c.stderr, "signing in…")
		}
		if err := cl.SignIn(ctx, *ext, pin); err != nil {
			return err
		}
		st, err := cl.Status(ctx)
		if err != nil {
			return err
		}
		if c.json {
			return c.printJSON(map[string]any{"ok": true, "user": *ext, "status": st})
		}
		c.printStatus(st)
		return nil
	})
}

func (c *cli) provision(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("provision", flag.ContinueOnError)
	user := fs.String("user", "", "sign-in address (alice@example.test)")
	login := fs.String("login", "", `Windows login (EXAMPLE\alice or alice@example.test; default --user)`)
	pwStdin := fs.Bool("password-stdin", false, "read the password from stdin")
	caFile := fs.String("ca", "", "PEM file of CAs to trust for the pool's HTTPS, besides the system roots")
	dns := fs.String("dns", "", "resolve pool names with this DNS server ADDR:PORT (a lab pool); default: the system resolver")
	rest, err := c.parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 || *user == "" {
		return usagef(`provision --user U [--login DOMAIN\user] [--password-stdin] [--ca FILE] [--dns ADDR:PORT]`)
	}
	if *login == "" {
		*login = *user
	}
	hc, err := poolHTTP(*caFile, *dns)
	if err != nil {
		return err
	}
	pw, err := c.readSecret("password", *pwStdin)
	if err != nil {
		return err
	}
	iss := newIssuer(hc, c.logger(), *login, webticket.Secret(pw))
	return c.with(ctx, func(ctx context.Context, cl *tetherclient.Client) error {
		steps := []tetherclient.Step{tetherclient.StepHello, tetherclient.StepConfig, tetherclient.StepCSR,
			tetherclient.StepIssue, tetherclient.StepInstall, tetherclient.StepStatus}
		labels := map[tetherclient.Step]string{
			tetherclient.StepHello:   "checking the phone",
			tetherclient.StepConfig:  "reading the CertProv URL",
			tetherclient.StepCSR:     "phone generates a key and CSR",
			tetherclient.StepIssue:   "web ticket (domain credentials) and GetAndPublishCert",
			tetherclient.StepInstall: "installing the certificate on the phone",
			tetherclient.StepStatus:  "reading the phone's state",
		}
		progress := func(s tetherclient.Step) {
			for i, x := range steps {
				if x == s {
					fmt.Fprintf(c.stderr, "[%d/%d] %s…\n", i+1, len(steps), labels[s])
				}
			}
		}
		res, err := tetherclient.Provision(ctx, cl, iss, *user, progress)
		if err != nil {
			return err
		}
		if c.json {
			return c.printJSON(res)
		}
		fmt.Fprintf(c.stdout, "Provisioned %s (certificate valid until %s)\n", res.SIPURI, res.CertNotAfter)
		c.printStatus(res.Status)
		return nil
	})
}

func (c *cli) logger() *slog.Logger {
	level := slog.LevelWarn
	if c.verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: level}))
}

// poolHTTP returns the HTTPS client for the pool: the system roots plus the
// CAs in caFile. Verification is never skipped.
func poolHTTP(caFile, dns string) (*http.Client, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if caFile != "" {
		b, err := os.ReadFile(caFile)
		if err != nil {
			return nil, err
		}
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("%s: no PEM certificates", caFile)
		}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if dns != "" {
		d := &net.Dialer{Resolver: dnsdisco.Resolver(dns), Timeout: 10 * time.Second}
		tr.DialContext = d.DialContext
	}
	return &http.Client{Transport: tr, Timeout: 60 * time.Second}, nil
}

func (c *cli) diag(ctx context.Context, cl *tetherclient.Client) error {
	var reports []json.RawMessage
	err := cl.Diag(ctx, func(r json.RawMessage) error {
		reports = append(reports, append(json.RawMessage(nil), r...))
		if !c.json {
			c.printDiag(r)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if c.json {
		if reports == nil {
			reports = []json.RawMessage{}
		}
		return c.printJSON(reports)
	}
	return nil
}

func (c *cli) printDiag(r json.RawMessage) {
	var d struct {
		Stage string          `json:"stage"`
		OK    bool            `json:"ok"`
		MS    float64         `json:"ms"`
		Error *wire.ErrorInfo `json:"error"`
	}
	if json.Unmarshal(r, &d) != nil {
		fmt.Fprintln(c.stdout, string(r))
		return
	}
	verdict := "ok"
	if !d.OK {
		verdict = "FAIL"
	}
	line := fmt.Sprintf("%-14s %-4s %8.1f ms", d.Stage, verdict, d.MS)
	if d.Error != nil {
		line += fmt.Sprintf("  %s %s", d.Error.Code, d.Error.Cause)
		if d.Error.Fix != "" {
			line += " — " + d.Error.Fix
		}
	}
	fmt.Fprintln(c.stdout, line)
}
