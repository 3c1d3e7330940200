// Package config is the phone's configuration: a versioned JSON document,
// decoded strictly, built from layers.
//
// # Precedence
//
// One place documents the order; later layers win:
//
//	defaults < flash (image/--config file and values saved on the phone)
//	         < DHCP (options 43/120/42/15 learned at boot)
//	         < provisioning (in-band settings from the registrar)
//	         < tether override (set by a field technician, persisted)
//
// A layer is a partial document: only the keys it sets count. Unknown keys
// and unknown versions are errors that name the file and the wanted version;
// the caller falls back to the lower layers and never overwrites the bad
// file silently.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
)

// Version is the current config document version.
const Version = 1

// Config is the merged configuration.
type Config struct {
	Version int `json:"version"`
	// Language of the LCD: en, fr or de.
	Language string `json:"language"`
	// SIPDomain, when set, is the user's SIP domain; otherwise it is learned.
	SIPDomain string `json:"sip_domain"`
	// TrustedDomains may host the registrar besides the SIP domain.
	TrustedDomains []string `json:"trusted_domains"`
	// Registrar overrides discovery ("host" or "host:port").
	Registrar string `json:"registrar"`
	// CertProvURL overrides the CertProv URL from DHCP.
	CertProvURL string `json:"certprov_url"`
	// WebHTTPPort is the port of the anonymous HTTP chain download (80 on a
	// real pool).
	WebHTTPPort int `json:"web_http_port"`
	// NTPServers are used before option 42 / SRV when set.
	NTPServers []string `json:"ntp_servers"`
	// NTPFallback is the last NTP source.
	NTPFallback string `json:"ntp_fallback"`
	// DNS is the resolver "ADDR:PORT" ("" = the system resolver).
	DNS string `json:"dns"`
	// DHCPMode is off, broadcast, unicast or lease+inform.
	DHCPMode string `json:"dhcp_mode"`
	// DHCPIface is the interface for broadcast INFORMs.
	DHCPIface string `json:"dhcp_iface"`
	// DHCPServer is "ADDR:PORT" for unicast INFORMs.
	DHCPServer string `json:"dhcp_server"`
	// TrustDownloadedRoot mimics old LPE firmware: a downloaded self-signed
	// root becomes an anchor. Off by default; logged loudly when on.
	TrustDownloadedRoot bool `json:"trust_downloaded_root"`
	// RenewBefore renews the certificate when less than this remains.
	RenewBefore Duration `json:"renew_before"`
	// TLSDSKVersion is "1.0" (default) or "1.2".
	TLSDSKVersion string `json:"tlsdsk_version"`
	// RegisterExpires is the REGISTER Expires asked for.
	RegisterExpires Duration `json:"register_expires"`
	// RetryMax caps the retry backoff.
	RetryMax Duration `json:"retry_max"`
	// PINEncoding is "plain" (default) or "base64" (signin-protocols §8.2).
	PINEncoding string `json:"pin_encoding"`
}

// Duration is a time.Duration that reads and writes as "30s", "720h".
type Duration time.Duration

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: want a string like \"30s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	if v < 0 {
		return fmt.Errorf("duration %q is negative", s)
	}
	*d = Duration(v)
	return nil
}

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Defaults returns the built-in configuration.
func Defaults() Config {
	return Config{
		Version:         Version,
		Language:        "en",
		WebHTTPPort:     80,
		NTPFallback:     "time.windows.com",
		DHCPMode:        "broadcast",
		RenewBefore:     Duration(30 * 24 * time.Hour),
		TLSDSKVersion:   "1.0",
		RegisterExpires: Duration(time.Hour),
		RetryMax:        Duration(5 * time.Minute),
		PINEncoding:     "plain",
	}
}

// Layer names, lowest first.
const (
	LayerDefaults     = "defaults"
	LayerFlash        = "flash"
	LayerDHCP         = "dhcp"
	LayerProvisioning = "provisioning"
	LayerTether       = "tether"
)

// LayerOrder is the precedence, lowest first.
var LayerOrder = []string{LayerDefaults, LayerFlash, LayerDHCP, LayerProvisioning, LayerTether}

// Layer is a partial config: JSON key → raw value.
type Layer map[string]json.RawMessage

// ErrVersion is returned for a document of an unknown version.
var ErrVersion = errors.New("config: unknown version")

// Keys returns the JSON keys of Config, sorted.
func Keys() []string {
	b, _ := json.Marshal(Defaults())
	var m map[string]json.RawMessage
	_ = json.Unmarshal(b, &m)
	var keys []string
	for k := range m {
		if k != "version" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// ParseLayer decodes a partial document. It must carry "version": Version;
// every key must be known and every value must decode into its field.
func ParseLayer(name string, data []byte) (Layer, error) {
	var head struct {
		Version *int `json:"version"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("config: %s: %w", name, err)
	}
	if head.Version == nil {
		return nil, fmt.Errorf("config: %s: no \"version\" (want %d)", name, Version)
	}
	switch *head.Version {
	case Version:
	default:
		return nil, fmt.Errorf("config: %s: version %d, want %d: %w", name, *head.Version, Version, ErrVersion)
	}
	var l Layer
	if err := json.Unmarshal(data, &l); err != nil {
		return nil, fmt.Errorf("config: %s: %w", name, err)
	}
	delete(l, "version")
	// Strict check of keys and value types.
	if _, err := Merge(l); err != nil {
		return nil, fmt.Errorf("config: %s: %w", name, err)
	}
	return l, nil
}

// LoadFile reads a layer from a file. A missing file is an empty layer.
func LoadFile(path string) (Layer, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return Layer{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return ParseLayer(path, b)
}

// Set stores key=value (value in JSON, or a bare string for string fields,
// or a comma-separated list for list fields) into l after checking it.
func (l Layer) Set(key, value string) error {
	if !slices.Contains(Keys(), key) {
		return fmt.Errorf("config: unknown key %q (known: %s)", key, strings.Join(Keys(), ", "))
	}
	candidates := []json.RawMessage{json.RawMessage(value)}
	s, _ := json.Marshal(value)
	candidates = append(candidates, s)
	var list []string
	for _, p := range strings.Split(value, ",") {
		if p = strings.TrimSpace(p); p != "" {
			list = append(list, p)
		}
	}
	if list == nil {
		list = []string{}
	}
	lb, _ := json.Marshal(list)
	candidates = append(candidates, lb)
	var last error
	for _, c := range candidates {
		if !json.Valid(c) {
			continue
		}
		try := Layer{key: c}
		if _, err := Merge(try); err != nil {
			last = err
			continue
		}
		l[key] = c
		return nil
	}
	return fmt.Errorf("config: %s: bad value: %w", key, last)
}

// Marshal returns the layer as a versioned document.
func (l Layer) Marshal() []byte {
	m := map[string]json.RawMessage{"version": json.RawMessage(fmt.Sprint(Version))}
	for k, v := range l {
		m[k] = v
	}
	b, _ := json.MarshalIndent(m, "", "  ")
	return b
}

// Merge applies layers (lowest first) over the defaults and decodes the
// result strictly.
func Merge(layers ...Layer) (Config, error) {
	base, _ := json.Marshal(Defaults())
	var m map[string]json.RawMessage
	_ = json.Unmarshal(base, &m)
	for _, l := range layers {
		for k, v := range l {
			m[k] = v
		}
	}
	m["version"] = json.RawMessage(fmt.Sprint(Version))
	b, _ := json.Marshal(m)
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var c Config
	if err := dec.Decode(&c); err != nil {
		return Defaults(), err
	}
	if err := c.Validate(); err != nil {
		return Defaults(), err
	}
	return c, nil
}

// Validate checks field values.
func (c Config) Validate() error {
	switch c.Language {
	case "en", "fr", "de":
	default:
		return fmt.Errorf("language %q: want en, fr or de", c.Language)
	}
	switch c.DHCPMode {
	case "off", "broadcast", "unicast", "lease+inform":
	default:
		return fmt.Errorf("dhcp_mode %q: want off, broadcast, unicast or lease+inform", c.DHCPMode)
	}
	switch c.TLSDSKVersion {
	case "1.0", "1.2":
	default:
		return fmt.Errorf("tlsdsk_version %q: want 1.0 or 1.2", c.TLSDSKVersion)
	}
	switch c.PINEncoding {
	case "plain", "base64":
	default:
		return fmt.Errorf("pin_encoding %q: want plain or base64", c.PINEncoding)
	}
	if c.WebHTTPPort < 1 || c.WebHTTPPort > 65535 {
		return fmt.Errorf("web_http_port %d out of range", c.WebHTTPPort)
	}
	return nil
}

// Stack is the set of layers of a running phone.
type Stack struct {
	Layers map[string]Layer
}

// NewStack returns an empty stack.
func NewStack() *Stack { return &Stack{Layers: map[string]Layer{}} }

// Effective merges every layer in precedence order.
func (s *Stack) Effective() (Config, error) {
	var ls []Layer
	for _, n := range LayerOrder[1:] {
		if l := s.Layers[n]; l != nil {
			ls = append(ls, l)
		}
	}
	return Merge(ls...)
}

// Source returns the layer that supplies key (the highest one setting it).
func (s *Stack) Source(key string) string {
	for i := len(LayerOrder) - 1; i >= 1; i-- {
		if _, ok := s.Layers[LayerOrder[i]][key]; ok {
			return LayerOrder[i]
		}
	}
	return LayerDefaults
}
