#!/usr/bin/env bash
# gotest-emulated.sh: `go test` for binaries run under qemu-user (-exec
# qemu-*-static). qemu-user sometimes crashes the Go runtime itself while
# starting a thread ("morestack on g0", "schedule: holding locks"), dies on a
# stray trap ("qemu: uncaught target signal"), or hangs a test binary after
# it printed PASS (go test then kills it: "SIGQUIT: quit"). That is the
# emulator, not our code. Packages that failed that way are run again (at
# most twice) and every retry is reported; any other failure fails at once.
# Pass a short -timeout so that an emulator hang costs minutes, not the
# whole CI budget.
set -uo pipefail
out=$(mktemp)
trap 'rm -f "$out"' EXIT
sig='morestack on g0|schedule: holding locks|fatal error: unexpected signal during runtime execution|qemu: uncaught target signal|SIGQUIT: quit'
flags=()
for a in "$@"; do case "$a" in ./*|github.com/*) ;; *) flags+=("$a");; esac; done
args=("$@")
for attempt in 1 2 3; do
  go test "${args[@]}" 2>&1 | tee "$out"
  rc=${PIPESTATUS[0]}
  [ "$rc" = 0 ] && exit 0
  [ "$attempt" = 3 ] && exit "$rc"
  grep -qE "$sig" "$out" || exit "$rc"
  pkgs=$(grep -E '^FAIL[[:space:]]+[^[:space:]]+' "$out" | awk '{print $2}' | sort -u)
  [ -n "$pkgs" ] || exit "$rc"
  echo "gotest-emulated: qemu-user crashed the Go runtime (emulator bug); re-running: $pkgs"
  args=("${flags[@]}" $pkgs)
done
