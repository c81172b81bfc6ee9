// A minimal image layer for tests that do not need a registry: Debian's static busybox with its applet links,
// /etc/passwd (root, nobody, app:1000) and /etc/group, in a plain directory usable as an overlay lower dir.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export function makeBusyboxLayer(dir: string): string {
  fs.mkdirSync(path.join(dir, 'bin'), { recursive: true });
  for (const d of ['etc', 'tmp', 'proc', 'sys', 'dev', 'root', 'home/app'])
    fs.mkdirSync(path.join(dir, d), { recursive: true });
  fs.copyFileSync('/bin/busybox', path.join(dir, 'bin/busybox'));
  fs.chmodSync(path.join(dir, 'bin/busybox'), 0o755);
  const applets = spawnSync('/bin/busybox', ['--list'], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
  for (const a of applets) if (a !== 'busybox') fs.symlinkSync('busybox', path.join(dir, 'bin', a));
  fs.writeFileSync(
    path.join(dir, 'etc/passwd'),
    'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\napp:x:1000:1000:app:/home/app:/bin/sh\n',
  );
  fs.writeFileSync(path.join(dir, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\napp:x:1000:\nstaff:x:50:app\n');
  fs.chmodSync(path.join(dir, 'tmp'), 0o1777);
  return dir;
}
