#!/usr/bin/env bash
# README's test command: installs what the tests need, builds, and runs the whole suite against real engines.
# Arguments go to mocha: `bash scripts/test.sh test/engine/api/exec.test.ts` runs one file (default: all of test/).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --test ${BERTH_TEST_UI:+--ui}
npm run build --silent
(($#)) || set -- 'test/**/*.test.ts'
exec npx mocha "$@"
