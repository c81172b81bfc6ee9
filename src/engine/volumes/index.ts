// Volumes: Docker's `local` driver. A volume is `<data-root>/volumes/<name>/` holding `_data/` (the Mountpoint
// containers see), `meta.json` (labels, driver options, creation time) and `refs.json` (which containers use it,
// which of them have it mounted). Everything is written atomically, so a kill -9 at any point leaves either the
// old or the new state; nothing here ever deletes volume data except an explicit remove or prune.
//
// Volumes with driver options (type/o/device: tmpfs, bind-backed, any mount(8) type) are mounted on `_data` on
// demand, when the first container mounts them, and unmounted when the last one lets go, as Docker does.
import type { OverlayDriver } from '../runtime';
import { execFile } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { fuzzyMatch, matchLabel } from '../../common/docker';
import { isWindowsPath, toWslPath, type WindowsDrives } from '../../common/host/windows-paths';
import { conflict, invalidParameter, notFound, system } from '../errdefs';
import type { EventBus } from '../events';
import { log } from '../log';
import { readJson, writeJsonAtomic } from '../util/fsx';
import type { MountPoint } from './mounts';
import { createMountPoints, type OciMount, releaseMounts, setupMounts, teardownMounts } from './setup';

export { parseBind, parseVolumesFrom, planMounts, tmpfsData, validMountMode } from './mounts';
export type { MountPoint, MountRequest, MountSpec, MountType } from './mounts';
export type { OciMount } from './setup';

const run = promisify(execFile);

/** Docker's label on volumes created without a name; prune (API ≥ 1.42) only removes these unless `all`. */
export const ANONYMOUS_LABEL = 'com.docker.volume.anonymous';
export const DATA_DIR = '_data';
const META = 'meta.json';
const REFS = 'refs.json';
const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
const DRIVER_OPTS = ['type', 'o', 'device'];

export interface VolumeInfo {
  name: string;
  driver: 'local';
  /** RFC 3339, seconds, UTC. */
  createdAt: string;
  labels: Record<string, string>;
  /** The local driver's options (type/o/device); empty for a plain directory volume. */
  options: Record<string, string>;
  mountpoint: string;
  anonymous: boolean;
  /** IDs of the containers that reference the volume (created with it, running or not). */
  usedBy: string[];
}

export interface CreateVolumeOptions {
  /** Omitted or empty: a generated 64-hex name and the anonymous label. */
  name?: string;
  driver?: string;
  labels?: Record<string, string>;
  driverOpts?: Record<string, string>;
  /** A container to record as a user in the same step, so the new volume cannot be pruned in between. */
  reference?: string;
}

export interface VolumeListFilter {
  dangling?: boolean;
  /** Docker's filters.Match: each value a regular expression (substring), any one matches. */
  name?: string[];
  driver?: string[];
  /** "key" or "key=value", all must match. */
  label?: string[];
  /** "key" or "key=value", none may match. */
  labelNot?: string[];
}

export interface PruneOptions {
  /** Also named volumes (Docker's `all=true`); otherwise only anonymous ones. */
  all?: boolean;
  label?: string[];
  labelNot?: string[];
}

export interface VolumeService {
  /** Finishes what a crashed run left (half-created or half-removed volumes, stale option mounts). */
  init(): Promise<void>;
  create(opts?: CreateVolumeOptions): Promise<VolumeInfo>;
  list(filter?: VolumeListFilter): VolumeInfo[];
  get(name: string): VolumeInfo;
  /** Apparent size in bytes of everything in `_data` (hard links once), as Docker's UsageData.Size. */
  size(name: string): Promise<number>;
  /** 409 while a container uses it; `force` only makes a missing volume not an error. */
  remove(name: string, opts?: { force?: boolean }): Promise<void>;
  prune(opts?: PruneOptions): Promise<{ deleted: string[]; spaceReclaimed: number }>;
  /** Records that a container uses the volume (idempotent). */
  acquire(name: string, containerId: string): void;
  /** Forgets a container's use (idempotent); unmounts the volume if that container still had it mounted. */
  release(name: string, containerId: string): Promise<void>;
  usedBy(name: string): string[];
  /** Makes `_data` ready for a container to bind-mount (mounting option volumes on first use); returns its path. */
  mount(name: string, containerId: string): Promise<string>;
  unmount(name: string, containerId: string): Promise<void>;
  /** Drops every reference held by a container not in `live` (the containers subsystem calls it at start). */
  reconcile(live: Set<string>): Promise<void>;

  // A container's mount points (planned by planMounts), carried out (./setup.ts):
  /** At create: makes its volumes (acquired for it) and missing `-v` host directories; undoes itself on failure. */
  createMountPoints(containerId: string, plan: MountPoint[]): Promise<MountPoint[]>;
  /** At start: mounts them (copying the image's content into new empty volumes) and returns OCI spec mounts. */
  setupMounts(containerId: string, mounts: MountPoint[], rootfs?: string | { layers: string[] }): Promise<OciMount[]>;
  /** At exit: lets go of the volumes' mounts. */
  teardownMounts(containerId: string, mounts: MountPoint[]): Promise<void>;
  /** At removal: forgets the container's use of them; `removeAnonymous` (`rm -v`, `--rm`) removes anonymous ones. */
  releaseMounts(containerId: string, mounts: MountPoint[], removeAnonymous: boolean): Promise<void>;
}

export interface VolumeServiceOptions {
  dataRoot: string;
  events?: EventBus;
  /** How copy-up views of an image are mounted (the engine's overlay driver). */
  overlay?: OverlayDriver;
  /** In Berth's WSL VM: a bind-backed volume's device written the Windows way (C:\data) is that drive's folder. */
  windowsDrives?: WindowsDrives;
}

interface Meta {
  createdAt: string;
  labels: Record<string, string>;
  options: Record<string, string>;
}

interface Refs {
  references: string[];
  mounts: string[];
}

export function validateVolumeName(name: string): void {
  if (name.length === 1)
    throw invalidParameter(
      `create ${name}: volume name is too short, names should be at least two alphanumeric characters`,
    );
  if (!NAME_RE.test(name)) {
    throw invalidParameter(
      `create ${name}: "${name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`,
    );
  }
}

function validateDriverOpts(name: string, opts: Record<string, string>): void {
  if (Object.keys(opts).length === 0) return;
  for (const key of Object.keys(opts)) {
    if (!DRIVER_OPTS.includes(key)) throw invalidParameter(`create ${name}: invalid option: "${key}"`);
  }
  if (!opts.device) throw invalidParameter(`create ${name}: missing required option: "device"`);
  if (!opts.type) throw invalidParameter(`create ${name}: missing required option: "type"`);
}

function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Mount points at or under `dir`, deepest first, from the host's mount table. */
export function mountsUnder(dir: string): string[] {
  const out: string[] = [];
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const field = line.split(' ')[4];
    if (!field) continue;
    const p = field.replace(/\\(\d{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
    if (p === dir || p.startsWith(dir + '/')) out.push(p);
  }
  return out.sort((a, b) => b.length - a.length);
}

/** Sum of apparent sizes of all non-directory entries, each inode once (Docker's directory.Size). */
export async function directorySize(dir: string): Promise<number> {
  const seen = new Set<string>();
  let total = 0;
  const walk = async (d: string): Promise<void> => {
    let entries: fs.Dirent[];
    try {
      entries = await fs.promises.readdir(d, { withFileTypes: true });
    } catch (err: any) {
      if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return;
      throw err;
    }
    for (const e of entries) {
      const p = path.join(d, e.name);
      let st: fs.BigIntStats;
      try {
        st = await fs.promises.lstat(p, { bigint: true });
      } catch {
        continue; // removed while we walked
      }
      if (st.isDirectory()) {
        await walk(p);
        continue;
      }
      const key = `${st.dev}:${st.ino}`;
      if (seen.has(key)) continue;
      seen.add(key);
      total += Number(st.size);
    }
  };
  await walk(dir);
  return total;
}

/** Serializes async work per key (one volume's create/remove/mount never interleave). */
function keyedLock() {
  const tails = new Map<string, Promise<unknown>>();
  return async <T>(key: string, fn: () => Promise<T>): Promise<T> => {
    const prev = tails.get(key) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => {});
    tails.set(key, tail);
    try {
      return await next;
    } finally {
      if (tails.get(key) === tail) tails.delete(key);
    }
  };
}

export function createVolumeService(opts: VolumeServiceOptions): VolumeService {
  const root = path.join(opts.dataRoot, 'volumes');
  const volumes = new Map<string, { meta: Meta; refs: Refs }>();
  const locked = keyedLock();

  const dirOf = (name: string) => path.join(root, name);
  const dataOf = (name: string) => path.join(root, name, DATA_DIR);

  const info = (name: string): VolumeInfo => {
    const v = volumes.get(name)!;
    return {
      name,
      driver: 'local',
      createdAt: v.meta.createdAt,
      labels: { ...v.meta.labels },
      options: { ...v.meta.options },
      mountpoint: dataOf(name),
      anonymous: ANONYMOUS_LABEL in v.meta.labels,
      usedBy: [...v.refs.references],
    };
  };

  const must = (name: string, verb = 'get') => {
    const v = volumes.get(name);
    if (!v) throw notFound(`${verb} ${name}: no such volume`);
    return v;
  };

  const saveRefs = (name: string) => {
    const v = volumes.get(name);
    if (v) writeJsonAtomic(path.join(dirOf(name), REFS), v.refs);
  };

  const isMounted = (name: string) => mountsUnder(dataOf(name)).includes(dataOf(name));

  // A bind-backed volume's device as the client wrote it (inspect shows that); where it is for mount(8). Throws for
  // a Windows path the WSL guest cannot reach.
  const deviceOf = (o: Record<string, string>) =>
    opts.windowsDrives && /(^|,)r?bind(,|$)/.test(o.o ?? '') && isWindowsPath(o.device)
      ? toWslPath(o.device, opts.windowsDrives)
      : o.device;

  const mountOptionVolume = async (name: string, o: Record<string, string>) => {
    const args = ['-t', o.type];
    if (o.o) args.push('-o', o.o);
    args.push(deviceOf(o), dataOf(name));
    try {
      await run('mount', args);
    } catch (err: any) {
      const why = String(err.stderr || err.message).trim();
      throw system(
        `error while mounting volume '${dataOf(name)}': failed to mount local volume: mount ${o.device}:${dataOf(name)}, type ${o.type}${o.o ? `, data: ${o.o}` : ''}: ${why}`,
      );
    }
  };

  const unmountData = async (name: string) => {
    for (const m of mountsUnder(dataOf(name))) {
      try {
        await run('umount', [m]);
      } catch (err: any) {
        log.warn('could not unmount volume; detaching it lazily', {
          volume: name,
          mount: m,
          error: String(err.stderr || err.message).trim(),
        });
        await run('umount', ['-l', m]).catch(() => {});
      }
    }
  };

  /** Takes the volume out of the namespace first (an atomic rename), then deletes its files. */
  const destroy = async (name: string) => {
    await unmountData(name);
    if (mountsUnder(dirOf(name)).length)
      throw system(`remove ${name}: volume is still mounted; refusing to delete what is mounted there`);
    const graveyard = path.join(root, `.removing-${crypto.randomBytes(8).toString('hex')}`);
    fs.renameSync(dirOf(name), graveyard);
    volumes.delete(name);
    await fs.promises.rm(graveyard, { recursive: true, force: true });
    opts.events?.publish('volume', 'destroy', name, { driver: 'local' });
  };

  const matches = (v: VolumeInfo, f: VolumeListFilter) =>
    (f.dangling === undefined || f.dangling === (v.usedBy.length === 0)) &&
    (!f.name || f.name.some((n) => fuzzyMatch(n, v.name))) &&
    (!f.driver || f.driver.includes(v.driver)) &&
    (!f.label || f.label.every((l) => matchLabel(l, v.labels))) &&
    (!f.labelNot || !f.labelNot.some((l) => matchLabel(l, v.labels)));

  const service: VolumeService = {
    async init() {
      fs.mkdirSync(root, { recursive: true, mode: 0o701 });
      for (const entry of fs.readdirSync(root, { withFileTypes: true })) {
        if (!entry.isDirectory()) continue;
        const dir = path.join(root, entry.name);
        if (entry.name.startsWith('.creating-') || entry.name.startsWith('.removing-')) {
          // A create that never got renamed into place holds no user data; a remove was asked for.
          if (mountsUnder(dir).length === 0) fs.rmSync(dir, { recursive: true, force: true });
          continue;
        }
        if (!NAME_RE.test(entry.name)) continue;
        // A volume directory without metadata (copied in by hand, or an older layout) is still a volume.
        const meta = readJson<Meta>(path.join(dir, META)) ?? {
          createdAt: rfc3339(fs.statSync(dir).mtime),
          labels: {},
          options: {},
        };
        const refs = readJson<Refs>(path.join(dir, REFS)) ?? { references: [], mounts: [] };
        fs.mkdirSync(path.join(dir, DATA_DIR), { recursive: true, mode: 0o755 });
        volumes.set(entry.name, { meta, refs });
      }
      // An option volume mounted by a run that died, with no container left using it, is unmounted now.
      for (const [name, v] of volumes) {
        if (Object.keys(v.meta.options).length && v.refs.mounts.length === 0 && isMounted(name))
          await unmountData(name);
      }
    },

    async create(o = {}) {
      const driver = o.driver || 'local';
      const anonymous = !o.name;
      const name = o.name || crypto.randomBytes(32).toString('hex');
      if (driver !== 'local')
        throw notFound(`create ${name}: error looking up volume plugin ${driver}: plugin "${driver}" not found`);
      validateVolumeName(name);
      const driverOpts = { ...(o.driverOpts ?? {}) };
      validateDriverOpts(name, driverOpts);
      try {
        deviceOf(driverOpts);
      } catch (err: any) {
        throw invalidParameter(`create ${name}: ${err.message}`);
      }
      return locked(name, async () => {
        if (!volumes.has(name)) {
          // Built under a temporary name and renamed into place: a crash leaves no half volume.
          const tmp = path.join(root, `.creating-${crypto.randomBytes(8).toString('hex')}`);
          fs.mkdirSync(path.join(tmp, DATA_DIR), { recursive: true, mode: 0o755 });
          fs.chmodSync(path.join(tmp, DATA_DIR), 0o755);
          const labels = { ...(o.labels ?? {}) };
          if (anonymous) labels[ANONYMOUS_LABEL] = '';
          const meta: Meta = { createdAt: rfc3339(new Date()), labels, options: driverOpts };
          const refs: Refs = { references: o.reference ? [o.reference] : [], mounts: [] };
          writeJsonAtomic(path.join(tmp, META), meta);
          // No refs.json means no users: one fsync fewer on the common path.
          if (refs.references.length) writeJsonAtomic(path.join(tmp, REFS), refs);
          try {
            fs.renameSync(tmp, dirOf(name));
          } catch (err: any) {
            fs.rmSync(tmp, { recursive: true, force: true });
            throw system(`create ${name}: ${err.message}`, err);
          }
          volumes.set(name, { meta, refs });
          opts.events?.publish('volume', 'create', name, { driver: 'local' });
        } else if (o.reference) {
          service.acquire(name, o.reference);
        }
        return info(name);
      });
    },

    list(filter = {}) {
      return [...volumes.keys()]
        .sort()
        .map(info)
        .filter((v) => matches(v, filter));
    },

    get(name) {
      must(name);
      return info(name);
    },

    async size(name) {
      must(name);
      return directorySize(dataOf(name));
    },

    async remove(name, o = {}) {
      if (!volumes.has(name) && o.force) return;
      must(name);
      await locked(name, async () => {
        const v = volumes.get(name);
        if (!v) {
          if (o.force) return;
          throw notFound(`get ${name}: no such volume`);
        }
        if (v.refs.references.length)
          throw conflict(`remove ${name}: volume is in use - [${v.refs.references.join(', ')}]`);
        await destroy(name);
      });
    },

    async prune(o = {}) {
      const candidates = service
        .list({ dangling: true, label: o.label, labelNot: o.labelNot })
        // Volumes with mount options hold no local data (Docker leaves them out too).
        .filter((v) => Object.keys(v.options).length === 0 && (o.all || v.anonymous));
      const deleted: string[] = [];
      let spaceReclaimed = 0;
      for (const v of candidates) {
        await locked(v.name, async () => {
          const cur = volumes.get(v.name);
          if (!cur || cur.refs.references.length) return; // taken or removed meanwhile
          const size = await directorySize(dataOf(v.name)).catch(() => 0);
          try {
            await destroy(v.name);
          } catch (err: any) {
            log.warn('could not prune volume', { volume: v.name, error: err.message });
            return;
          }
          deleted.push(v.name);
          spaceReclaimed += size;
        });
      }
      opts.events?.publish('volume', 'prune', '', { reclaimed: String(spaceReclaimed) });
      return { deleted, spaceReclaimed };
    },

    acquire(name, containerId) {
      const v = must(name);
      if (v.refs.references.includes(containerId)) return;
      v.refs.references.push(containerId);
      saveRefs(name);
    },

    async release(name, containerId) {
      await locked(name, async () => {
        const v = volumes.get(name);
        if (!v) return;
        const had = v.refs.references.includes(containerId) || v.refs.mounts.includes(containerId);
        if (!had) return;
        v.refs.references = v.refs.references.filter((r) => r !== containerId);
        const wasMounted = v.refs.mounts.includes(containerId);
        v.refs.mounts = v.refs.mounts.filter((r) => r !== containerId);
        saveRefs(name);
        if (wasMounted && v.refs.mounts.length === 0 && Object.keys(v.meta.options).length) await unmountData(name);
      });
    },

    usedBy(name) {
      return [...must(name).refs.references];
    },

    async mount(name, containerId) {
      return locked(name, async () => {
        const v = must(name);
        const o = v.meta.options;
        if (Object.keys(o).length && !isMounted(name)) await mountOptionVolume(name, o);
        // Who has it mounted only matters on disk for option volumes (to unmount what a crashed run left).
        let changed = false;
        if (!v.refs.mounts.includes(containerId)) {
          v.refs.mounts.push(containerId);
          changed = Object.keys(o).length > 0;
        }
        if (!v.refs.references.includes(containerId)) {
          v.refs.references.push(containerId);
          changed = true;
        }
        if (changed) saveRefs(name);
        opts.events?.publish('volume', 'mount', name, { driver: 'local', container: containerId });
        return dataOf(name);
      });
    },

    async unmount(name, containerId) {
      await locked(name, async () => {
        const v = volumes.get(name);
        if (!v || !v.refs.mounts.includes(containerId)) return;
        v.refs.mounts = v.refs.mounts.filter((r) => r !== containerId);
        if (Object.keys(v.meta.options).length) {
          saveRefs(name);
          if (v.refs.mounts.length === 0) await unmountData(name);
        }
        opts.events?.publish('volume', 'unmount', name, { driver: 'local', container: containerId });
      });
    },

    async reconcile(live) {
      for (const [name, v] of [...volumes]) {
        for (const id of new Set([...v.refs.references, ...v.refs.mounts])) {
          if (!live.has(id)) await service.release(name, id);
        }
      }
    },

    createMountPoints: (containerId, plan) => createMountPoints(service, containerId, plan),
    setupMounts: (containerId, mounts, rootfs) => setupMounts(service, containerId, mounts, rootfs, opts.overlay),
    teardownMounts: (containerId, mounts) => teardownMounts(service, containerId, mounts),
    releaseMounts: (containerId, mounts, removeAnonymous) =>
      releaseMounts(service, containerId, mounts, removeAnonymous),
  };
  return service;
}
