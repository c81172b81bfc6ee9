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
if (($#)); then exec npx mocha "$@"; fi
npx mocha 'test/**/*.test.ts'
# RHEL 10 ships crun and no runc: the suites that drive containers' lifecycle, exec, options and seccomp run a
# second time with crun as the default runtime (test/helpers/engine.ts, BERTH_TEST_RUNTIME).
step mocha on crun
BERTH_TEST_RUNTIME=crun npx mocha test/engine/api/containers.test.ts test/engine/api/exec.test.ts \
  test/engine/containers/options.test.ts test/engine/runtime/seccomp.test.ts
step done
