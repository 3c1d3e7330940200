// Command labpool is the simulated Lync / Skype for Business pool: DHCP
// INFORM responder, DNS, SNTP, web services (chain, WebTicket, CertProv) and
// a TLS-DSK SIP registrar. See cli-contract.md for the command line.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	gosip "github.com/emiago/sipgo/sip"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/deskphone/deskphone/tools/labpool"
	"github.com/deskphone/deskphone/tools/labpool/dhcpconfig"
	"github.com/deskphone/deskphone/tools/labpool/directory"
	"github.com/deskphone/deskphone/tools/labpool/faults"
)

var version = "dev"

func main() {
	// sipgo's package-level logger is chatty about normal connection teardown;
	// our SIP code logs through the injected loggers.
	gosip.SetDefaultLogger(slog.New(slog.DiscardHandler))
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "labpool:", err)
		os.Exit(1)
	}
}

const usage = `usage:
  labpool serve [--demo] [--config FILE] [--listen ADDR] [--domain example.test] [--state DIR]
                [--sip-port N] [--https-port N] [--http-port N] [--dns-port N] [--ntp-port N]
                [--dhcp-iface IFACE | --dhcp-port N] [--fault NAME]... [-v]
  labpool dhcp-config --web-fqdn FQDN --registrar FQDN [--port 443] --format hex|dnsmasq|kea|windows
  labpool certs list|revoke --user SIP-URI [--device ID] --state DIR
  labpool users add --sip alice@example.test --ext 1001 --pin 24680 [--phone +1…] [--password PW]
                    [--login DOMAIN\user] [--home POOL] --state DIR
  labpool storm [--phones N] [--concurrency N] [--keys N]   (boot storm against an in-process pool; JSON)
  labpool version
faults: ` + "datastore-unavailable, chain-untrusted, webticket-down, pin-locked, registrar-503, bad-rspauth,\n        opt43-truncated, srv-cross-domain, ntp-down, drop-connection, slow:STAGE=DUR\n"

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command")
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], stdout, stderr)
	case "dhcp-config":
		return dhcpConfig(args[1:], stdout)
	case "certs":
		return certs(args[1:], stdout)
	case "users":
		return users(args[1:], stdout)
	case "storm":
		return stormCmd(args[1:], stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "labpool", version)
		return nil
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(s string) error { *m = append(*m, s); return nil }

// poolConfig is the --config file of `labpool serve`.
type poolConfig struct {
	Demo  *bool        `json:"demo"`
	Users []userConfig `json:"users"`
}

type userConfig struct {
	SIP      string `json:"sip"`
	Ext      string `json:"ext"`
	Phone    string `json:"phone"`
	PIN      string `json:"pin"`
	Password string `json:"password"`
	Login    string `json:"login"`
	Home     string `json:"home"`
}

func serve(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var o labpool.Options
	var cfgFile string
	var fl multi
	verbose := fs.Bool("v", false, "debug logs")
	fs.BoolVar(&o.Demo, "demo", false, "add the demo users")
	fs.StringVar(&cfgFile, "config", "", "users/config JSON file")
	fs.StringVar(&o.Listen, "listen", "127.0.0.1", "IP to listen on")
	fs.StringVar(&o.Domain, "domain", "example.test", "SIP domain (pool FQDN is pool.<domain>)")
	fs.StringVar(&o.StateDir, "state", "", "state directory (CA, users, certificates); default: temporary")
	fs.IntVar(&o.SIPPort, "sip-port", 0, "SIP TLS port (0 = free port)")
	fs.IntVar(&o.HTTPSPort, "https-port", 0, "HTTPS port")
	fs.IntVar(&o.HTTPPort, "http-port", 0, "HTTP port (anonymous chain download)")
	fs.IntVar(&o.DNSPort, "dns-port", 0, "DNS port (UDP+TCP)")
	fs.IntVar(&o.NTPPort, "ntp-port", 0, "SNTP port")
	fs.IntVar(&o.DHCPPort, "dhcp-port", 0, "DHCP UDP port for unicast INFORMs")
	fs.StringVar(&o.DHCPIface, "dhcp-iface", "", "serve DHCP broadcast on this interface (port 67)")
	fs.Var(&fl, "fault", "inject a fault (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	lvl := slog.LevelInfo
	if *verbose {
		lvl = slog.LevelDebug
	}
	o.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl}))
	set, err := faults.Parse(fl)
	if err != nil {
		return err
	}
	o.Faults = set
	var pc poolConfig
	if cfgFile != "" {
		b, err := os.ReadFile(cfgFile)
		if err != nil {
			return err
		}
		dec := json.NewDecoder(strings.NewReader(string(b)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&pc); err != nil {
			return fmt.Errorf("%s: %w", cfgFile, err)
		}
		if pc.Demo != nil {
			o.Demo = *pc.Demo
		} else {
			o.Demo = true
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	p, err := labpool.Start(ctx, o)
	if err != nil {
		return err
	}
	defer p.Close()
	for _, u := range pc.Users {
		if err := p.Dir.Add(directory.User{SIPURI: u.SIP, Extension: u.Ext, Phone: u.Phone, Login: u.Login, Home: u.Home}, u.PIN, u.Password); err != nil {
			return fmt.Errorf("%s: user %s: %w", cfgFile, u.SIP, err)
		}
	}
	if err := json.NewEncoder(stdout).Encode(p.Ready); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}

func dhcpConfig(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("dhcp-config", flag.ContinueOnError)
	var o dhcpconfig.Options
	var format string
	fs.StringVar(&o.WebFQDN, "web-fqdn", "", "internal web services FQDN (option 43 sub-option 3)")
	fs.StringVar(&o.Registrar, "registrar", "", "registrar FQDN (option 120)")
	fs.IntVar(&o.Port, "port", 443, "web services port")
	fs.StringVar(&format, "format", "hex", "hex|dnsmasq|kea|windows")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.WebFQDN == "" || o.Registrar == "" {
		return errors.New("dhcp-config: --web-fqdn and --registrar are required")
	}
	s, err := dhcpconfig.Render(format, o)
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, s)
	if !strings.HasSuffix(s, "\n") {
		fmt.Fprintln(stdout)
	}
	return nil
}

func openDir(state string) (*directory.Directory, error) {
	if state == "" {
		return nil, errors.New("--state DIR is required")
	}
	return directory.Open(state, slog.New(slog.DiscardHandler))
}

func certs(args []string, stdout io.Writer) error {
	if len(args) == 0 || (args[0] != "list" && args[0] != "revoke") {
		return errors.New("certs: want list or revoke")
	}
	fs := flag.NewFlagSet("certs", flag.ContinueOnError)
	user := fs.String("user", "", "SIP URI")
	device := fs.String("device", "", "device id (revoke: all devices when empty)")
	state := fs.String("state", "", "state directory")
	asJSON := fs.Bool("json", false, "JSON output")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	d, err := openDir(*state)
	if err != nil {
		return err
	}
	switch args[0] {
	case "list":
		type row struct {
			User string `json:"user"`
			directory.Cert
		}
		var rows []row
		var us []string
		if *user != "" {
			us = []string{*user}
		} else {
			for _, u := range d.Users() {
				us = append(us, u.SIPURI)
			}
		}
		for _, u := range us {
			for _, c := range d.Published(u) {
				rows = append(rows, row{User: directory.NormalizeSIP(u), Cert: c})
			}
		}
		if *asJSON {
			if rows == nil {
				rows = []row{}
			}
			return json.NewEncoder(stdout).Encode(rows)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "USER\tDEVICE\tSERIAL\tNOT AFTER\tREVOKED")
		for _, r := range rows {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\n", r.User, r.DeviceID, r.Serial, r.NotAfter.UTC().Format("2006-01-02T15:04:05Z"), r.Revoked)
		}
		return tw.Flush()
	default:
		if *user == "" {
			return errors.New("certs revoke: --user is required")
		}
		n, err := d.Revoke(*user, *device)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "revoked %d certificate(s)\n", n)
		return nil
	}
}

func users(args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "add" {
		return errors.New("users: want add")
	}
	fs := flag.NewFlagSet("users add", flag.ContinueOnError)
	var u userConfig
	state := fs.String("state", "", "state directory")
	fs.StringVar(&u.SIP, "sip", "", "SIP address (alice@example.test)")
	fs.StringVar(&u.Ext, "ext", "", "extension")
	fs.StringVar(&u.Phone, "phone", "", "phone number")
	fs.StringVar(&u.PIN, "pin", "", "PIN")
	fs.StringVar(&u.Password, "password", "", "domain password")
	fs.StringVar(&u.Login, "login", "", `DOMAIN\user`)
	fs.StringVar(&u.Home, "home", "", "home pool FQDN")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if u.SIP == "" {
		return errors.New("users add: --sip is required")
	}
	d, err := openDir(*state)
	if err != nil {
		return err
	}
	if err := d.Add(directory.User{SIPURI: u.SIP, Extension: u.Ext, Phone: u.Phone, Login: u.Login, Home: u.Home}, u.PIN, u.Password); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "added %s\n", directory.NormalizeSIP(u.SIP))
	return nil
}
