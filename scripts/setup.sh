#!/usr/bin/env bash
# Everything dcsync's tests, benchmarks and demo need on a fresh Debian 12 machine; idempotent and quiet when done before.
#   npm packages (npm ci), PostgreSQL 15 (Debian's packages), Java 17 + the Kafka/MirrorMaker 2 jars (Maven Central).
#   systemd-analyze (Debian's systemd) for the deploy/ unit tests; chromium (Debian's) for the status page's test.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
node scripts/bundle.mjs # dist/dcsync.mjs, what bin/dcsync.js starts from (npm ci builds it too; this refreshes it)
bash scripts/setup-postgres.sh
bash scripts/setup-kafka.sh
bash scripts/setup-deploy.sh
bash scripts/setup-browser.sh
