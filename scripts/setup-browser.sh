#!/usr/bin/env bash
# The browser the status page's test drives: Debian's chromium, run headless through puppeteer-core.
# Idempotent and quiet on success.
set -euo pipefail

command -v chromium >/dev/null 2>&1 && exit 0
SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=(sudo); else
    echo "setup-browser: must run as root (or with sudo available) to install chromium" >&2
    exit 1
  fi
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
if ! { "${SUDO[@]}" apt-get update && "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; } >"$out" 2>&1; then
  cat "$out" >&2
  echo "setup-browser: installing chromium failed" >&2
  exit 1
fi
command -v chromium >/dev/null 2>&1 || { echo "setup-browser: installed, but chromium is still not on PATH (is this Debian 12?)" >&2; exit 1; }
