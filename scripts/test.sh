#!/usr/bin/env bash
# README's test command: installs what the tests need, checks types and lint, builds, and runs the whole suite
# against real engines, the UI suite included (code-server is set up once per machine by scripts/setup-ui.sh and
# cached in /opt/berth-ui). Arguments go to mocha: `bash scripts/test.sh test/engine/api/exec.test.ts` runs one file
# (default: all of test/). Under CI=true (.ci/run sets it) a missing test dependency or a skipped test fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
step() { echo "== $* (at $((SECONDS - start)) s)"; }
step install-deps
bash scripts/install-deps.sh --test --ui
step setup-ui
bash scripts/setup-ui.sh
step typecheck
npm run typecheck --silent
step lint
npm run lint --silent
step build
npm run build --silent
step mocha
(($#)) || set -- 'test/**/*.test.ts'
exec npx mocha "$@"
