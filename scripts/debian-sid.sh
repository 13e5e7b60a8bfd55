# Shared by the provision-*.sh scripts (source it): fetch packages from Debian's sid suite into
# a private prefix without touching the machine's own dpkg state.
#
# The mirror is read from this machine's apt configuration; no host name lives in the repo.
# apt runs with a private state under .cache/apt-sid (its own sources list, lists, cache and an
# empty dpkg status), shared by the scripts under a lock, its lists refreshed once a day.
#
#   sid_init ROOT           set up the state, fill apt_opts, update the lists when stale
#   sid_closure PKG…        print the packages `install --no-install-recommends PKG…` would add
#   sid_download DIR PKG…   download those .deb files into DIR (emptied first)
#   sid_unpack DIR PREFIX   dpkg -x every .deb of DIR into PREFIX

# sid_mirror prints the Debian mirror of this machine's apt configuration.
sid_mirror() {
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

sid_init() {
  local root=$1 uri
  uri=$(sid_mirror) || { log "cannot find a Debian mirror in /etc/apt/sources.list*"; return 1; }
  log "using Debian sid from the machine's mirror"
  sid_state=$root/.cache/apt-sid
  mkdir -p "$sid_state"/{etc/apt/sources.list.d,etc/apt/preferences.d,etc/apt/apt.conf.d,lists/partial,archives/partial,dpkg,cache}
  exec 9>"$sid_state/.lock" # the provision scripts take turns on the shared state
  flock 9
  [[ -f $sid_state/dpkg/status ]] || : >"$sid_state/dpkg/status"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri sid main" >"$sid_state/etc/apt/sources.list"
  apt_opts=(
    -o "Dir::Etc=$sid_state/etc/apt"
    -o "Dir::Etc::SourceList=$sid_state/etc/apt/sources.list"
    -o "Dir::Etc::SourceParts=$sid_state/etc/apt/sources.list.d"
    -o "Dir::Etc::Preferences=$sid_state/etc/apt/preferences"
    -o "Dir::Etc::PreferencesParts=$sid_state/etc/apt/preferences.d"
    -o "Dir::State::Lists=$sid_state/lists"
    -o "Dir::State::status=$sid_state/dpkg/status"
    -o "Dir::Cache=$sid_state/cache"
    -o "Dir::Cache::archives=$sid_state/archives"
    -o "APT::Architecture=amd64"
    -o "APT::Get::AllowUnauthenticated=false"
    -o "Debug::NoLocking=1"
    -o "Acquire::Languages=none"
    -o "APT::Sandbox::User=root" # the private state is root-owned; no _apt download sandbox
  )
  if [[ ! -s $sid_state/lists/.updated ]] || [[ -n $(find "$sid_state/lists/.updated" -mmin +1440 2>/dev/null) ]]; then
    log "apt-get update (sid, private state)"
    apt-get "${apt_opts[@]}" -q update >&2
    date >"$sid_state/lists/.updated"
  fi
}

sid_closure() {
  apt-get "${apt_opts[@]}" -s install --no-install-recommends "$@" | awk '$1=="Inst" { print $2 }'
}

sid_download() {
  local dir=$1
  shift
  rm -rf "$dir" && mkdir -p "$dir"
  (cd "$dir" && apt-get "${apt_opts[@]}" -q download "$@" >&2)
}

sid_unpack() {
  local deb
  for deb in "$1"/*.deb; do dpkg -x "$deb" "$2"; done
}
