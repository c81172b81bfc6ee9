// Mounts the runtime makes and checks on the host: containers' root file systems, the shim's read-only copy.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import { KERNEL_OVERLAY, mountOverlayData, type OverlayDriver } from './overlay';

/** Unmounts `target` if something is mounted there (lazily: a busy mount must not block removal). */
export async function unmount(target: string): Promise<void> {
  if (!isMountPoint(target)) return;
  await new Promise<void>((resolve) => execFile('umount', ['-l', target], () => resolve()));
}

export function isMountPoint(target: string): boolean {
  try {
    const mountinfo = fs.readFileSync('/proc/self/mountinfo', 'utf8');
    return mountinfo.split('\n').some((l) => l.split(' ')[4] === target);
  } catch {
    return false;
  }
}

/** Whether the topmost mount at `target` is read-only (mountinfo's per-mount options, field 6). */
export function readOnlyMount(target: string): boolean {
  try {
    const lines = fs
      .readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .filter((l) => l.split(' ')[4] === target);
    return lines.length > 0 && lines[lines.length - 1].split(' ')[5].split(',').includes('ro');
  } catch {
    return false;
  }
}

/** Mounts an overlay (for export/archive of a stopped container, a build's workspace) with the engine's driver. */
export function mountOverlay(
  lowerDirs: string[],
  upperDir: string,
  workDir: string,
  target: string,
  driver: OverlayDriver = KERNEL_OVERLAY,
): Promise<void> {
  return mountOverlayData(driver, `lowerdir=${lowerDirs.join(':')},upperdir=${upperDir},workdir=${workDir}`, target);
}
