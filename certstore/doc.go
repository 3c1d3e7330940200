// Package certstore keeps the phone's sign-in certificate, its private key and
// the site root certificates in raw flash, safe against power cuts, and
// builds the trust anchors (Mozilla's bundled roots plus the site roots) the
// sign-in stages verify servers with.
//
// # Slots
//
// Every persistent record lives in a Slots area: a region of flash split into
// two erase-aligned halves (slot 0 and slot 1). A slot starts with a 24-byte
// big-endian header followed by the payload:
//
//	off  size  field
//	0    4     magic "DPSL"
//	4    1     format version (1)
//	5    1     flags (bit 0: tombstone, the record was deleted)
//	6    2     reserved, zero
//	8    8     seq, the write counter (serial-number order, RFC 1982)
//	16   4     payload length
//	20   4     CRC-32 (IEEE) over bytes 0..19 and the payload
//
// A write erases and programs the inactive slot (payload first, header last),
// reads it back and checks the CRC; it then wins over the active slot because
// its seq is one higher. The active slot is never erased, so a power cut at
// any point leaves either the old or the new record readable. At boot the
// valid slot with the newer seq wins; erased flash and garbage read as empty.
// This is the A/B idea of gokrazy's root partitions, applied to records.
//
// # Flash layout
//
// The agent's flash partition (board.Flash) is split by Layout:
//
//	region  range                    contents
//	A       [0, size/2)              the certificate Store (key, certificate, chain, identity)
//	B       [size/2, 3*size/4)       the site root certificates (RootStore)
//	C       [3*size/4, size)         the agent's own device state (a Slots it owns)
//
// Each region is a Slots area, so the partition size must be a multiple of
// 8 × EraseSize (each quarter splits into two erase-aligned slots).
//
// # Records
//
// A Record is encoded as versioned JSON ({"version":1,...}) with the private
// keys as base64 PKCS#8 and certificates as base64 DER, decoded strictly
// (unknown fields and trailing data are errors). Private keys leave this
// package only as crypto.Signer values; Record and Store implement
// slog.LogValuer without key material.
//
// # Trust
//
// Trust anchors are the bundled Mozilla roots
// (golang.org/x/crypto/x509roots/fallback/bundle, never the system pool) plus
// the site roots. Certificates downloaded during the trust bootstrap
// (bootstrap/chain, signin-protocols.md §3.6 and §8.3) are only ever added as
// intermediates, except in the opt-in trust_downloaded_root mode.
package certstore
