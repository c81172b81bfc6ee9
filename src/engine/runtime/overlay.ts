// How this engine mounts overlays (containers' roots, build workspaces, copy-up views, archive access): the kernel's
// overlayfs, or fuse-overlayfs where the kernel refuses overlay in the engine's user namespace (before 5.11, or a
// distribution that turned it off) — as rootless Docker and Podman fall back. Chosen once at start by a real mount
// (overlayDriver below) and then an input of the runtime, like the platform.
import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { system } from '../errdefs';

export interface OverlayDriver {
  /** As `docker info` names the storage driver. */
  name: 'overlay2' | 'fuse-overlayfs';
  /** fuse-overlayfs's path (fuse-overlayfs only). */
  fuse?: string;
  /** Why the kernel's overlay was not used (fuse-overlayfs only): the kernel's refusal. */
  refusal?: string;
}

export const KERNEL_OVERLAY: OverlayDriver = { name: 'overlay2' };

/** The command that mounts an overlay with mount(8)'s `-o` data at `target`. */
export function overlayCommand(d: OverlayDriver, data: string, target: string): [string, string[]] {
  if (d.name === 'fuse-overlayfs') return [d.fuse!, ['-o', data, target]];
  return ['mount', ['-t', 'overlay', 'overlay', '-o', data, target]];
}

export function mountOverlayData(d: OverlayDriver, data: string, target: string): Promise<void> {
  const [cmd, args] = overlayCommand(d, data, target);
  return new Promise((resolve, reject) =>
    execFile(cmd, args, (err, _o, stderr) => {
      if (err) reject(system(`error mounting root filesystem: ${String(stderr).trim() || err.message}`));
      else resolve();
    }),
  );
}

/** fuse-overlayfs on PATH (or BERTH_FUSE_OVERLAYFS), undefined when missing. */
export function findFuseOverlayfs(env = process.env): string | undefined {
  const named = env.BERTH_FUSE_OVERLAYFS;
  if (named) return fs.existsSync(named) ? named : undefined;
  for (const dir of (env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(':')) {
    const p = path.join(dir || '.', 'fuse-overlayfs');
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return undefined;
}

export const FUSE_OVERLAYFS_HINT =
  'install fuse-overlayfs (Debian/Ubuntu: apt-get install fuse-overlayfs; RHEL/Fedora: dnf install fuse-overlayfs)';

/**
 * Mounts a small overlay in `scratchDir` (on the data root's file system, where containers' upper dirs live) to see
 * whether the kernel allows it here. `extraOptions` go into the probe's mount data: tests make the kernel refuse
 * with an option it does not know (BERTH_OVERLAY_PROBE_OPTIONS), which is a real refusal taking the real path.
 */
export function probeKernelOverlay(scratchDir: string, extraOptions = ''): string | undefined {
  const dir = fs.mkdtempSync(path.join(scratchDir, 'overlay-probe-'));
  try {
    for (const d of ['lower', 'upper', 'work', 'merged']) fs.mkdirSync(path.join(dir, d));
    const data = [
      `lowerdir=${path.join(dir, 'lower')},upperdir=${path.join(dir, 'upper')},workdir=${path.join(dir, 'work')}`,
      ...(extraOptions ? [extraOptions] : []),
    ].join(',');
    try {
      execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', data, path.join(dir, 'merged')], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
    } catch (err: any) {
      // mount(8)'s first line names the refusal (the second only points at dmesg).
      return (
        String(err.stderr || err.message)
          .trim()
          .split('\n')[0] || 'mount failed'
      );
    }
    execFileSync('umount', [path.join(dir, 'merged')]);
    return undefined;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The overlay driver of an engine: the kernel's where it mounts, else fuse-overlayfs; neither is a start error that
 * names what to install. A root engine never needs the probe (the kernel's overlay is its storage driver).
 */
export function overlayDriver(opts: {
  rootless: boolean;
  scratchDir: string;
  probeOptions?: string;
  fuse?: string;
}): OverlayDriver {
  if (!opts.rootless) return KERNEL_OVERLAY;
  const refusal = probeKernelOverlay(opts.scratchDir, opts.probeOptions);
  if (!refusal) return KERNEL_OVERLAY;
  if (!opts.fuse)
    throw system(
      `the kernel refuses overlay in this user namespace (${refusal}) and fuse-overlayfs is missing: ${FUSE_OVERLAYFS_HINT}`,
    );
  return { name: 'fuse-overlayfs', fuse: opts.fuse, refusal };
}
