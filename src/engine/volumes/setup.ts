// Carrying out a container's mount points (planned by mounts.ts): `createMountPoints` makes the volumes (acquiring
// them for the container) and missing `-v` host directories at create, `setupMounts` mounts them at start (copy-up
// of the image's content into new empty volumes included) and returns OCI spec mounts, `teardownMounts` lets go at
// exit, `releaseMounts` at removal (`rm -v` takes anonymous volumes along).
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { invalidParameter, system } from '../errdefs';
import { log } from '../log';
import { KERNEL_OVERLAY, type OverlayDriver, overlayCommand } from '../runtime';
import type { MountPoint } from './mounts';

const run = promisify(execFile);

/** What carrying out mount points asks of the volume service (./index.ts hands itself in). */
export interface VolumeOps {
  get(name: string): { anonymous: boolean };
  create(opts: {
    name?: string;
    labels?: Record<string, string>;
    driverOpts?: Record<string, string>;
    reference?: string;
  }): Promise<{ name: string; mountpoint: string }>;
  remove(name: string): Promise<void>;
  mount(name: string, containerId: string): Promise<string>;
  unmount(name: string, containerId: string): Promise<void>;
  release(name: string, containerId: string): Promise<void>;
}

/** Whether a mount point's volume is anonymous (what `rm -v` and `--rm` remove). */
export function isAnonymous(volumes: VolumeOps, mp: MountPoint): boolean {
  if (mp.type !== 'volume' || !mp.name) return false;
  try {
    return volumes.get(mp.name).anonymous;
  } catch {
    return false;
  }
}

/**
 * Creates the volumes (named ones if missing, anonymous ones always) and records the container as their user,
 * and creates missing host directories of `-v` binds. On failure, undoes what it did and throws.
 */
export async function createMountPoints(
  volumes: VolumeOps,
  containerId: string,
  plan: MountPoint[],
): Promise<MountPoint[]> {
  const out: MountPoint[] = [];
  const made: string[] = [];
  try {
    for (const p of plan) {
      const mp = { ...p };
      if (mp.type === 'volume') {
        if (mp.driver && mp.driver !== 'local')
          throw invalidParameter(`error looking up volume plugin ${mp.driver}: plugin "${mp.driver}" not found`);
        let existed = false;
        if (mp.name) {
          try {
            volumes.get(mp.name);
            existed = true;
          } catch {
            /* created below */
          }
        }
        const v = await volumes.create({
          name: mp.name,
          labels: mp.volumeOptions?.labels,
          driverOpts: mp.volumeOptions?.driverOpts,
          reference: containerId,
        });
        if (!existed) made.push(v.name);
        mp.name = v.name;
        mp.source = v.mountpoint;
        mp.driver = 'local';
        delete mp.volumeOptions;
      } else if (mp.type === 'bind' && mp.createSource) {
        try {
          fs.mkdirSync(mp.source, { recursive: true, mode: 0o755 });
        } catch (err: any) {
          if (err.code !== 'EEXIST' && err.code !== 'ENOTDIR')
            throw system(`error while creating mount source path '${mp.source}': mkdir ${mp.source}: ${err.message}`);
        }
      }
      out.push(mp);
    }
  } catch (err) {
    await releaseMounts(volumes, containerId, out, false);
    for (const name of made) await volumes.remove(name).catch(() => {});
    throw err;
  }
  return out;
}

export interface OciMount {
  destination: string;
  type: string;
  source: string;
  options: string[];
}

/** Parents before children, so a mount inside another mount's destination is not hidden by it. */
function depth(p: string): number {
  return p.split('/').filter(Boolean).length;
}

/** Where copy-up reads the image's content: a mounted root and how to let it go. */
export interface RootView {
  root: string;
  release(): Promise<void>;
}

/**
 * A read-only overlay of a container's layers (its own upper dir first) on a temporary directory: the
 * container's root filesystem as it will see it, for copy-up before its process starts.
 */
export async function overlayView(layerDirs: string[], overlay = KERNEL_OVERLAY): Promise<RootView> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-copyup-'));
  // Overlayfs wants two lower dirs when there is no upper one.
  const lowers =
    layerDirs.length >= 2 ? layerDirs : [...layerDirs, fs.mkdtempSync(path.join(os.tmpdir(), 'berth-empty-'))];
  try {
    await run(...overlayCommand(overlay, `ro,lowerdir=${lowers.join(':')}`, root));
  } catch (err: any) {
    fs.rmSync(root, { recursive: true, force: true });
    throw system(`mounting the image for copy-up: ${String(err.stderr || err.message).trim()}`);
  }
  return {
    root,
    async release() {
      await run('umount', [root]).catch(() => run('umount', ['-l', root]));
      fs.rmSync(root, { recursive: true, force: true });
      if (lowers !== layerDirs) fs.rmSync(lowers[lowers.length - 1], { recursive: true, force: true });
    },
  };
}

/**
 * Whether `p` may resolve to something in the merged view of `layerDirs` (topmost first): it or one of its parents
 * exists in some layer (a symlink among the parents can lead anywhere). False means copy-up has nothing to copy,
 * and no overlay needs mounting to find that out.
 */
export function mayExistInLayers(layerDirs: string[], p: string): boolean {
  const parts = p.split('/').filter(Boolean);
  for (const layer of layerDirs) {
    for (let i = 1; i <= parts.length; i++) {
      let st: fs.Stats;
      try {
        st = fs.lstatSync(path.join(layer, ...parts.slice(0, i)));
      } catch {
        break;
      }
      if (i === parts.length || st.isSymbolicLink()) return true;
    }
  }
  return false;
}

/**
 * At container start: mounts the volumes (option volumes get mounted on `_data` now), copies the image's content
 * into empty volumes that want it, and returns the OCI spec mounts. `rootfs` is the container's root as a path
 * (already mounted) or its layers (its own upper dir first), overlaid read-only only if some volume needs copy-up.
 */
export async function setupMounts(
  volumes: VolumeOps,
  containerId: string,
  mounts: MountPoint[],
  rootfs?: string | { layers: string[] },
  overlay?: OverlayDriver,
): Promise<OciMount[]> {
  const out: OciMount[] = [];
  let view: RootView | undefined;
  try {
    for (const m of mounts) {
      if (m.type === 'tmpfs') {
        out.push({
          destination: m.destination,
          type: 'tmpfs',
          source: 'tmpfs',
          options: ['noexec', 'nosuid', 'nodev', 'rprivate', ...(m.tmpfsData ? m.tmpfsData.split(',') : [])],
        });
        continue;
      }
      let source = m.source;
      if (m.type === 'volume') {
        source = await volumes.mount(m.name!, containerId);
        const wantsCopy =
          m.copyData &&
          rootfs !== undefined &&
          fs.readdirSync(source).length === 0 &&
          (typeof rootfs === 'string' || mayExistInLayers(rootfs.layers, m.destination));
        if (wantsCopy) {
          view ??=
            typeof rootfs === 'string'
              ? { root: rootfs, release: async () => {} }
              : await overlayView(rootfs!.layers, overlay);
          const from = resolveInRoot(view.root, m.destination);
          if (from) await copyUp(from, source);
        }
      }
      const options = ['rbind', m.rw ? 'rw' : 'ro', m.propagation || 'rprivate'];
      out.push({ destination: m.destination, type: 'bind', source, options });
    }
  } finally {
    await view?.release();
  }
  return out.sort((a, b) => depth(a.destination) - depth(b.destination));
}

/** At container stop: lets go of the volumes' mounts (option volumes are unmounted when nobody uses them). */
export async function teardownMounts(volumes: VolumeOps, containerId: string, mounts: MountPoint[]): Promise<void> {
  for (const m of mounts) if (m.type === 'volume' && m.name) await volumes.unmount(m.name, containerId).catch(() => {});
}

/**
 * At container removal: forgets the container's use of its volumes; with `removeAnonymous` (`rm -v`, `--rm`)
 * removes its anonymous volumes too, unless another container still uses them. Named volumes always stay.
 */
export async function releaseMounts(
  volumes: VolumeOps,
  containerId: string,
  mounts: MountPoint[],
  removeAnonymous: boolean,
): Promise<void> {
  for (const m of mounts) {
    if (m.type !== 'volume' || !m.name) continue;
    const anonymous = isAnonymous(volumes, m);
    await volumes.release(m.name, containerId);
    if (removeAnonymous && anonymous) {
      await volumes
        .remove(m.name)
        .catch((err) => log.debug('anonymous volume kept', { volume: m.name, error: err.message }));
    }
  }
}

/**
 * The host path of `p` as seen inside `root`, resolving symlinks within `root` (an absolute link target means
 * root-relative, `..` never climbs out), as Docker's FollowSymlinkInScope. Undefined if it does not exist.
 */
export function resolveInRoot(root: string, p: string): string | undefined {
  const parts = p.split('/').filter(Boolean);
  let resolved: string[] = [];
  let hops = 0;
  while (parts.length) {
    const part = parts.shift()!;
    if (part === '.') continue;
    if (part === '..') {
      resolved.pop();
      continue;
    }
    const host = path.join(root, ...resolved, part);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(host);
    } catch {
      return undefined;
    }
    if (st.isSymbolicLink()) {
      if (++hops > 255) return undefined;
      const target = fs.readlinkSync(host);
      if (target.startsWith('/')) resolved = [];
      parts.unshift(...target.split('/').filter(Boolean));
      continue;
    }
    resolved.push(part);
  }
  return path.join(root, ...resolved);
}

/**
 * Docker's copy-up: when a volume is empty, it gets the image's content at its destination, with owners, modes,
 * timestamps, symlinks, hard links and xattrs (GNU cp -a). The volume's root takes the source directory's owner and
 * mode. Returns whether anything was copied.
 */
export async function copyUp(sourceDir: string, volumeDir: string): Promise<boolean> {
  let st: fs.Stats;
  try {
    st = fs.statSync(sourceDir);
  } catch {
    return false;
  }
  if (!st.isDirectory()) return false;
  if (fs.readdirSync(volumeDir).length > 0) return false;
  try {
    await run('cp', ['-a', '--', `${sourceDir}/.`, `${volumeDir}/`]);
  } catch (err: any) {
    throw system(`copying image content into volume ${volumeDir}: ${String(err.stderr || err.message).trim()}`);
  }
  fs.chownSync(volumeDir, st.uid, st.gid);
  fs.chmodSync(volumeDir, st.mode & 0o7777);
  return true;
}
