#!/usr/bin/env bash
# The test command (README): set-up, typecheck, unit tests, then integration tests against real PostgreSQL, Kafka
# and MirrorMaker 2 started by the tests themselves on loopback ports (and stopped by PID afterwards).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh
echo "== typecheck"
npx tsc -p tsconfig.json --noEmit
echo "== unit tests"
node --import tsx --test --test-reporter=spec 'src/**/*.test.ts'
echo "== integration tests"
node --import tsx --test --test-concurrency=1 --test-timeout=900000 --test-reporter=spec ${DCSYNC_IT:-'test/integration/**/*.it.test.ts'}
