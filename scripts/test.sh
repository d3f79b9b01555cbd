#!/usr/bin/env bash
# The test command (README): set-up, typecheck, unit tests, then integration tests against real PostgreSQL, Kafka
# and MirrorMaker 2 started by the tests themselves on loopback ports (and stopped by PID afterwards).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh
echo "== typecheck"
npx tsc -p tsconfig.json --noEmit
shopt -s globstar nullglob # node 20's test runner does not expand globs itself
echo "== unit tests"
node --import tsx --test --test-reporter=spec src/**/*.test.ts tools/**/*.test.ts
echo "== integration tests"
if [ -n "${DCSYNC_IT:-}" ]; then its=($DCSYNC_IT); else its=(test/integration/**/*.it.test.ts); fi
node --import tsx --test --test-concurrency=1 --test-timeout=900000 --test-reporter=spec "${its[@]}"
