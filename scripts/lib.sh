# Shared helpers for scripts/demo and scripts/test: say what is happening,
# and install what is missing (apt-get as root, pip into .venv).

say() { printf '\033[1;36m==>\033[0m %s\n' "$*" >&2; }
warn() { printf '\033[1;33mwarning:\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }

APT_UPDATED=0
# apt_install PKG...: installs Debian packages when we can (root + apt-get); returns 1 otherwise.
apt_install() {
  if ! command -v apt-get >/dev/null 2>&1; then
    warn "apt-get is not available; install $* with your package manager"
    return 1
  fi
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; else
      warn "not root and no password-less sudo; install $* yourself (apt-get install $*)"
      return 1
    fi
  fi
  if [ "$APT_UPDATED" -eq 0 ]; then
    say "apt-get update (to install: $*)"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq || return 1
    APT_UPDATED=1
  fi
  say "apt-get install $*"
  local log
  log=$(mktemp)
  if ! $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >"$log" 2>&1; then
    tail -20 "$log" >&2
    rm -f "$log"
    return 1
  fi
  rm -f "$log"
}

# True when the PostgreSQL server binaries are where the portal looks for them.
have_postgres() {
  command -v initdb >/dev/null 2>&1 && return 0
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null 2>&1 && return 0
  command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ] && return 0
  return 1
}

need_postgres() {
  if [ -n "${DATABASE_URL:-}" ] || have_postgres; then return 0; fi
  say "PostgreSQL server binaries not found; installing them"
  apt_install postgresql || die "PostgreSQL is needed: install it (apt-get install postgresql) or set DATABASE_URL"
  have_postgres || die "PostgreSQL was installed but initdb is still not found"
}
