// Docker's mount requests → one list of mount points, without side effects (the one file-system question, "does
// this bind source exist?", is a parameter): Binds (`-v`), Mounts (`--mount`), VolumesFrom, and Config.Volumes (the
// image's VOLUMEs and `-v /path`), with Docker's precedence, validation and messages. setup.ts carries them out.
// Docker's PascalCase shapes live in api/routes/volumes.ts.
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  isWindowsPath,
  splitWindowsBind,
  toWslPath,
  UnreachablePathError,
  type WindowsDrives,
} from '../../common/host/windows-paths';
import { type EngineError, invalidParameter, isEngineError } from '../errdefs';

export type MountType = 'bind' | 'volume' | 'tmpfs';

/** Docker's mount.Mount (the `--mount` / HostConfig.Mounts request), in the engine's camelCase. */
export interface MountSpec {
  type: string;
  source?: string;
  target?: string;
  readOnly?: boolean;
  consistency?: string;
  bindOptions?: { propagation?: string; createMountpoint?: boolean; nonRecursive?: boolean };
  volumeOptions?: {
    noCopy?: boolean;
    labels?: Record<string, string>;
    driverConfig?: { name?: string; options?: Record<string, string> };
    subpath?: string;
  };
  tmpfsOptions?: { sizeBytes?: number; mode?: number; options?: string[][] };
}

/** One mount of a container: what inspect shows as `Mounts` and what the OCI spec gets. Persisted with it. */
export interface MountPoint {
  type: MountType;
  /** bind: the host path; volume: the volume's `_data` once created; tmpfs: ''. */
  source: string;
  destination: string;
  rw: boolean;
  /** The user's mode string (`ro,rshared`, `z`…), as inspect shows it. */
  mode: string;
  /** bind: rprivate unless asked; '' for volumes and tmpfs. */
  propagation: string;
  /** volume: its name ('' until an anonymous one is created). */
  name?: string;
  driver?: string;
  /** Copy the image's content at the destination into the volume when the volume is empty. */
  copyData: boolean;
  /** `-v /host:/p` creates a missing host directory; `--mount type=bind` requires it to exist. */
  createSource?: boolean;
  /** For a named volume that does not exist yet: how `--mount volume-opt=…` wants it created. */
  volumeOptions?: { labels?: Record<string, string>; driverOpts?: Record<string, string> };
  /** tmpfs mount data, e.g. `size=2m,mode=1770`. */
  tmpfsData?: string;
}

export interface MountRequest {
  /** HostConfig.Binds: `name:/p[:mode]`, `/host:/p[:mode]`, `/p`. */
  binds?: string[];
  /** HostConfig.Mounts. */
  mounts?: MountSpec[];
  /** HostConfig.Tmpfs: destinations here get no anonymous volume for an image VOLUME. */
  tmpfs?: Record<string, string>;
  /** Config.Volumes keys and the image's VOLUMEs: anonymous volumes unless something else is mounted there. */
  volumes?: string[];
  /** HostConfig.VolumeDriver. */
  volumeDriver?: string;
  /** HostConfig.VolumesFrom, each with the source container's mount points (the caller looks it up). */
  volumesFrom?: { spec: string; mountPoints: MountPoint[] }[];
}

const RW_MODES = new Set(['rw', 'ro', 'ro-non-recursive', 'ro-force-recursive', 'rro']);
const LABEL_MODES = new Set(['z', 'Z']);
const PROPAGATION = new Set(['private', 'rprivate', 'slave', 'rslave', 'shared', 'rshared']);
const COPY_MODES = new Set(['nocopy']);
const CONSISTENCY = new Set(['consistent', 'cached', 'delegated']);

export function validMountMode(mode: string): boolean {
  if (mode === '') return true;
  const counts = [0, 0, 0, 0, 0];
  for (const o of mode.split(',')) {
    if (RW_MODES.has(o)) counts[0]++;
    else if (LABEL_MODES.has(o)) counts[1]++;
    else if (PROPAGATION.has(o)) counts[2]++;
    else if (COPY_MODES.has(o)) counts[3]++;
    else if (CONSISTENCY.has(o)) counts[4]++;
    else return false;
  }
  return counts.every((c) => c <= 1);
}

const readWrite = (mode: string) => validMountMode(mode) && !mode.split(',').includes('ro');
const propagationOf = (mode: string) => mode.split(',').find((o) => PROPAGATION.has(o));

const invalidSpec = (raw: string) => `invalid volume specification: '${raw}'`;

function mountConfigError(type: string, message: string): EngineError {
  return invalidParameter(`invalid mount config for type "${type}": ${message}`);
}

function checkAbsolute(p: string): string | undefined {
  return p.startsWith('/') ? undefined : `invalid mount path: '${p}' mount path must be absolute`;
}

/** Docker's ConvertTmpfsOptions: size and mode as mount data, plus the few options allowed. */
export function tmpfsData(opts: MountSpec['tmpfsOptions'], readOnly: boolean): string {
  const out: string[] = [];
  if (readOnly) out.push('ro');
  if (opts?.mode) out.push(`mode=${opts.mode.toString(8)}`);
  if (opts?.sizeBytes) {
    let size = opts.sizeBytes;
    let suffix = '';
    for (const [s, d] of [
      ['g', 1 << 30],
      ['m', 1 << 20],
      ['k', 1 << 10],
    ] as const) {
      if (size % d === 0) {
        size /= d;
        suffix = s;
        break;
      }
    }
    out.push(`size=${size}${suffix}`);
  }
  for (const o of opts?.options ?? []) {
    if (o.length < 1 || o.length > 2) throw new Error('invalid option array length');
    if (o[0] !== 'exec' && o[0] !== 'noexec') throw new Error(`invalid option: ${o[0]}`);
    out.push(o.length === 1 ? o[0] : `${o[0]}=${o[1]}`);
  }
  return out.join(',');
}

/** Validates a HostConfig.Mounts entry (Docker's validateMountConfig); throws Docker's messages. */
function validateMountSpec(m: MountSpec, checkSource: boolean, exists: (p: string) => boolean): void {
  const fail = (msg: string) => {
    throw mountConfigError(m.type, msg);
  };
  if (!m.target) fail('field Target must not be empty');
  if (path.posix.normalize(m.target!) === '/') fail("invalid specification: destination can't be '/'");
  const abs = checkAbsolute(m.target!);
  if (abs) fail(abs);
  switch (m.type) {
    case 'bind': {
      if (!m.source) fail('field Source must not be empty');
      const p = m.bindOptions?.propagation;
      if (p && !PROPAGATION.has(p)) fail(`invalid propagation mode: ${p}`);
      if (m.volumeOptions) fail('field VolumeOptions must not be specified');
      const srcAbs = checkAbsolute(m.source!);
      if (srcAbs) fail(srcAbs);
      if (checkSource && !exists(m.source!) && !m.bindOptions?.createMountpoint)
        fail(`bind source path does not exist: ${m.source}`);
      break;
    }
    case 'volume':
      if (m.bindOptions) fail('field BindOptions must not be specified');
      if (m.volumeOptions?.subpath) fail('volume subpaths are not supported');
      if (m.readOnly && !m.source) fail('must not set ReadOnly mode when using anonymous volumes');
      break;
    case 'tmpfs':
      if (m.bindOptions) fail('field BindOptions must not be specified');
      if (m.source) fail('field Source must not be specified');
      try {
        tmpfsData(m.tmpfsOptions, !!m.readOnly);
      } catch (err: any) {
        fail(err.message);
      }
      break;
    default:
      fail('mount type unknown');
  }
}

function fromSpec(m: MountSpec, exists: (p: string) => boolean, checkSource: boolean): MountPoint {
  validateMountSpec(m, checkSource, exists);
  const destination = path.posix.normalize(m.target!).replace(/(.)\/$/, '$1');
  const mp: MountPoint = {
    type: m.type as MountType,
    source: '',
    destination,
    rw: !m.readOnly,
    mode: '',
    propagation: '',
    copyData: false,
  };
  if (m.type === 'volume') {
    mp.name = m.source ?? '';
    mp.driver = m.volumeOptions?.driverConfig?.name || 'local';
    mp.copyData = !m.volumeOptions?.noCopy;
    const driverOpts = m.volumeOptions?.driverConfig?.options;
    const labels = m.volumeOptions?.labels;
    if ((driverOpts && Object.keys(driverOpts).length) || (labels && Object.keys(labels).length))
      mp.volumeOptions = { driverOpts, labels };
  } else if (m.type === 'bind') {
    mp.source = path.posix.normalize(m.source!).replace(/(.)\/$/, '$1');
    mp.propagation = m.bindOptions?.propagation || 'rprivate';
    mp.createSource = !!m.bindOptions?.createMountpoint;
  } else {
    mp.tmpfsData = tmpfsData(m.tmpfsOptions, !!m.readOnly);
  }
  return mp;
}

/**
 * Docker's ParseMountRaw for one `-v` / HostConfig.Binds entry. With `drives` (the engine in Berth's WSL VM) a host
 * part written the Windows way (`C:\src:/src`) is the WSL path of that folder, as Docker Desktop takes it.
 */
export function parseBind(raw: string, volumeDriver = '', drives?: WindowsDrives): MountPoint {
  const windows = drives && splitWindowsBind(raw);
  if (windows) {
    let source: string;
    try {
      source = toWslPath(windows.source, drives);
    } catch (err) {
      if (err instanceof UnreachablePathError) throw invalidParameter(`${invalidSpec(raw)}: ${err.message}`);
      throw err;
    }
    try {
      return parseBind(`${source}${windows.rest}`, volumeDriver);
    } catch (err) {
      // Docker's messages quote the spec as the client wrote it.
      if (isEngineError(err)) throw invalidParameter(err.message.replaceAll(`${source}${windows.rest}`, raw));
      throw err;
    }
  }
  const arr = raw.split(':');
  if (arr.length > 3) arr.splice(3, arr.length - 3, arr.slice(3).join(':'));
  if (arr[0] === '') throw invalidParameter(invalidSpec(raw));
  const spec: MountSpec = { type: 'volume' };
  let mode = '';
  if (arr.length === 1) {
    spec.target = arr[0];
  } else if (arr.length === 2) {
    // `/foo:rw` is a destination and a mode, which a volume cannot have.
    if (validMountMode(arr[1])) throw invalidParameter(invalidSpec(raw));
    spec.source = arr[0];
    spec.target = arr[1];
  } else if (arr.length === 3) {
    [spec.source, spec.target, mode] = arr;
  } else {
    throw invalidParameter(invalidSpec(raw));
  }
  if (!validMountMode(mode)) throw invalidParameter(`invalid mode: ${mode}`);
  spec.type = spec.source?.startsWith('/') ? 'bind' : 'volume';
  spec.readOnly = !readWrite(mode);
  if (volumeDriver && spec.type === 'volume') spec.volumeOptions = { driverConfig: { name: volumeDriver } };
  if (mode.split(',').includes('nocopy')) spec.volumeOptions = { ...spec.volumeOptions, noCopy: true };
  const prop = propagationOf(mode);
  if (prop) spec.bindOptions = { propagation: prop };
  let mp: MountPoint;
  try {
    mp = fromSpec(spec, () => true, false);
  } catch (err) {
    if (isEngineError(err)) throw invalidParameter(`${invalidSpec(raw)}: ${err.message}`);
    throw err;
  }
  mp.mode = mode;
  if (mp.type === 'bind') mp.createSource = true; // -v creates a missing host directory, for compatibility
  return mp;
}

/** A `--mount type=bind` source written the Windows way, as the WSL engine sees it. */
function windowsSource(m: MountSpec, drives: WindowsDrives): MountSpec {
  if (m.type !== 'bind' || !m.source || !isWindowsPath(m.source)) return m;
  try {
    return { ...m, source: toWslPath(m.source, drives) };
  } catch (err) {
    if (err instanceof UnreachablePathError) throw mountConfigError('bind', err.message);
    throw err;
  }
}

/** `container[:mode]` of --volumes-from. */
export function parseVolumesFrom(spec: string): { id: string; mode: string } {
  if (!spec) throw invalidParameter('volumes-from specification cannot be an empty string');
  const i = spec.indexOf(':');
  const id = i < 0 ? spec : spec.slice(0, i);
  const mode = i < 0 ? '' : spec.slice(i + 1);
  if (!mode) return { id, mode: 'rw' };
  if (!validMountMode(mode) || propagationOf(mode) || mode.split(',').includes('nocopy'))
    throw invalidParameter(`invalid mode: ${mode}`);
  return { id, mode };
}

/**
 * Every mount a new container gets, in Docker's precedence: volumes-from first, then Binds and Mounts (which may
 * replace them, never each other), then anonymous volumes for Config.Volumes/image VOLUMEs not already covered.
 * `exists` answers whether a `--mount type=bind` source exists; `drives`, in Berth's WSL VM, where the Windows drives
 * are (bind sources written the Windows way are translated; HostConfig keeps them as sent, as Docker Desktop shows).
 */
export function planMounts(
  req: MountRequest,
  exists: (p: string) => boolean = fs.existsSync,
  drives?: WindowsDrives,
): MountPoint[] {
  const points = new Map<string, MountPoint>();
  for (const vf of req.volumesFrom ?? []) {
    const { mode } = parseVolumesFrom(vf.spec);
    for (const m of vf.mountPoints) {
      points.set(m.destination, {
        type: m.type,
        source: m.source,
        destination: m.destination,
        rw: m.rw && readWrite(mode),
        mode: '',
        propagation: m.propagation,
        name: m.name,
        driver: m.driver,
        copyData: false,
        tmpfsData: m.tmpfsData,
      });
    }
  }
  const taken = new Set<string>();
  const add = (mp: MountPoint) => {
    if (taken.has(mp.destination)) throw invalidParameter(`Duplicate mount point: ${mp.destination}`);
    taken.add(mp.destination);
    points.set(mp.destination, mp);
  };
  for (const raw of req.binds ?? []) {
    const mp = parseBind(raw, req.volumeDriver, drives);
    if (mp.type === 'volume' && mp.mode === '' && mp.driver === 'local') mp.mode = 'z';
    add(mp);
  }
  for (const spec of req.mounts ?? []) {
    const mp = fromSpec(drives ? windowsSource(spec, drives) : spec, exists, true);
    if (mp.type === 'volume' && mp.driver === 'local') mp.mode = 'z';
    add(mp);
  }
  for (const v of req.volumes ?? []) {
    const destination = path.posix.normalize(v).replace(/(.)\/$/, '$1');
    const abs = checkAbsolute(destination);
    if (abs) throw invalidParameter(abs);
    if (destination === '/') throw invalidParameter("invalid specification: destination can't be '/'");
    if (points.has(destination) || (req.tmpfs && destination in req.tmpfs)) continue;
    points.set(destination, {
      type: 'volume',
      source: '',
      destination,
      rw: true,
      mode: '',
      propagation: '',
      name: '',
      driver: req.volumeDriver || 'local',
      copyData: true,
    });
  }
  return [...points.values()];
}
