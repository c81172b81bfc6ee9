// The namespaces a container shares instead of owning (--pid, --ipc, --uts), with Docker's modes and words:
// checked at create, resolved at start to what the spec generator takes (the host's, or another running
// container's by its /proc/<pid>/ns path).
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { conflict, invalidParameter } from '../errdefs';
import { isMountPoint, parseDeviceCgroupRule, type SharedNamespace, type SpecInput, unmount } from '../runtime';
import type { ContainerRecord, HostConfig } from './state';
import type { ContainerStore } from './store';

const joined = (mode: string) => (mode.startsWith('container:') ? mode.slice('container:'.length) : undefined);

/** dockerd's checks of the modes, isolation and device rules of a create request; resolves IpcMode's default. */
export function checkNamespaceModes(hc: HostConfig, hostname: string | undefined): void {
  const pid = hc.pidMode ?? '';
  if (!(pid === '' || pid === 'host' || joined(pid))) throw invalidParameter(`invalid PID mode: ${pid}`);
  const ipc = hc.ipcMode ?? '';
  if (!(['', 'none', 'private', 'shareable', 'host'].includes(ipc) || joined(ipc)))
    throw invalidParameter(`Invalid IPC mode: ${ipc}`);
  // dockerd's default-ipc-mode: each container its own IPC namespace, not joinable by others.
  hc.ipcMode = ipc || 'private';
  const uts = hc.utsMode ?? '';
  if (!(uts === '' || uts === 'host')) throw invalidParameter(`invalid UTS mode: ${uts}`);
  if (uts === 'host' && hostname) throw invalidParameter('conflicting options: hostname and the UTS mode');
  const isolation = hc.isolation ?? '';
  if (!(isolation === '' || isolation === 'default'))
    throw invalidParameter(`Invalid isolation: "${isolation}" - linux only supports 'default'`);
  for (const rule of hc.deviceCgroupRules ?? []) parseDeviceCgroupRule(rule);
}

export interface ResolvedNamespaces {
  pid?: SharedNamespace;
  ipc?: SpecInput['ipc'];
  utsHost: boolean;
}

/** The namespaces to join at start; a container to share with must be running (dockerd's words otherwise). */
export function resolveNamespaces(store: ContainerStore, c: ContainerRecord): ResolvedNamespaces {
  const running = (ref: string, what: string) => {
    let donor: ContainerRecord;
    try {
      donor = store.lookup(ref);
    } catch (err: any) {
      throw Object.assign(err, { message: `${what}: ${err.message}` });
    }
    if (donor.state.status !== 'running' || !donor.state.pid)
      throw conflict(`${what}: Container ${donor.id} is not running`);
    return donor;
  };
  const out: ResolvedNamespaces = { utsHost: c.hostConfig.utsMode === 'host' };
  const pid = c.hostConfig.pidMode ?? '';
  if (pid === 'host') out.pid = { mode: 'host' };
  else if (joined(pid)) {
    const ref = joined(pid)!;
    const donor = running(ref, `cannot join PID of a non running container: ${ref}`);
    out.pid = { mode: 'path', path: `/proc/${donor.state.pid}/ns/pid` };
  }
  const ipc = c.hostConfig.ipcMode ?? 'private';
  if (ipc === 'host') out.ipc = { mode: 'host' };
  else if (ipc === 'none') out.ipc = { mode: 'none' };
  else if (joined(ipc)) {
    const ref = joined(ipc)!;
    const donor = running(ref, `can't join IPC of container ${ref}`);
    const donorMode = donor.hostConfig.ipcMode ?? 'private';
    if (donorMode === 'host') out.ipc = { mode: 'host' };
    else if (donorMode !== 'shareable')
      throw invalidParameter(
        `can't join IPC of container ${ref}: non-shareable IPC (hint: use IpcMode:shareable for the donor container)`,
      );
    // Its namespace, and its /dev/shm (the tmpfs the engine mounted for it on the host: see shareableShm).
    else out.ipc = { mode: 'path', path: `/proc/${donor.state.pid}/ns/ipc`, shm: shmDir(store, donor) };
  } else if (ipc === 'shareable') out.ipc = { mode: 'private', shm: shmDir(store, c) };
  return out;
}

const run = promisify(execFile);
const shmDir = (store: ContainerStore, c: ContainerRecord) => path.join(store.dirOf(c.id), 'shm');

/**
 * A shareable container's /dev/shm lives on the host, as dockerd's does: a mount in the container's own mount
 * namespace cannot be bound into another's, this one can (ipc container:<it>). Mounted at start, gone at exit.
 */
export async function mountShareableShm(store: ContainerStore, c: ContainerRecord): Promise<void> {
  if (c.hostConfig.ipcMode !== 'shareable') return;
  const dir = shmDir(store, c);
  if (isMountPoint(dir)) return;
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  const size = c.hostConfig.shmSize > 0 ? c.hostConfig.shmSize : 64 * 1024 * 1024;
  await run('mount', ['-t', 'tmpfs', '-o', `nosuid,nodev,noexec,mode=1777,size=${size}`, 'shm', dir]);
}

/** Undoes mountShareableShm (idempotent). */
export const unmountShareableShm = (store: ContainerStore, c: ContainerRecord) => unmount(shmDir(store, c));
