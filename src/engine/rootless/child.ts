// The rootless engine's first steps inside its namespaces, before the daemon starts.
import { execFileSync } from 'node:child_process';

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

export function prepareRootlessChild(): void {
  execFileSync('/bin/sh', ['-c', COPY_UP_RUN], { stdio: ['ignore', 'inherit', 'inherit'] });
}
