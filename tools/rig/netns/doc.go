// Package netns builds throw-away network namespaces for tests that need
// real peers (dnsmasq, Kea, chrony, tshark): two namespaces joined by a
// veth pair on 192.0.2.0/24 (server .1, client .2). Commands run inside a
// namespace through `ip netns exec`; Go code runs inside one with Do
// (LockOSThread + setns), and sockets it creates stay in that namespace.
//
// Everything is removed with t.Cleanup, also on failure. Tests skip (with
// the reason) when not root or when `ip` is missing. Names carry the pid and
// a counter so parallel test binaries do not collide.
//
// The helpers are Linux-only (the rest of this package is built with the
// linux tag); tests that use them carry the same tag.
package netns
