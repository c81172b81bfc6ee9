#!/usr/bin/env bash
# A reference dockerd (Debian's docker.io) for side-by-side comparison only — never a Berth dependency.
# It gets its own socket, data root and bridge so it cannot collide with a system docker or with berthd.
# Usage: scripts/ref-dockerd.sh start|stop|socket
set -euo pipefail
RUN=/run/berth-ref
SOCK=$RUN/docker.sock
case "${1:-start}" in
  socket) echo "unix://$SOCK" ;;
  start)
    command -v dockerd >/dev/null || { echo "dockerd not installed (apt-get install docker.io): no reference" >&2; exit 3; }
    if curl -sf --unix-socket "$SOCK" http://d/_ping >/dev/null 2>&1; then echo "unix://$SOCK"; exit 0; fi
    mkdir -p $RUN /var/lib/berth-ref-docker
    [[ -n "${REF_DOCKERD_CONFIG:-}" ]] || { REF_DOCKERD_CONFIG=$RUN/daemon.json; echo '{}' > "$REF_DOCKERD_CONFIG"; }
    # registry-mirrors lets `docker run busybox` come from the same local registry berthd uses.
    setsid dockerd -H "unix://$SOCK" --data-root /var/lib/berth-ref-docker --exec-root $RUN/exec \
      --pidfile $RUN/dockerd.pid --bridge none --iptables=false --ip-masq=false \
      --containerd-namespace berthref --config-file "$REF_DOCKERD_CONFIG" \
      >$RUN/dockerd.log 2>&1 < /dev/null &
    for _ in $(seq 100); do
      curl -sf --unix-socket "$SOCK" http://d/_ping >/dev/null 2>&1 && { echo "unix://$SOCK"; exit 0; }
      sleep 0.2
    done
    echo "reference dockerd did not start; see $RUN/dockerd.log" >&2; exit 1 ;;
  stop)
    [[ -f $RUN/dockerd.pid ]] && kill "$(cat $RUN/dockerd.pid)" 2>/dev/null || true ;;
esac
