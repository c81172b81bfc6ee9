#!/usr/bin/env bash
# Sets up a real VS Code for the UI end-to-end tests, outside the repository: code-server (its extension host runs
# server-side, as under Remote-SSH) plus playwright-core to drive Debian's headless Chromium. Works offline from
# the npm registry alone: native modules are rebuilt from source instead of downloaded.
# Idempotent; slow (~10-20 min on 2 cores) the first time. Usage: scripts/setup-ui.sh [DIR] (default /opt/berth-ui)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-${BERTH_UI_DIR:-/opt/berth-ui}}
version=4.100.3
# System packages only: the UI test runs this from inside mocha, whose node_modules an npm ci would pull away.
bash scripts/install-deps.sh --ui --system-only
if [[ -f "$dir/.ready-$version" ]]; then echo "code-server $version ready in $dir"; exit 0; fi
# Native modules build against the installed Node's own headers (no download from nodejs.org).
if [[ -z "${npm_config_nodedir:-}" ]]; then
  headers=$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")
  [[ -f "$headers/include/node/node.h" ]] && export npm_config_nodedir="$headers"
fi
# node-pty's install script runs `npx node-gyp`: have it on PATH so npx does not try to prompt.
command -v node-gyp >/dev/null || npm install -g --no-audit --no-fund node-gyp
mkdir -p "$dir"
cd "$dir"
[[ -f package.json ]] || echo '{"name":"berth-ui","private":true}' > package.json
npm install --no-audit --no-fund --ignore-scripts "code-server@$version" playwright-core@1.52.0
npm rebuild argon2 --build-from-source
cd node_modules/code-server/lib/vscode
npm install --no-audit --no-fund --omit=dev --ignore-scripts
npm rebuild node-pty @vscode/spdlog native-watchdog kerberos @parcel/watcher @vscode/deviceid --build-from-source
mkdir -p node_modules/@vscode/ripgrep/bin
ln -sf "$(command -v rg)" node_modules/@vscode/ripgrep/bin/rg
touch "$dir/.ready-$version"
echo "code-server $version ready in $dir"
