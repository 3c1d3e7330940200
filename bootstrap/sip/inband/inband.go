// Package inband is the codec for Lync in-band provisioning: the
// provisioningGroupList request a client sends in a SUBSCRIBE with
// Event: vnd-microsoft-provisioning-v2, the provisionGroupList document the
// server answers with (in the 200 OK when the client supports
// ms-piggyback-first-notify, otherwise in a NOTIFY), and the location profile
// (dial plan) a SERVICE request returns.
//
// The package is pure: it builds and parses bodies; the SIP exchange lives in
// bootstrap/sip. Parsers accept at most MaxBody bytes and MaxEntries entries.
//
// # References
//
//   - [MS-SIPREGE] 2.2.2.1 (request), 2.2.2.4/2.2.2.5 (data models), 2.2.2.5.1
//     (ServerConfiguration elements).
//   - [MS-SIPRE] 2.2.3 (location-profile GRUU), 2.2.8.1 (LocationProfileDescription).
//   - signin-protocols.md and platform-notes.md §3.4 of this project.
package inband

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Wire constants.
const (
	// Event is the SUBSCRIBE Event header value.
	Event = "vnd-microsoft-provisioning-v2"
	// ContentType is the Accept and Content-Type of the SUBSCRIBE and of the
	// provisioning document.
	ContentType = "application/vnd-microsoft-roaming-provisioning-v2+xml"
	// LocationProfileContentType is the Content-Type of a location profile.
	LocationProfileContentType = "application/ms-location-profile-definition+xml"
	// RequestNamespace is the namespace of the provisioningGroupList request.
	RequestNamespace = "http://schemas.microsoft.com/2006/09/sip/provisioninggrouplist"
	// ResponseNamespace is the namespace of the provisionGroupList answer.
	ResponseNamespace = "http://schemas.microsoft.com/2006/09/sip/provisiongrouplist-notification"
	// LocationProfileNamespace is the namespace written on location profiles
	// (parsing ignores namespaces). [G]
	LocationProfileNamespace = "http://schemas.microsoft.com/2007/03/locationprofiledescription"
)

// Limits applied by every parser.
const (
	MaxBody    = 256 << 10 // bytes
	MaxEntries = 4096      // entries (or rules) per document
	maxDepth   = 32
)

// DefaultGroups are the provisioning groups a phone asks for (as SIPE does).
var DefaultGroups = []string{"ServerConfiguration", "meetingPolicy", "persistentChatConfiguration", "ucPolicy"}

// Errors.
var (
	ErrTooLarge = errors.New("inband: document too large")
	ErrNotFound = errors.New("inband: root element not found")
)

// Request returns the provisioningGroupList body asking for groups
// (DefaultGroups when none are given).
func Request(groups ...string) []byte {
	if len(groups) == 0 {
		groups = DefaultGroups
	}
	var b bytes.Buffer
	b.WriteString(`<provisioningGroupList xmlns="` + RequestNamespace + `">`)
	for _, g := range groups {
		b.WriteString(`<provisioningGroup name="`)
		xml.EscapeText(&b, []byte(g))
		b.WriteString(`"/>`)
	}
	b.WriteString(`</provisioningGroupList>`)
	return b.Bytes()
}

// ParseRequest returns the group names of a provisioningGroupList body.
func ParseRequest(body []byte) ([]string, error) {
	var groups []string
	err := walk(body, "provisioningGroupList", func(d *xml.Decoder, se xml.StartElement) error {
		if se.Name.Local != "provisioningGroup" {
			return d.Skip()
		}
		if len(groups) >= MaxEntries {
			return ErrTooLarge
		}
		groups = append(groups, attr(se, "name"))
		return d.Skip()
	})
	if err != nil {
		return nil, fmt.Errorf("inband: parse request: %w", err)
	}
	return groups, nil
}

// Entry is one setting of a provisionGroup: a leaf element (<poolUri>…) or,
// with Property set, a <property name="…"> of a propertyEntryList.
type Entry struct {
	Name     string
	Value    string
	Property bool
}

// Group is one provisionGroup of the answer.
type Group struct {
	Name    string
	Entries []Entry
}

// Settings is what the phone uses from in-band provisioning. The typed
// fields come from the ServerConfiguration group (element names matched
// case-insensitively); Raw holds every entry as "group/name" → value.
type Settings struct {
	// Pool is ServerConfiguration/poolUri; Registrar is the FQDN derived
	// from it (or poolFqdn when present). [G: how real pools spell it]
	Pool      string
	Registrar string

	CAHandlerInternalUri     string
	CAHandlerInternalAnonUri string
	CAHandlerExternalUri     string
	WebTicketInternalUri     string
	WebTicketExternalUri     string

	LocationProfile          string // ucLocationProfile
	Organization             string
	VoiceMailUri             string
	FocusFactoryUri          string
	MRASUri                  string
	ABSInternalServerURL     string
	ABSExternalServerURL     string
	UpdatesServerInternalURL string
	UpdatesServerExternalURL string
	MinPinLength             int  // ucMinPinLength (0 when absent or invalid)
	EnforcePinLock           bool // ucEnforcePinLock
	PhoneTimeout             int  // ucPhoneTimeOut, minutes (0 when absent or invalid)

	Groups []Group
	Raw    map[string]string
}

// Parse decodes a provisionGroupList document.
func Parse(body []byte) (Settings, error) {
	var s Settings
	n := 0
	err := walk(body, "provisionGroupList", func(d *xml.Decoder, se xml.StartElement) error {
		if se.Name.Local != "provisionGroup" {
			return d.Skip()
		}
		g := Group{Name: attr(se, "name")}
		err := children(d, func(d *xml.Decoder, se xml.StartElement) error {
			if se.Name.Local == "propertyEntryList" {
				return children(d, func(d *xml.Decoder, se xml.StartElement) error {
					if se.Name.Local != "property" {
						return d.Skip()
					}
					v, leaf, err := leafText(d)
					if err != nil || !leaf {
						return err
					}
					if n++; n > MaxEntries {
						return ErrTooLarge
					}
					g.Entries = append(g.Entries, Entry{Name: attr(se, "name"), Value: v, Property: true})
					return nil
				})
			}
			if !validName(se.Name.Local) {
				return d.Skip()
			}
			v, leaf, err := leafText(d)
			if err != nil || !leaf {
				return err
			}
			if n++; n > MaxEntries {
				return ErrTooLarge
			}
			g.Entries = append(g.Entries, Entry{Name: se.Name.Local, Value: v})
			return nil
		})
		if err != nil {
			return err
		}
		s.Groups = append(s.Groups, g)
		return nil
	})
	if err != nil {
		return Settings{}, fmt.Errorf("inband: parse provisioning: %w", err)
	}
	s.derive()
	return s, nil
}

func (s *Settings) derive() {
	s.Raw = map[string]string{}
	sc := map[string]string{}
	for _, g := range s.Groups {
		for _, e := range g.Entries {
			s.Raw[g.Name+"/"+e.Name] = e.Value
			if strings.EqualFold(g.Name, "ServerConfiguration") {
				sc[strings.ToLower(e.Name)] = e.Value
			}
		}
	}
	s.Pool = sc["pooluri"]
	s.Registrar = sc["poolfqdn"]
	if s.Registrar == "" {
		s.Registrar = fqdnFromURI(s.Pool)
	}
	s.CAHandlerInternalUri = sc["cahandlerinternaluri"]
	s.CAHandlerInternalAnonUri = sc["cahandlerinternalanonuri"]
	s.CAHandlerExternalUri = sc["cahandlerexternaluri"]
	s.WebTicketInternalUri = sc["webticketinternaluri"]
	s.WebTicketExternalUri = sc["webticketexternaluri"]
	s.LocationProfile = sc["uclocationprofile"]
	s.Organization = sc["organization"]
	s.VoiceMailUri = sc["voicemailuri"]
	s.FocusFactoryUri = sc["focusfactoryuri"]
	s.MRASUri = sc["mrasuri"]
	s.ABSInternalServerURL = sc["absinternalserverurl"]
	s.ABSExternalServerURL = sc["absexternalserverurl"]
	s.UpdatesServerInternalURL = sc["updatesserverinternalurl"]
	s.UpdatesServerExternalURL = sc["updatesserverexternalurl"]
	s.MinPinLength = atoi(sc["ucminpinlength"])
	s.PhoneTimeout = atoi(sc["ucphonetimeout"])
	s.EnforcePinLock = strings.EqualFold(sc["ucenforcepinlock"], "true")
}

// fqdnFromURI extracts a host name from a pool URI such as
// "sip:pool.example.test;transport=tls" or "sip:pool.example.test@example.test".
// [G] real pools may use other shapes; the caller treats "" as unknown.
func fqdnFromURI(u string) string {
	u = strings.TrimPrefix(strings.TrimPrefix(u, "sips:"), "sip:")
	u, _, _ = strings.Cut(u, ";")
	if user, _, ok := strings.Cut(u, "@"); ok && strings.Contains(user, ".") {
		u = user
	} else if ok {
		_, u, _ = strings.Cut(u, "@")
	}
	u, _, _ = strings.Cut(u, ":")
	return u
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// Marshal encodes s.Groups as a provisionGroupList document (what labpool
// sends). The typed fields are derived on Parse and not consulted here:
// build Groups.
func Marshal(s Settings) []byte {
	var b bytes.Buffer
	b.WriteString(`<provisionGroupList xmlns="` + ResponseNamespace + `">`)
	for _, g := range s.Groups {
		b.WriteString(`<provisionGroup name="`)
		xml.EscapeText(&b, []byte(g.Name))
		b.WriteString(`">`)
		var props []Entry
		for _, e := range g.Entries {
			if e.Property {
				props = append(props, e)
				continue
			}
			if !validName(e.Name) {
				continue
			}
			b.WriteString("<" + e.Name + ">")
			xml.EscapeText(&b, []byte(e.Value))
			b.WriteString("</" + e.Name + ">")
		}
		if len(props) > 0 {
			b.WriteString(`<propertyEntryList>`)
			for _, e := range props {
				b.WriteString(`<property name="`)
				xml.EscapeText(&b, []byte(e.Name))
				b.WriteString(`">`)
				xml.EscapeText(&b, []byte(e.Value))
				b.WriteString(`</property>`)
			}
			b.WriteString(`</propertyEntryList>`)
		}
		b.WriteString(`</provisionGroup>`)
	}
	b.WriteString(`</provisionGroupList>`)
	return b.Bytes()
}

// validName reports whether n can be written as an element name unchanged
// (a conservative subset of XML Name without a prefix).
func validName(n string) bool {
	if n == "" || strings.HasPrefix(strings.ToLower(n), "xml") {
		return false
	}
	for i, r := range n {
		switch {
		case r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z':
		case i > 0 && (r == '-' || r == '.' || r >= '0' && r <= '9'):
		default:
			return false
		}
	}
	return true
}

// Rule is one dial-plan normalization rule.
type Rule struct {
	Pattern     string
	Translation string
}

// LocationProfile is a LocationProfileDescription ([MS-SIPRE] 2.2.8.1).
type LocationProfile struct {
	Name                  string
	Rules                 []Rule
	ExternalAccessPrefix  string
	OptimizeDeviceDialing bool
}

// ParseLocationProfile decodes a location profile body.
func ParseLocationProfile(body []byte) (LocationProfile, error) {
	var p LocationProfile
	err := walk(body, "LocationProfileDescription", func(d *xml.Decoder, se xml.StartElement) error {
		switch se.Name.Local {
		case "Name", "ExternalAccessPrefix", "OptimizeDeviceDialing":
			v, leaf, err := leafText(d)
			if err != nil || !leaf {
				return err
			}
			switch se.Name.Local {
			case "Name":
				p.Name = v
			case "ExternalAccessPrefix":
				p.ExternalAccessPrefix = v
			default:
				p.OptimizeDeviceDialing = strings.EqualFold(v, "true")
			}
			return nil
		case "Rule":
			if len(p.Rules) >= MaxEntries {
				return ErrTooLarge
			}
			var r Rule
			err := children(d, func(d *xml.Decoder, se xml.StartElement) error {
				v, leaf, err := leafText(d)
				if err != nil || !leaf {
					return err
				}
				switch se.Name.Local {
				case "Pattern":
					r.Pattern = v
				case "Translation":
					r.Translation = v
				}
				return nil
			})
			if err != nil {
				return err
			}
			p.Rules = append(p.Rules, r)
			return nil
		}
		return d.Skip()
	})
	if err != nil {
		return LocationProfile{}, fmt.Errorf("inband: parse location profile: %w", err)
	}
	return p, nil
}

// MarshalLocationProfile encodes p as a LocationProfileDescription.
func MarshalLocationProfile(p LocationProfile) []byte {
	var b bytes.Buffer
	el := func(name, v string) {
		b.WriteString("<" + name + ">")
		xml.EscapeText(&b, []byte(v))
		b.WriteString("</" + name + ">")
	}
	b.WriteString(`<LocationProfileDescription xmlns="` + LocationProfileNamespace + `">`)
	el("Name", p.Name)
	for _, r := range p.Rules {
		b.WriteString("<Rule>")
		el("Pattern", r.Pattern)
		el("Translation", r.Translation)
		b.WriteString("</Rule>")
	}
	el("ExternalAccessPrefix", p.ExternalAccessPrefix)
	el("OptimizeDeviceDialing", strconv.FormatBool(p.OptimizeDeviceDialing))
	b.WriteString(`</LocationProfileDescription>`)
	return b.Bytes()
}

// walk finds the root element named root (any namespace) and calls fn for
// each of its child elements; fn must consume the element (d.Skip or
// children/leafText).
func walk(body []byte, root string, fn func(*xml.Decoder, xml.StartElement) error) error {
	if len(body) > MaxBody {
		return ErrTooLarge
	}
	d := xml.NewDecoder(bytes.NewReader(body))
	d.Strict = true
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if se.Name.Local != root {
			return fmt.Errorf("root element %q, want %q", se.Name.Local, root)
		}
		return children(d, fn)
	}
}

// children calls fn for each child element of the element just opened, and
// consumes its end tag. Text between children is ignored.
func children(d *xml.Decoder, fn func(*xml.Decoder, xml.StartElement) error) error {
	for {
		tok, err := d.Token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return io.ErrUnexpectedEOF
			}
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if err := fn(d, t); err != nil {
				return err
			}
		case xml.EndElement:
			return nil
		}
	}
}

// leafText reads the text of the element just opened up to its end tag.
// leaf is false (and the element skipped) when it has child elements.
func leafText(d *xml.Decoder) (text string, leaf bool, err error) {
	var b strings.Builder
	for {
		tok, err := d.Token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return "", false, io.ErrUnexpectedEOF
			}
			return "", false, err
		}
		switch t := tok.(type) {
		case xml.CharData:
			if b.Len()+len(t) > MaxBody {
				return "", false, ErrTooLarge
			}
			b.Write(t)
		case xml.StartElement:
			if err := d.Skip(); err != nil {
				return "", false, err
			}
			// Skip the rest of the parent, too.
			return "", false, skipRest(d)
		case xml.EndElement:
			return strings.TrimSpace(b.String()), true, nil
		}
	}
}

// skipRest consumes tokens up to the end of the element currently open.
func skipRest(d *xml.Decoder) error {
	depth := 1
	for depth > 0 {
		tok, err := d.Token()
		if err != nil {
			return err
		}
		switch tok.(type) {
		case xml.StartElement:
			if depth++; depth > maxDepth {
				return errors.New("nesting too deep")
			}
		case xml.EndElement:
			depth--
		}
	}
	return nil
}

func attr(se xml.StartElement, name string) string {
	for _, a := range se.Attr {
		if a.Name.Local == name && a.Name.Space == "" {
			return a.Value
		}
	}
	return ""
}
