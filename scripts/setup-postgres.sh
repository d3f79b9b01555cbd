#!/usr/bin/env bash
# Makes PostgreSQL 15 (Debian's packages) available for dcsync's tests, benchmarks and `dcsync local up`.
# Idempotent and quiet on success: prints only when something fails.
#   - installs postgresql + postgresql-contrib when /usr/lib/postgresql/15/bin/pg_ctl is missing;
#   - stops Debian's system cluster(s) if, and only if, this install started them (we run our own clusters);
#   - makes sure the `postgres` OS user exists (our clusters run as that user when we are root).
set -euo pipefail

PG_BINDIR=/usr/lib/postgresql/15/bin

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    echo "setup-postgres: must run as root (or with sudo available) to install PostgreSQL" >&2
    exit 1
  fi
fi

# Prints "version/name" for every cluster pg_lsclusters reports as online (nothing if the tool is absent).
online_clusters() {
  command -v pg_lsclusters >/dev/null 2>&1 || return 0
  pg_lsclusters --no-header 2>/dev/null | awk '$4 == "online" { print $1 "/" $2 }' || true
}

if [[ ! -x $PG_BINDIR/pg_ctl ]]; then
  before=$(online_clusters)
  out=$(mktemp)
  trap 'rm -f "$out"' EXIT
  if ! {
    "${SUDO[@]}" apt-get update &&
      "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql postgresql-contrib
  } >"$out" 2>&1; then
    cat "$out" >&2
    echo "setup-postgres: installing PostgreSQL failed" >&2
    exit 1
  fi
  if [[ ! -x $PG_BINDIR/pg_ctl ]]; then
    echo "setup-postgres: installed, but $PG_BINDIR/pg_ctl is still missing (is this Debian 12?)" >&2
    exit 1
  fi
  # The package's postinst creates and (where services may start) starts a cluster on 5432.
  # Stop only what this install started; a cluster that was already running is not ours to touch.
  for cluster in $(online_clusters); do
    if ! grep -qxF "$cluster" <<<"$before"; then
      if ! "${SUDO[@]}" pg_ctlcluster "${cluster%%/*}" "${cluster#*/}" stop >"$out" 2>&1; then
        cat "$out" >&2
        echo "setup-postgres: could not stop the system cluster $cluster that the install started" >&2
        exit 1
      fi
    fi
  done
fi

if ! id -u postgres >/dev/null 2>&1; then
  "${SUDO[@]}" useradd --system --user-group --home-dir /var/lib/postgresql --no-create-home \
    --shell /bin/bash --comment "PostgreSQL administrator" postgres
fi
