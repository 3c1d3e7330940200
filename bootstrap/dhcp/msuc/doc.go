// Package msuc is the pure codec for the two DHCP options a Lync Phone
// Edition-class phone reads from its DHCPINFORM answer:
//
//   - option 43 (vendor-specific information) for vendor class MS-UC-Client:
//     sub-options 1 UCIdentifier, 2 URLScheme, 3 WebServerFqdn,
//     4 WebServerPort (ASCII digits), 5 CertProvRelPath, each a TLV with a
//     one-byte code and a one-byte length and no terminator;
//   - option 120 (SIP servers), RFC 3361: encoding byte 0 followed by DNS
//     wire-format names, or encoding byte 1 followed by IPv4 addresses.
//
// The decoders accept sub-options in any order, skip 0x00 pad bytes, stop at
// 0xFF, ignore unknown codes (dnsmasq sends 5,4,3,2,1 then 0xFF; Kea and
// DHCPUtil send 1..5), and fail with a typed error on a sub-option cut short
// (Cisco IOS truncates `option 43 hex` at 180 hex digits).
//
// # References
//
//   - platform-notes.md §1.2–§1.4 (sub-option table, DHCPUtil bytes, Kea and
//     dnsmasq captures)
//   - RFC 3361, "DHCP-for-IPv4 Option for SIP Servers"
//   - RFC 1035 §3.1 (name wire format) and §4.1.4 (compression, rejected here)
package msuc
