#!/usr/bin/env bash
# A reference dockerd (Debian's docker.io) for side-by-side comparison only — never a Berth dependency.
# It runs as dockerd runs on a user's machine — its own docker0 bridge, NAT, the userland proxy — but inside a
# network namespace of its own (berth-ref), so its iptables rules, FORWARD policy and bridge cannot touch berthd's
# or the host's; a veth pair (10.231.255.1 host side, .2 inside) is its route out. Its unix socket, data root and
# exec root are its own too. Images come from a registry on the host's loopback through `forward`, which makes the
# same 127.0.0.1:PORT answer inside the namespace.
# Like berthd, it keeps containers running across its own restarts (live-restore; stop-daemon stops dockerd alone).
# Usage: scripts/ref-dockerd.sh start|stop|stop-daemon|socket|forward 127.0.0.1:PORT|unforward 127.0.0.1:PORT
set -euo pipefail
RUN=/run/berth-ref
SOCK=$RUN/docker.sock
NS=berth-ref

netns_up() {
  ip netns list | awk '{print $1}' | grep -qx $NS && return 0
  ip netns add $NS
  ip -n $NS link set lo up
  ip link add berth-ref0 type veth peer name eth0 netns $NS
  ip addr add 10.231.255.1/30 dev berth-ref0
  ip link set berth-ref0 up
  ip -n $NS addr add 10.231.255.2/30 dev eth0
  ip -n $NS link set eth0 up
  ip -n $NS route add default via 10.231.255.1
}

# Runs "$@" in the namespace with a sysfs of its own (dockerd reads its bridge there) and the host's cgroups.
in_netns() {
  nsenter --net=/run/netns/$NS unshare -m --propagation private bash -c '
    d=$(mktemp -d /tmp/berth-ref-cg.XXXXXX)
    mount --rbind /sys/fs/cgroup "$d"
    mount -t sysfs sysfs /sys
    mount --move "$d" /sys/fs/cgroup
    rmdir "$d"
    exec "$@"' bash "$@"
}

case "${1:-start}" in
  socket) echo "unix://$SOCK" ;;
  start)
    command -v dockerd >/dev/null || { echo "dockerd not installed (apt-get install docker.io): no reference" >&2; exit 3; }
    if curl -sf --unix-socket "$SOCK" http://d/_ping >/dev/null 2>&1; then echo "unix://$SOCK"; exit 0; fi
    mkdir -p $RUN /var/lib/berth-ref-docker
    [[ -n "${REF_DOCKERD_CONFIG:-}" ]] || { REF_DOCKERD_CONFIG=$RUN/daemon.json; echo '{"live-restore": true}' > "$REF_DOCKERD_CONFIG"; }
    netns_up
    in_netns setsid dockerd -H "unix://$SOCK" --data-root /var/lib/berth-ref-docker --exec-root $RUN/exec \
      --pidfile $RUN/dockerd.pid --containerd-namespace berthref --config-file "$REF_DOCKERD_CONFIG" \
      >$RUN/dockerd.log 2>&1 < /dev/null &
    for _ in $(seq 1200); do
      curl -sf --unix-socket "$SOCK" http://d/_ping >/dev/null 2>&1 && { echo "unix://$SOCK"; exit 0; }
      sleep 0.025
    done
    echo "reference dockerd did not start; see $RUN/dockerd.log" >&2; exit 1 ;;
  forward)
    # 127.0.0.1:PORT inside the namespace → a unix socket → 127.0.0.1:PORT on the host: two small relays, one on
    # each side (a process listens in one network namespace only).
    addr=${2:?usage: ref-dockerd.sh forward 127.0.0.1:PORT}
    port=${addr##*:}
    relay=$RUN/fwd-$port.sock
    [[ -S $relay ]] && exit 0
    netns_up
    js='const net=require("net");const[,from,to]=process.argv;const at=(s)=>s.startsWith("/")?{path:s}:{host:s.split(":")[0],port:+s.split(":")[1]};
net.createServer((c)=>{const u=net.connect(at(to));c.pipe(u).pipe(c);c.on("error",()=>u.destroy());u.on("error",()=>c.destroy())}).listen(at(from),()=>process.stdout.write("ok\n"))'
    rm -f "$relay"
    # Both relays name the socket on their command lines: that is how unforward and stop find them.
    setsid node -e "$js" "$relay" "127.0.0.1:$port" > $RUN/fwd-$port.host.log 2>&1 < /dev/null &
    in_netns setsid node -e "$js" "127.0.0.1:$port" "$relay" > $RUN/fwd-$port.ns.log 2>&1 < /dev/null &
    for _ in $(seq 50); do
      [[ -S $relay ]] && grep -q ok $RUN/fwd-$port.ns.log 2>/dev/null && exit 0
      sleep 0.1
    done
    echo "the forward of $addr into $NS did not come up" >&2; exit 1 ;;
  unforward)
    port=${2##*:}
    pkill -f -- "$RUN/fwd-$port.sock" || true
    rm -f "$RUN/fwd-$port".* ;;
  stop-daemon)
    if [[ -f $RUN/dockerd.pid ]]; then
      pid=$(cat $RUN/dockerd.pid)
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi ;;
  stop)
    pkill -f -- "$RUN/fwd-" || true
    rm -f "$RUN"/fwd-*
    if [[ -f $RUN/dockerd.pid ]]; then
      pid=$(cat $RUN/dockerd.pid)
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    ip netns del $NS 2>/dev/null || true ;;
esac
