// Package dhcpconfig renders the DHCP server configuration that makes a
// phone find the pool: option 43 for vendor class MS-UC-Client (sub-options
// 1–5) and option 120 (the registrar FQDN, RFC 3361 encoding 0), as
// DHCPUtil-style hex, a dnsmasq snippet, a Kea Dhcp4 fragment, or Windows
// netsh commands (the DHCPConfigScript.bat steps). The dnsmasq and Kea
// layouts are the ones verified on Debian 12 (platform-notes.md §5.2).
package dhcpconfig

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/deskphone/deskphone/bootstrap/dhcp/msuc"
)

// Formats accepted by Render.
var Formats = []string{"hex", "dnsmasq", "kea", "windows"}

// Options is what to advertise. Iface and Subnet are optional: when Iface is
// set, dnsmasq and kea output is a complete server configuration for that
// interface and subnet (CIDR, e.g. "192.0.2.0/24") instead of a fragment.
type Options struct {
	WebFQDN   string
	Registrar string
	Port      int // web services port, default 443
	Iface     string
	Subnet    string
}

type rendered struct {
	o      Options
	info   msuc.Info
	opt43  []byte
	opt120 []byte
}

// Render returns the configuration in format.
func Render(format string, o Options) (string, error) {
	if o.Port == 0 {
		o.Port = msuc.DefaultPort
	}
	if o.WebFQDN == "" || o.Registrar == "" {
		return "", fmt.Errorf("dhcpconfig: web fqdn and registrar are required")
	}
	r := rendered{o: o, info: msuc.Info{UCIdentifier: msuc.VendorClass, Scheme: "https", WebFQDN: o.WebFQDN, Port: o.Port, RelPath: msuc.DefaultRelPath}}
	var err error
	if r.opt43, err = msuc.EncodeOpt43(r.info); err != nil {
		return "", fmt.Errorf("dhcpconfig: %w", err)
	}
	if r.opt120, err = msuc.EncodeOpt120Names(o.Registrar); err != nil {
		return "", fmt.Errorf("dhcpconfig: %w", err)
	}
	switch format {
	case "hex":
		return r.hex(), nil
	case "dnsmasq":
		return r.dnsmasq()
	case "kea":
		return r.kea()
	case "windows":
		return r.windows(), nil
	}
	return "", fmt.Errorf("dhcpconfig: unknown format %q (want %s)", format, strings.Join(Formats, ", "))
}

func hexUpper(b []byte) string { return strings.ToUpper(hex.EncodeToString(b)) }

func (r rendered) hex() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "Option 120: %s\n", hexUpper(r.opt120))
	fmt.Fprintf(&sb, "Option 43 (vendor=%s), %d bytes: %s\n", msuc.VendorClass, len(r.opt43), hexUpper(r.opt43))
	return sb.String()
}

func (r rendered) dnsmasq() (string, error) {
	var sb strings.Builder
	sb.WriteString("# dnsmasq: option 43 for vendor class MS-UC-Client and option 120 (Lync/SfB phones)\n")
	if r.o.Iface != "" {
		first, last, mask, err := rangeOf(r.o.Subnet)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&sb, "port=0\ninterface=%s\nbind-interfaces\ndhcp-range=%s,%s,%s,1h\n", r.o.Iface, first, last, mask)
	}
	fmt.Fprintf(&sb, "dhcp-option=vendor:%s,1,%q\n", msuc.VendorClass, r.info.UCIdentifier)
	fmt.Fprintf(&sb, "dhcp-option=vendor:%s,2,%q\n", msuc.VendorClass, r.info.Scheme)
	fmt.Fprintf(&sb, "dhcp-option=vendor:%s,3,%q\n", msuc.VendorClass, r.info.WebFQDN)
	// Quotes matter: a bare number would be encoded as an integer.
	fmt.Fprintf(&sb, "dhcp-option=vendor:%s,4,%q\n", msuc.VendorClass, strconv.Itoa(r.info.Port))
	fmt.Fprintf(&sb, "dhcp-option=vendor:%s,5,%q\n", msuc.VendorClass, r.info.RelPath)
	fmt.Fprintf(&sb, "dhcp-vendorclass=set:msuc,%s\n", msuc.VendorClass)
	fmt.Fprintf(&sb, "dhcp-option=tag:msuc,120,%q\n", strings.TrimSuffix(r.o.Registrar, "."))
	return sb.String(), nil
}

// rangeOf returns .100–.150 of a /24-or-larger IPv4 subnet and its mask.
func rangeOf(cidr string) (first, last, mask string, err error) {
	_, n, err := parseCIDR4(cidr)
	if err != nil {
		return "", "", "", err
	}
	base := n.IP.To4()
	m := n.Mask
	f := append([]byte(nil), base...)
	l := append([]byte(nil), base...)
	f[3], l[3] = 100, 150
	return dotted(f), dotted(l), dotted(m), nil
}

func (r rendered) kea() (string, error) {
	type obj = map[string]any
	str := func(code int, name string) obj {
		return obj{"space": msuc.VendorClass, "code": code, "name": name, "type": "string"}
	}
	sub := func(name, data string) obj {
		return obj{"space": msuc.VendorClass, "name": name, "data": data, "always-send": true}
	}
	frag := obj{
		"option-def": []obj{
			str(1, "uc-identifier"), str(2, "url-scheme"), str(3, "web-server-fqdn"),
			str(4, "web-server-port"), str(5, "certprov-path"),
			{"space": "dhcp4", "code": 120, "name": "sip-server-rfc3361", "type": "binary"},
		},
		"client-classes": []obj{{
			"name":       "VENDOR_CLASS_" + msuc.VendorClass,
			"option-def": []obj{{"name": "vendor-encapsulated-options", "code": 43, "type": "empty", "encapsulate": msuc.VendorClass}},
			"option-data": []obj{
				{"name": "vendor-encapsulated-options"},
				sub("uc-identifier", r.info.UCIdentifier),
				sub("url-scheme", r.info.Scheme),
				sub("web-server-fqdn", r.info.WebFQDN),
				sub("web-server-port", strconv.Itoa(r.info.Port)),
				sub("certprov-path", r.info.RelPath),
				{"name": "sip-server-rfc3361", "csv-format": false, "data": hexUpper(r.opt120)},
			},
		}},
	}
	out := any(frag)
	if r.o.Iface != "" {
		first, last, _, err := rangeOf(r.o.Subnet)
		if err != nil {
			return "", err
		}
		frag["interfaces-config"] = obj{"interfaces": []string{r.o.Iface}, "dhcp-socket-type": "raw"}
		frag["lease-database"] = obj{"type": "memfile", "persist": false}
		frag["subnet4"] = []obj{{"id": 1, "subnet": r.o.Subnet, "pools": []obj{{"pool": first + " - " + last}}}}
		out = obj{"Dhcp4": frag}
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return "", fmt.Errorf("dhcpconfig: kea: %w", err)
	}
	return string(b) + "\n", nil
}

func (r rendered) windows() string {
	hx := func(s string) string { return hexUpper([]byte(s)) }
	var sb strings.Builder
	sb.WriteString("REM Windows DHCP Server: vendor class MS-UC-Client, option 43 sub-options 1-5, option 120\n")
	sb.WriteString("REM (the steps of Microsoft's DHCPConfigScript.bat; run in an elevated prompt)\n")
	fmt.Fprintf(&sb, "netsh dhcp server add class MSUCClient \"UC Vendor Class Id\" %q 1\n", msuc.VendorClass)
	for _, d := range []struct {
		code       int
		name, desc string
	}{
		{1, "UCIdentifier", "UC Identifier"},
		{2, "URLScheme", "URL Scheme"},
		{3, "WebServerFqdn", "Web Server Fqdn"},
		{4, "WebServerPort", "Web Server Port"},
		{5, "CertProvRelPath", "Cert Prov Relative Path"},
	} {
		fmt.Fprintf(&sb, "netsh dhcp server add optiondef %d %s Binary 0 Vendor=MSUCClient comment=%q\n", d.code, d.name, d.desc)
	}
	sb.WriteString("netsh dhcp server add optiondef 120 UCSipServer Binary 0 comment=\"SIP Server Fqdn\"\n")
	for _, v := range []struct {
		code int
		val  string
	}{
		{1, r.info.UCIdentifier}, {2, r.info.Scheme}, {3, r.info.WebFQDN},
		{4, strconv.Itoa(r.info.Port)}, {5, r.info.RelPath},
	} {
		fmt.Fprintf(&sb, "netsh dhcp server set optionvalue %d Binary vendor=MSUCClient %s\n", v.code, hx(v.val))
	}
	fmt.Fprintf(&sb, "netsh dhcp server set optionvalue 120 Binary %s\n", hexUpper(r.opt120))
	fmt.Fprintf(&sb, "REM or: DHCPConfigScript.bat Configure MS-UC-Client %s %s %s %s %s %s\n",
		hexUpper(r.opt120), hx(r.info.UCIdentifier), hx(r.info.Scheme), hx(r.info.WebFQDN), hx(strconv.Itoa(r.info.Port)), hx(r.info.RelPath))
	return sb.String()
}
