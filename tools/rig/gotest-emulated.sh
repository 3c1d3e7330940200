#!/usr/bin/env bash
# gotest-emulated.sh: `go test` for binaries run under qemu-user (-exec
# qemu-*-static). qemu-user sometimes crashes the Go runtime itself while
# starting a thread ("morestack on g0", "schedule: holding locks"); that is
# the emulator, not our code. Such a package is run once more and the retry
# is reported; any other failure fails at once.
set -uo pipefail
out=$(mktemp)
trap 'rm -f "$out"' EXIT
go test "$@" 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
[ "$rc" = 0 ] && exit 0
sig='morestack on g0|schedule: holding locks|fatal error: unexpected signal during runtime execution|qemu: uncaught target signal|SIGQUIT: quit'
if ! grep -qE "$sig" "$out"; then
  exit "$rc"
fi
# Packages that failed, and only those; re-run them once.
pkgs=$(grep -E '^FAIL[[:space:]]+[^[:space:]]+' "$out" | awk '{print $2}' | sort -u)
[ -n "$pkgs" ] || exit "$rc"
echo "gotest-emulated: qemu-user crashed the Go runtime (emulator bug); re-running once: $pkgs"
flags=()
for a in "$@"; do case "$a" in ./*|github.com/*) ;; *) flags+=("$a");; esac; done
go test "${flags[@]}" $pkgs
