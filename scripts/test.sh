#!/usr/bin/env bash
# README's test command: installs what the tests need, builds, and runs the whole suite against real engines.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --test ${BERTH_TEST_UI:+--ui}
npm run build --silent
exec npx mocha "$@"
