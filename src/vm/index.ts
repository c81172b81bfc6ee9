// Berth's Linux VM, as the extension and the `berth` CLI use it (never berthd): start, stop, status, remove and the
// docker-machine-style environment of a named VM. A running VM is a detached supervisor process (supervisor.ts)
// with its hypervisor; everything about it lives in its own 0700 directory under the Berth home.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { ENGINE_ENV } from '../common/host/engine-process';
import { makeVmTls, writeVmTls } from './certs';
import { DRIVERS, type DriverName, type VmConfig } from './driver';
import { driverFor, platformDrivers } from './drivers';
import { type GuestArch, hostGuestArch, imageDir, imageHint, loadImage } from './image';
import { berthHome, DEFAULT_VM, listVms, VmPaths } from './paths';
import { alive, DEFAULT_CONFIG, readJson, type BootStage, type VmState, writeJsonAtomic } from './state';

export type { DriverName, VmConfig } from './driver';
export type { BootStage, VmPhase, VmState } from './state';
export { DEFAULT_VM, listVms, VmPaths, berthHome } from './paths';
export { ImageError } from './image';
export { WSL_SIZING_NOTE } from './wsl';

export class VmError extends Error {}

/**
 * The supervisor is small and lives as long as the VM: V8's young generation capped at 2 x 1 MB (its default grows
 * to 2 x 16 MB while the relay moves a pull's bytes and never shrinks back), glibc's mmap threshold fixed as for
 * berthd (ENGINE_ENV) so the relay's freed 64 KiB buffers go back to the system.
 */
export const SUPERVISOR_NODE_FLAGS = ['--max-semi-space-size=1'];

export interface VmStartOptions {
  driver?: DriverName;
  /** The guest's architecture when the VM is made (default: the host's; another one runs emulated). */
  arch?: GuestArch;
  cpus?: number;
  memoryMiB?: number;
  diskGiB?: number;
  /** Replaces the guest engine's daemon.json (registry mirrors, insecure registries…). */
  daemon?: Record<string, unknown>;
  /** Each boot stage as it happens (the extension's progress notification). */
  onStage?: (stage: BootStage, state: VmState) => void;
  /** Where dist/ is (the supervisor bundle vm.js and the guest image dist/vm/<arch>); default: this bundle's. */
  bundleDir?: string;
  /** The guest image's folder (default: BERTH_VM_IMAGE, else dist/vm/<arch> in bundleDir). */
  imageDir?: string;
  /** The Node runtime for the supervisor (default: this process's; Electron runs as Node). */
  execPath?: string;
  home?: string;
}

export interface VmStatus {
  name: string;
  exists: boolean;
  running: boolean;
  phase: VmState['phase'] | 'absent';
  config?: VmConfig;
  state?: VmState;
  /** unix:///…/berth.sock (npipe:////./pipe/… on Windows) */
  host: string;
  socket: string;
  consoleLog: string;
  dir: string;
}

function paths(name: string, home?: string) {
  return new VmPaths(name, home ?? berthHome());
}

function hostOf(p: VmPaths): string {
  return process.platform === 'win32' ? `npipe://${p.apiSocket.replace(/\\/g, '/')}` : `unix://${p.apiSocket}`;
}

export function vmStatus(name = DEFAULT_VM, home?: string): VmStatus {
  const p = paths(name, home);
  const config = readJson<VmConfig>(p.config);
  const state = readJson<VmState>(p.state);
  const live =
    !!state &&
    alive(state.supervisorPid) &&
    (state.phase === 'starting' || state.phase === 'running' || state.phase === 'stopping');
  return {
    name,
    exists: !!config,
    running: live && state?.phase === 'running',
    phase: !config ? 'absent' : live ? state!.phase : state?.phase === 'failed' ? 'failed' : 'stopped',
    config,
    state,
    host: hostOf(p),
    socket: p.apiSocket,
    consoleLog: p.consoleLog,
    dir: p.dir,
  };
}

/** The first driver that can run here (or the one asked for), with every reason when none can. */
export async function pickDriver(
  arch = hostGuestArch(),
  wanted?: DriverName,
  bundleDir = __dirname,
): Promise<DriverName> {
  if (wanted && !DRIVERS.includes(wanted)) throw new VmError(`unknown VM driver "${wanted}" (qemu, vfkit or wsl)`);
  const candidates = wanted ? [wanted] : platformDrivers();
  const why: string[] = [];
  for (const d of candidates) {
    const reason = await driverFor(d).unavailable(arch, bundleDir);
    if (!reason) return d;
    why.push(reason);
  }
  throw new VmError(`no usable VM driver: ${why.join('; ')}`);
}

/**
 * Starts the VM (creating it on first use) and resolves once its engine answers on the VM's socket. Refuses when it
 * already runs; on any failure nothing is left running and the error says what went wrong.
 */
export async function startVm(name = DEFAULT_VM, opts: VmStartOptions = {}): Promise<VmStatus> {
  const p = paths(name, opts.home);
  const before = vmStatus(name, opts.home);
  if (before.state && alive(before.state.supervisorPid) && before.phase !== 'stopped' && before.phase !== 'failed')
    throw new VmError(
      `VM "${name}" is already ${before.phase === 'running' ? 'running' : before.phase} (supervisor pid ${before.state.supervisorPid}, since ${before.state.startedAt}); stop it first: berth vm stop${name === DEFAULT_VM ? '' : ` ${name}`}`,
    );
  const arch = before.config?.arch ?? opts.arch ?? hostGuestArch();
  const bundleDir = opts.bundleDir ?? __dirname;
  const driver = await pickDriver(arch, opts.driver ?? before.config?.driver, bundleDir);
  const image = loadImage(opts.imageDir ?? imageDir(arch, bundleDir), {
    needTar: driver === 'wsl',
    hint: imageHint(arch, { bundleDir }),
  });
  const positive = (v: number | undefined, what: string) => {
    if (v !== undefined && (!Number.isFinite(v) || v <= 0 || Math.floor(v) !== v))
      throw new VmError(`invalid ${what}: ${v} (a whole number above 0)`);
    return v;
  };
  const config: VmConfig = {
    ...DEFAULT_CONFIG,
    ...before.config,
    name,
    arch,
    driver,
    ...(positive(opts.cpus, 'CPU count') !== undefined && { cpus: opts.cpus! }),
    ...(positive(opts.memoryMiB, 'memory size') !== undefined && { memoryMiB: opts.memoryMiB! }),
    ...(positive(opts.diskGiB, 'disk size') !== undefined && { diskGiB: opts.diskGiB! }),
  };
  if (config.memoryMiB < 256) throw new VmError(`invalid memory size: ${config.memoryMiB} MiB (256 MiB at least)`);
  p.ensureDir();
  takeLock(p);
  try {
    writeJsonAtomic(p.config, config);
    if (opts.daemon) writeJsonAtomic(p.daemonJson, opts.daemon);
    else if (!fs.existsSync(p.daemonJson)) writeJsonAtomic(p.daemonJson, {});
    if (!fs.existsSync(path.join(p.tlsDir, 'cert.pem'))) writeVmTls(p.tlsDir, makeVmTls(name));
    fs.rmSync(p.state, { force: true });
    const log = fs.openSync(p.supervisorLog, 'w', 0o600);
    const child = spawn(
      opts.execPath ?? process.execPath,
      [...SUPERVISOR_NODE_FLAGS, path.join(bundleDir, 'vm.js'), 'supervise', p.dir],
      {
        detached: true,
        stdio: ['ignore', log, log],
        env: { ...ENGINE_ENV, ...process.env, ELECTRON_RUN_AS_NODE: '1', BERTH_VM_IMAGE_DIR: image.dir },
        windowsHide: true,
      },
    );
    fs.closeSync(log);
    child.unref();
    return await waitUntilUp(name, p, child.pid ?? -1, opts);
  } catch (err) {
    fs.rmSync(p.lock, { force: true });
    throw err;
  }
}

function takeLock(p: VmPaths): void {
  for (let i = 0; i < 2; i++) {
    try {
      fs.writeFileSync(p.lock, String(process.pid), { flag: 'wx', mode: 0o600 });
      return;
    } catch (err: any) {
      if (err.code !== 'EEXIST') throw err;
      const holder = Number(fs.readFileSync(p.lock, 'utf8'));
      if (alive(holder) && holder !== process.pid)
        throw new VmError(`VM "${p.name}" is being started by another process (pid ${holder})`);
      fs.rmSync(p.lock, { force: true });
    }
  }
  throw new VmError(`cannot lock VM "${p.name}"`);
}

async function waitUntilUp(name: string, p: VmPaths, pid: number, opts: VmStartOptions): Promise<VmStatus> {
  let seen = 0;
  for (;;) {
    await new Promise((r) => setTimeout(r, 100));
    const state = readJson<VmState>(p.state);
    if (state) {
      for (; seen < state.stages.length; seen++) opts.onStage?.(state.stages[seen], state);
      if (state.phase === 'running') return vmStatus(name, opts.home);
      if (state.phase === 'failed' || state.phase === 'stopped') {
        await waitGone(pid, 60_000);
        throw new VmError(
          `VM "${name}" did not start: ${state.error ?? 'it stopped during boot'} (console log: ${p.consoleLog})`,
        );
      }
    }
    if (!alive(pid)) {
      const s = readJson<VmState>(p.state);
      let tail = '';
      try {
        tail = fs.readFileSync(p.supervisorLog, 'utf8').trim().split('\n').slice(-5).join('\n');
      } catch {
        /* none */
      }
      throw new VmError(`VM "${name}" did not start: ${s?.error ?? (tail || 'its supervisor exited')}`);
    }
  }
}

async function waitGone(pid: number | undefined, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (alive(pid)) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
  return true;
}

/** Asks the supervisor for a clean stop and waits until the supervisor and hypervisor are gone. */
export async function stopVm(name = DEFAULT_VM, opts: { home?: string; timeoutMs?: number } = {}): Promise<boolean> {
  const p = paths(name, opts.home);
  const state = readJson<VmState>(p.state);
  if (!state || (!alive(state.supervisorPid) && !alive(state.hypervisorPid))) return false;
  const timeoutMs = opts.timeoutMs ?? 60_000;
  if (alive(state.supervisorPid)) {
    await new Promise<void>((resolve) => {
      const c = net.connect(p.controlSocket, () => c.write('{"op":"stop"}\n'));
      c.setTimeout(timeoutMs, () => c.destroy());
      c.on('data', () => undefined);
      c.on('close', () => resolve());
      c.on('error', () => {
        // No control socket (a supervisor from before it listened): the signal does the same.
        try {
          process.kill(state.supervisorPid, 'SIGTERM');
        } catch {
          /* gone */
        }
        resolve();
      });
    });
  }
  if (!(await waitGone(state.supervisorPid, timeoutMs))) killHard(state.supervisorPid);
  // The hypervisor outlives a supervisor killed with -9: end it too.
  if (!(await waitGone(state.hypervisorPid, 5000))) {
    killHard(state.hypervisorPid);
    await waitGone(state.hypervisorPid, 5000);
  }
  fs.rmSync(p.lock, { force: true });
  return true;
}

function killHard(pid: number | undefined): void {
  try {
    if (pid) process.kill(pid, 'SIGKILL');
  } catch {
    /* gone */
  }
}

/** Stops the VM if it runs and deletes it: disk, certificates, logs (and the WSL distribution). */
export async function removeVm(name = DEFAULT_VM, opts: { home?: string } = {}): Promise<boolean> {
  const p = paths(name, opts.home);
  if (!fs.existsSync(p.dir)) return false;
  await stopVm(name, opts);
  const config = readJson<VmConfig>(p.config);
  if (config?.driver === 'wsl' && process.platform === 'win32') {
    const { execFileSync } = await import('node:child_process');
    const { wslUnregisterArgs } = await import('./wsl');
    try {
      execFileSync('wsl.exe', wslUnregisterArgs(name), { stdio: 'ignore' });
    } catch {
      /* not registered */
    }
  }
  fs.rmSync(p.dir, { recursive: true, force: true });
  return true;
}

export type Shell = 'sh' | 'fish' | 'powershell' | 'cmd';

/**
 * What `berth vm env` prints: DOCKER_HOST (and BERTH_HOST) for the VM's socket, or with `unset` the commands that
 * undo it — each followed by how to apply it, as docker-machine env prints them.
 */
export function vmEnv(name = DEFAULT_VM, shell: Shell = 'sh', home?: string, unset = false): string {
  const s = vmStatus(name, home);
  const vars: [string, string][] = [
    ['DOCKER_HOST', s.host],
    ['BERTH_HOST', s.host],
  ];
  const set = (k: string, v: string) =>
    shell === 'fish'
      ? `set -gx ${k} "${v}";`
      : shell === 'powershell'
        ? `$Env:${k} = "${v}"`
        : shell === 'cmd'
          ? `SET ${k}=${v}`
          : `export ${k}="${v}"`;
  const clear = (k: string) =>
    shell === 'fish'
      ? `set -e ${k};`
      : shell === 'powershell'
        ? `Remove-Item Env:\\${k}`
        : shell === 'cmd'
          ? `SET ${k}=`
          : `unset ${k}`;
  const comment = shell === 'cmd' ? 'REM' : '#';
  const command = `berth vm env${name === DEFAULT_VM ? '' : ` ${name}`}${unset ? ' --unset' : ''}`;
  const run =
    shell === 'fish'
      ? `${command} | source`
      : shell === 'powershell'
        ? `& ${command} --shell powershell | Invoke-Expression`
        : shell === 'cmd'
          ? `@FOR /f "tokens=*" %i IN ('${command} --shell cmd') DO @%i`
          : `eval "$(${command})"`;
  return [
    ...vars.map(([k, v]) => (unset ? clear(k) : set(k, v))),
    `${comment} Run this command to configure your shell:`,
    `${comment} ${run}`,
  ].join('\n');
}

export { listVms as vms };
