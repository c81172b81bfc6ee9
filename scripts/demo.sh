#!/usr/bin/env bash
# README's main job, offline: berthd up with a local registry mirror seeded with the fixture images (this machine
# has no Docker Hub), then `docker run hello-world` through it — the seeds' first experience.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --demo
npm run build --silent

DEMO=/var/lib/berth-demo
SOCK=/run/berth/berth.sock
PORT=${BERTH_DEMO_REGISTRY_PORT:-5151}
mkdir -p "$DEMO"

# 1. The "Docker Hub" mirror: Debian's docker-registry on loopback, seeded with busybox and hello-world.
if ! curl -sf "http://127.0.0.1:$PORT/v2/" >/dev/null; then
  node -r esbuild-register test/fixtures/cli.ts serve-mirror --port "$PORT" --dir "$DEMO/registry"
fi

# 2. berthd, configured like a Docker daemon with registry-mirrors.
cat > "$DEMO/daemon.json" <<JSON
{ "registry-mirrors": ["http://127.0.0.1:$PORT"] }
JSON
if ! curl -sf --unix-socket "$SOCK" http://d/_ping >/dev/null 2>&1; then
  setsid engine-bin/berthd --config-file "$DEMO/daemon.json" --pidfile /run/berth/berthd.pid >>"$DEMO/berthd.log" 2>&1 </dev/null &
  for _ in $(seq 100); do curl -sf --unix-socket "$SOCK" http://d/_ping >/dev/null 2>&1 && break; sleep 0.1; done
fi
echo "berthd is up on unix://$SOCK (log: $DEMO/berthd.log)"

# 3. The seeds' first run, with whichever client this machine has.
export DOCKER_HOST=unix://$SOCK
if command -v docker >/dev/null; then
  docker version --format 'Server: {{.Server.Platform.Name}} {{.Server.Version}} (API {{.Server.APIVersion}})'
  docker rmi -f hello-world >/dev/null 2>&1 || true
  docker run hello-world
else
  engine-bin/berth rmi -f hello-world >/dev/null 2>&1 || true
  engine-bin/berth run hello-world
fi
