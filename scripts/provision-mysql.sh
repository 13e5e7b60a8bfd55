#!/usr/bin/env bash
# Fetch MySQL 9.x (mysql-server-core, mysql-client-core and their dependency closure) from
# Debian's sid suite into a private prefix, without touching the machine's own dpkg state.
#
# The mirror is read from this machine's apt configuration; no host name lives in the repo.
# The result is cached: a second run with a complete prefix returns at once.
#
#   scripts/provision-mysql.sh [PREFIX]     (default: .cache/mysql)
#
# Prints the prefix on stdout. Set PAGETRACK_MYSQL_BASEDIR to use an installed MySQL 8.0.30+
# instead; then this script is not needed.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
prefix=${1:-$root/.cache/mysql}
stamp=$prefix/.complete
if [[ -f $stamp ]]; then echo "$prefix"; exit 0; fi

log() { echo "provision-mysql: $*" >&2; }

source "$root/scripts/debian-sid.sh"
sid_init "$root" || { log "set PAGETRACK_MYSQL_BASEDIR to an installed MySQL 8.0.30+ instead"; exit 1; }

pkgs=(mysql-server-core mysql-client-core)
log "resolving the dependency closure of ${pkgs[*]}"
closure=$(sid_closure "${pkgs[@]}")
[[ -n $closure ]] || { log "apt-get resolved no packages"; exit 1; }
log "downloading $(echo "$closure" | wc -l) packages"
sid_download "$sid_state/debs" $closure

rm -rf "$prefix.tmp" && mkdir -p "$prefix.tmp"
sid_unpack "$sid_state/debs" "$prefix.tmp"
rm -rf "$prefix" && mv "$prefix.tmp" "$prefix"

ld=$prefix/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2
[[ -x $ld || -f $ld ]] || { log "no loader at $ld"; exit 1; }
[[ -f $prefix/usr/sbin/mysqld ]] || { log "no mysqld in the prefix"; exit 1; }
libs=$prefix/usr/lib/x86_64-linux-gnu:$prefix/lib/x86_64-linux-gnu:$prefix/usr/lib/x86_64-linux-gnu/private
version=$("$ld" --library-path "$libs" "$prefix/usr/sbin/mysqld" --version) || { log "mysqld does not run from the prefix"; exit 1; }
log "$version"
date >"$stamp"
echo "$prefix"
