#!/usr/bin/env bash
# Fetch restic (>= 0.17) from Debian's sid suite into a private prefix, without touching the
# machine's own dpkg state, the same way scripts/provision-mysql.sh fetches MySQL (and sharing
# its private apt state in .cache/apt-sid).
#
# The mirror is read from this machine's apt configuration; no host name lives in the repo.
# The result is cached: a second run with a complete prefix returns at once.
#
#   scripts/provision-restic.sh [PREFIX]     (default: .cache/restic)
#
# Prints the restic binary's path on stdout. Set PAGETRACK_RESTIC to an installed restic 0.17+
# instead; then this script only checks its version and prints it.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
prefix=${1:-$root/.cache/restic}
min_version=0.17

log() { echo "provision-restic: $*" >&2; }

# check_version BINARY: restic's version must be at least min_version (for
# `backup --stdin-from-command`).
check_version() {
  local out v
  out=$("$1" version) || { log "$1 does not run"; return 1; }
  v=$(awk '$1 == "restic" { print $2; exit }' <<<"$out")
  if [[ -z $v ]] || ! printf '%s\n%s\n' "$min_version" "$v" | sort -V -C; then
    log "$1 is restic '$v'; pagetrack needs $min_version or newer ($out)"
    return 1
  fi
  log "$out"
}

if [[ -n ${PAGETRACK_RESTIC:-} ]]; then
  check_version "$PAGETRACK_RESTIC"
  echo "$PAGETRACK_RESTIC"
  exit 0
fi

bin=$prefix/usr/bin/restic
stamp=$prefix/.complete
if [[ -f $stamp && -x $bin ]]; then echo "$bin"; exit 0; fi

source "$root/scripts/debian-sid.sh"
sid_init "$root" || { log "set PAGETRACK_RESTIC to an installed restic $min_version+ instead"; exit 1; }

# restic is one Go binary whose only dependency is libc6 (>= 2.34). Only the restic package
# is fetched; sid's libc6 as well only when the host's libc is too old to run it.
debs=$sid_state/debs-restic
log "downloading restic $(apt-cache "${apt_opts[@]}" show --no-all-versions restic 2>/dev/null | awk '$1=="Version:" { print $2; exit }')"
sid_download "$debs" restic

tmp=$prefix.tmp
rm -rf "$tmp" && mkdir -p "$tmp"
sid_unpack "$debs" "$tmp"
[[ -x $tmp/usr/bin/restic ]] || { log "the restic package holds no usr/bin/restic"; exit 1; }
if ! "$tmp/usr/bin/restic" version >/dev/null 2>&1; then
  # The host's libc is older than restic needs: run it through sid's loader, like MySQL.
  log "restic does not run on the host's libc; adding sid's libc6 and a wrapper"
  (cd "$debs" && apt-get "${apt_opts[@]}" -q download libc6 >&2)
  for deb in "$debs"/libc6_*.deb; do dpkg -x "$deb" "$tmp"; done # only libc6: not sid_unpack
  mv "$tmp/usr/bin/restic" "$tmp/usr/bin/restic.real"
  cat >"$tmp/usr/bin/restic" <<'WRAP'
#!/bin/sh
p=$(cd "$(dirname "$0")/../.." && pwd)
exec "$p/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" --library-path "$p/usr/lib/x86_64-linux-gnu" "$p/usr/bin/restic.real" "$@"
WRAP
  chmod +x "$tmp/usr/bin/restic"
fi
check_version "$tmp/usr/bin/restic"
rm -rf "$prefix" && mv "$tmp" "$prefix"
date >"$stamp"
echo "$bin"
