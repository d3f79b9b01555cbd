#!/usr/bin/env bash
# Tools the deploy/ tests need: systemd-analyze (Debian's systemd package) to verify the units.
# Idempotent and quiet on success.
set -euo pipefail

command -v systemd-analyze >/dev/null 2>&1 && exit 0
SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=(sudo); else
    echo "setup-deploy: must run as root (or with sudo available) to install systemd" >&2
    exit 1
  fi
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
if ! { "${SUDO[@]}" apt-get update && "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends systemd; } >"$out" 2>&1; then
  cat "$out" >&2
  echo "setup-deploy: installing systemd failed" >&2
  exit 1
fi
