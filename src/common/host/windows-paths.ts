// Windows paths as the WSL guest sees them, for the engine in Berth's WSL distribution (bind sources, volume devices)
// and the wsl driver (its seed folder). A docker CLI on Windows sends host paths as Windows writes them
// (`-v C:\Users\me\p:/src`, `--mount source=C:/Users/me/p`); WSL shows the drives under its automount root (/mnt by
// default: C:\Users\me → /mnt/c/Users/me) and a distribution's own files as \\wsl$\<distro>\… (or \\wsl.localhost\…).
import * as path from 'node:path';

export interface WindowsDrives {
  /** Where WSL mounts the drives (wsl.conf [automount] root; /mnt unless changed). */
  root: string;
  /** The distribution the engine runs in: \\wsl$\<it>\p is its own /p. */
  distro?: string;
}

export const DEFAULT_DRIVES: WindowsDrives = { root: '/mnt' };

const DRIVE = /^([A-Za-z]):(?:[\\/]|$)/;
// \\server\share…, \\?\C:\…, \\?\UNC\server\share…; with forward slashes only for WSL's own hosts (//x is a Linux path).
const UNC = /^(?:\\\\|\/\/(?=wsl(?:\$|\.localhost)[\\/]))/i;

/** Whether a path is written the Windows way (a drive letter or a UNC name) and needs translating. */
export function isWindowsPath(p: string): boolean {
  return DRIVE.test(p) || UNC.test(p);
}

/** Thrown for a Windows path the guest cannot reach (a network share, another WSL distribution). */
export class UnreachablePathError extends Error {}

/**
 * A Windows path as the WSL guest sees it: `C:\Users\Me\src\` → `/mnt/c/Users/Me/src` (the drive letter lower-case as
 * WSL mounts it, the rest as written: DrvFs finds it whatever its case; `.` and `..` resolved, never above the drive),
 * `\\wsl$\<distro>\home\x` → `/home/x` for the engine's own distribution. A path not written the Windows way is
 * returned as it is.
 */
export function toWslPath(p: string, drives: WindowsDrives = DEFAULT_DRIVES): string {
  let rest = p;
  const long = /^[\\/]{2}[?.][\\/]/.exec(rest);
  if (long) {
    // \\?\C:\… and \\.\C:\… (Win32 long names) are the drive path; \\?\UNC\server\share is \\server\share.
    rest = rest.slice(4);
    if (/^UNC[\\/]/i.test(rest)) rest = `\\\\${rest.slice(4)}`;
  }
  const drive = DRIVE.exec(rest);
  if (drive) return join(path.posix.join(drives.root, drive[1].toLowerCase()), rest.slice(2));
  if (!UNC.test(rest)) return p;
  const [host = '', share = '', ...tail] = rest.slice(2).split(/[\\/]+/);
  if (/^wsl(\$|\.localhost)$/i.test(host)) {
    if (drives.distro && share.toLowerCase() === drives.distro.toLowerCase()) return join('/', tail.join('/'));
    throw new UnreachablePathError(
      `${p} is in the WSL distribution "${share}", which Berth's VM${drives.distro ? ` (${drives.distro})` : ''} cannot see: use a folder on a Windows drive (C:\\…) instead`,
    );
  }
  throw new UnreachablePathError(
    `${p} is on a network share, which Berth's VM cannot see: copy it to a folder on a local drive (C:\\…)`,
  );
}

/**
 * A `-v` spec whose host part is written the Windows way, split into that path and the rest (`:/dst[:mode]`, '' when
 * there is none): a Windows path has no colon but its drive's.
 */
export function splitWindowsBind(spec: string): { source: string; rest: string } | undefined {
  if (!isWindowsPath(spec)) return undefined;
  const m = /^((?:[\\/]{2}[?.][\\/])?(?:[A-Za-z]:)?[^:]*)(.*)$/s.exec(spec)!;
  return { source: m[1], rest: m[2] };
}

/** base + a Windows-separated remainder, normalised and kept inside base. */
function join(base: string, rest: string): string {
  const inside = path.posix.normalize(`/${rest.replace(/\\/g, '/')}`).replace(/\/+$/, '');
  return inside ? path.posix.join(base, inside) : base;
}
