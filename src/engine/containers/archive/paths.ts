// Docker's path rules and Go's FileMode for `docker cp`, and the stat of a path (HEAD /containers/{id}/archive).
import type * as fs from 'node:fs';
import * as path from 'node:path';
import { closeStack, rootDir, walk, lstatAt, resolveForRead, translate, type ContainerFs } from './walk';

export interface PathStat {
  name: string;
  size: number;
  /** Go's os.FileMode bits (what Docker's X-Docker-Container-Path-Stat carries). */
  mode: number;
  mtime: string;
  linkTarget: string;
}

const GO_MODE = {
  dir: 2 ** 31,
  symlink: 2 ** 27,
  device: 2 ** 26,
  namedPipe: 2 ** 25,
  socket: 2 ** 24,
  setuid: 2 ** 23,
  setgid: 2 ** 22,
  charDevice: 2 ** 21,
  sticky: 2 ** 20,
};

/** A unix st_mode as Go's os.FileMode (os.Lstat's fillFileStatFromSys). */
export function goFileMode(mode: number): number {
  let m = mode & 0o777;
  switch (mode & 0o170000) {
    case 0o060000:
      m += GO_MODE.device;
      break;
    case 0o020000:
      m += GO_MODE.device + GO_MODE.charDevice;
      break;
    case 0o040000:
      m += GO_MODE.dir;
      break;
    case 0o010000:
      m += GO_MODE.namedPipe;
      break;
    case 0o120000:
      m += GO_MODE.symlink;
      break;
    case 0o140000:
      m += GO_MODE.socket;
      break;
    default:
      break;
  }
  if (mode & 0o2000) m += GO_MODE.setgid;
  if (mode & 0o4000) m += GO_MODE.setuid;
  if (mode & 0o1000) m += GO_MODE.sticky;
  return m;
}

/** Go's RFC3339Nano (what a time.Time marshals to), in UTC. */
export function rfc3339Nano(st: { mtimeMs: number }): string {
  const iso = new Date(Math.floor(st.mtimeMs)).toISOString();
  return iso.replace(/\.?0+Z$/, 'Z').replace(/\.Z$/, 'Z');
}

const specifiesCurrentDir = (p: string) => p === '.' || p.endsWith('/.');

/** Docker's archive.PreserveTrailingDotOrSeparator(filepath.Join("/", p), p): the absolute path the API means. */
export function absContainerPath(p: string): string {
  let clean = path.posix.normalize(`/${p}`);
  if (clean.length > 1) clean = clean.replace(/\/+$/, '');
  if (!specifiesCurrentDir(clean) && specifiesCurrentDir(p)) clean += clean.endsWith('/') ? '.' : '/.';
  if (!clean.endsWith('/') && p.endsWith('/')) clean += '/';
  return clean;
}

/** filepath.Base: the name the archive's root entry gets ("/" for the root, "." for "dir/."). */
export function baseName(abs: string): string {
  const trimmed = abs.replace(/\/+$/, '');
  if (trimmed === '') return '/';
  return trimmed.slice(trimmed.lastIndexOf('/') + 1);
}

export function statOf(cfs: ContainerFs, abs: string, st: fs.Stats): PathStat {
  let linkTarget = '';
  if (st.isSymbolicLink()) {
    const stack = [rootDir(cfs)];
    try {
      linkTarget = walk(cfs, stack, abs.split('/'), true).path;
    } catch {
      linkTarget = '';
    } finally {
      closeStack(stack);
    }
  }
  return { name: baseName(abs), size: st.size, mode: goFileMode(st.mode), mtime: rfc3339Nano(st), linkTarget };
}

/** HEAD /containers/{id}/archive. */
export function statPath(cfs: ContainerFs, p: string): PathStat {
  const abs = absContainerPath(p);
  const stack = [rootDir(cfs)];
  try {
    const loc = resolveForRead(cfs, abs, stack);
    return statOf(cfs, abs, lstatAt(loc));
  } catch (err) {
    throw translate(cfs, p, err);
  } finally {
    closeStack(stack);
  }
}
