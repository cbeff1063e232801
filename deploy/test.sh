#!/usr/bin/env bash
# The test command (`npm test`): services up, then lint, typecheck, unit and integration tests.
set -euo pipefail
cd "$(dirname "$0")/.."

bash deploy/ci/ensure-services.sh
export DATABASE_TEST_URL=${DATABASE_TEST_URL:-postgres://postgres@127.0.0.1:5432/test}
export AMQP_URL_TEST=${AMQP_URL_TEST:-amqp://guest:guest@127.0.0.1:5672}
export REDIS_URL_TEST=${REDIS_URL_TEST:-redis://127.0.0.1:6379}

step() { printf '\n=== %s\n' "$*"; }
step lint;        npx eslint . --max-warnings 0
step format;      npx prettier --check . --log-level warn
step typecheck;   npx tsc -p tsconfig.json --noEmit
# --forceExit: a suite that leaves a socket or timer behind must not hang the whole run
# (jest still prints which open handles it saw).
out=$(mktemp -d)
status=0
step unit;        npx jest --selectProjects unit --ci --forceExit --json --outputFile="$out/unit.json" || status=1
step integration; npx jest --selectProjects integration --ci --runInBand --forceExit --json --outputFile="$out/integration.json" || status=1

# One plain closing line for whoever reads the log: "tests: N passed, N failed".
node -e '
  let passed = 0, failed = 0;
  for (const f of process.argv.slice(1)) {
    try { const r = require(f); passed += r.numPassedTests; failed += r.numFailedTests + r.numRuntimeErrorTestSuites; }
    catch { failed += 1; }
  }
  console.log(`tests: ${passed} passed, ${failed} failed`);
' "$out/unit.json" "$out/integration.json"
rm -rf "$out"
exit $status
