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

mirror() {
  local f uri
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f $f ]] || continue
    # deb822: take the URIs of a stanza whose suites are not a -security suite.
    uri=$(awk '
      /^[[:space:]]*$/ { if (u != "" && s !~ /security/) { print u; exit } u=""; s=""; next }
      /^URIs:/ { u=$2 } /^Suites:/ { s=$0 }
      END { if (u != "" && s !~ /security/) print u }' "$f" | head -n1)
    if [[ -n $uri && $uri == */debian ]]; then echo "$uri"; return; fi
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f $f ]] || continue
    uri=$(awk '$1=="deb" && $0 !~ /security/ { for (i=2;i<=NF;i++) if ($i !~ /^\[/ && $i ~ /:\/\//) { print $i; exit } }' "$f" | grep '/debian$' | head -n1 || true)
    if [[ -n $uri ]]; then echo "$uri"; return; fi
  done
  return 1
}

uri=$(mirror) || { log "cannot find a Debian mirror in /etc/apt/sources.list*; set PAGETRACK_MYSQL_BASEDIR to an installed MySQL 8.0.30+ instead"; exit 1; }
log "using Debian sid from the machine's mirror"

state=$root/.cache/apt-sid
mkdir -p "$state"/{etc/apt/sources.list.d,etc/apt/preferences.d,etc/apt/apt.conf.d,lists/partial,archives/partial,dpkg,debs}
: >"$state/dpkg/status"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
echo "deb [signed-by=$keyring] $uri sid main" >"$state/etc/apt/sources.list"

apt_opts=(
  -o "Dir::Etc=$state/etc/apt"
  -o "Dir::Etc::SourceList=$state/etc/apt/sources.list"
  -o "Dir::Etc::SourceParts=$state/etc/apt/sources.list.d"
  -o "Dir::Etc::Preferences=$state/etc/apt/preferences"
  -o "Dir::Etc::PreferencesParts=$state/etc/apt/preferences.d"
  -o "Dir::State::Lists=$state/lists"
  -o "Dir::State::status=$state/dpkg/status"
  -o "Dir::Cache=$state/cache"
  -o "Dir::Cache::archives=$state/archives"
  -o "APT::Architecture=amd64"
  -o "APT::Get::AllowUnauthenticated=false"
  -o "Debug::NoLocking=1"
  -o "Acquire::Languages=none"
  -o "APT::Sandbox::User=root" # the private state is root-owned; no _apt download sandbox
)
mkdir -p "$state/cache"

if [[ ! -s $state/lists/.updated ]] || [[ -n $(find "$state/lists/.updated" -mmin +1440 2>/dev/null) ]]; then
  log "apt-get update (sid, private state)"
  apt-get "${apt_opts[@]}" -q update >&2
  date >"$state/lists/.updated"
fi

pkgs=(mysql-server-core mysql-client-core)
log "resolving the dependency closure of ${pkgs[*]}"
closure=$(apt-get "${apt_opts[@]}" -s install --no-install-recommends "${pkgs[@]}" | awk '$1=="Inst" { print $2 }')
[[ -n $closure ]] || { log "apt-get resolved no packages"; exit 1; }

log "downloading $(echo "$closure" | wc -l) packages"
(cd "$state/debs" && apt-get "${apt_opts[@]}" -q download $closure >&2)

rm -rf "$prefix.tmp" && mkdir -p "$prefix.tmp"
for deb in "$state"/debs/*.deb; do dpkg -x "$deb" "$prefix.tmp"; done
rm -rf "$prefix" && mv "$prefix.tmp" "$prefix"

ld=$prefix/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2
[[ -x $ld || -f $ld ]] || { log "no loader at $ld"; exit 1; }
[[ -f $prefix/usr/sbin/mysqld ]] || { log "no mysqld in the prefix"; exit 1; }
libs=$prefix/usr/lib/x86_64-linux-gnu:$prefix/lib/x86_64-linux-gnu:$prefix/usr/lib/x86_64-linux-gnu/private
version=$("$ld" --library-path "$libs" "$prefix/usr/sbin/mysqld" --version) || { log "mysqld does not run from the prefix"; exit 1; }
log "$version"
date >"$stamp"
echo "$prefix"
