// The rootless engine's first steps inside its namespaces, before the daemon starts.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { log } from '../log';
import { type RootlessInfo, SLIRP_DNS } from './info';

// /run as the host has it, except what an engine writes there as root (pinned network namespaces, the xtables
// lock, the host-wide network state, the rootful engine's exec root): a tmpfs of this mount namespace with every
// other entry bind-mounted back from the host, so $XDG_RUNTIME_DIR (the API socket) stays the user's real one.
// rootlesskit calls this copy-up.
const COPY_UP_RUN = `
set -e
keep=$(mktemp -d /tmp/berth-run.XXXXXX)
mount --rbind /run "$keep"
mount -t tmpfs -o mode=0755 tmpfs /run
for entry in "$keep"/* "$keep"/.[!.]*; do
  [ -e "$entry" ] || [ -L "$entry" ] || continue
  name=\${entry##*/}
  case "$name" in netns|xtables.lock|berth|berth-network) continue ;; esac
  if [ -L "$entry" ]; then cp -P "$entry" "/run/$name"
  elif [ -d "$entry" ]; then mkdir -p "/run/$name"; mount --rbind "$entry" "/run/$name"
  else touch "/run/$name"; mount --bind "$entry" "/run/$name"; fi
done
umount -l "$keep"
rmdir "$keep"
`;

/**
 * The host's resolv.conf with slirp4netns's DNS forwarder as the nameserver: the host's own may be a loopback
 * resolver (systemd-resolved's 127.0.0.53) this namespace cannot reach; 10.0.2.3 asks it on the namespace's behalf.
 */
export function namespaceResolvConf(host: string, dns: string): string {
  const kept = host.split('\n').filter((l) => /^\s*(search|domain|options)\b/.test(l));
  return [`nameserver ${dns}`, ...kept].join('\n') + '\n';
}

/** coverUnifiedCgroup: the host's hybrid unified mount holds a controller, which crun refuses (host's crunRefusal). */
export function prepareRootlessChild(info: RootlessInfo, opts: { coverUnifiedCgroup: boolean }): void {
  execFileSync('/bin/sh', ['-c', COPY_UP_RUN], { stdio: ['ignore', 'inherit', 'inherit'] });
  // crun refuses a hybrid hierarchy whose unified mount holds a controller; rootless on a v1
  // hierarchy the engine makes no cgroup at all, so an empty tmpfs over that mount in this namespace (a user
  // namespace may mount over what it inherited, not unmount it) lets crun run here as on stock hybrid hosts.
  if (opts.coverUnifiedCgroup)
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,mode=0555', 'tmpfs', '/sys/fs/cgroup/unified'], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
    } catch (err: any) {
      // Then runc it is (the daemon logs why).
      log.warn('cannot cover the unified cgroup mount for crun', { error: err.message });
    }
  let host = '';
  try {
    host = fs.readFileSync('/etc/resolv.conf', 'utf8');
  } catch {
    /* none: only the forwarder */
  }
  const resolv = path.join(info.stateDir, 'resolv.conf');
  fs.writeFileSync(resolv, namespaceResolvConf(host, SLIRP_DNS));
  execFileSync('mount', ['--bind', resolv, '/etc/resolv.conf']);
  // Containers must not open connections to the user's host loopback through the gateway (slirp4netns maps
  // 10.0.2.2 to it so the engine can pull from a registry on localhost). Replies to forwarded ports come from
  // there too, so only new connections are dropped; the engine's own traffic does not pass PREROUTING.
  execFileSync('iptables', [
    ...['-w', '5', '-t', 'mangle', '-A', 'PREROUTING', '-d', `${info.hostGateway}/32`],
    ...['-m', 'conntrack', '--ctstate', 'NEW', '-j', 'DROP'],
  ]);
}

/** Calls `orphaned` once when the parent outside is gone (this process is re-parented): node has no PDEATHSIG. */
export function watchParent(orphaned: () => void, everyMs = 1000): void {
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    orphaned();
  }, everyMs);
  timer.unref();
}
