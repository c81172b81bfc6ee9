// The wsl driver (Windows): the guest's root tarball imported as a WSL 2 distribution of its own (`wsl --import`, no
// admin rights), berthd run by a long-lived `wsl -d berth-<name>` process. WSL brings its own kernel, network and
// disk (the distribution's sparse ext4.vhdx holds /var/lib/berth), the Windows drives under /mnt/<drive> (berthd
// translates the host paths clients send, C:\Users\me → /mnt/c/Users/me: wslRunEnv) and forwards the guest's
// listening ports to the host's localhost, so the API is loopback TCP with the VM's mutual TLS. Not booted in CI
// (no Windows there): its command lines are unit-tested.
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { DEFAULT_DRIVES, toWslPath } from '../common/host/windows-paths';
import { findExecutable, GUEST_API_PORT, type Hypervisor, type LaunchContext, type VmDriver } from './driver';
import type { GuestArch } from './image';

export const distroName = (vm: string) => `berth-${vm}`;

/** WSL runs one VM for every distribution and sizes it itself: Berth's CPU, memory and disk settings do not apply. */
export const WSL_SIZING_NOTE =
  "WSL sizes its VM itself: CPUs and memory come from %UserProfile%\\.wslconfig ([wsl2] processors=, memory=) and the distribution's disk grows on its own; --cpus, --memory, --disk and berth.vm.* do not apply";

/** A Windows path as WSL sees it: C:\Users\me → /mnt/c/Users/me (a path already POSIX stays as it is). */
export const wslPath = (p: string) => toWslPath(p, DEFAULT_DRIVES);

/**
 * The environment of the `wsl -d` process that runs berthd: WSLENV carries BERTH_WINDOWS_DRIVES and BERTH_WSL_DISTRO
 * into the distribution, so the engine translates the host paths Windows clients send (`-v C:\src:/src`, --mount
 * source=…, bind-backed volumes' devices) to /mnt/<drive>/… — what Docker Desktop's API proxy does for its VM.
 */
export function wslRunEnv(vm: string, env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const carried = (env.WSLENV ?? '').split(':').filter((v) => v && !/^BERTH_(WINDOWS_DRIVES|WSL_DISTRO)(\/|$)/.test(v));
  return {
    ...env,
    BERTH_WINDOWS_DRIVES: DEFAULT_DRIVES.root,
    BERTH_WSL_DISTRO: distroName(vm),
    WSLENV: [...carried, 'BERTH_WINDOWS_DRIVES', 'BERTH_WSL_DISTRO'].join(':'),
  };
}

export function wslImportArgs(vm: string, installDir: string, tarball: string): string[] {
  return ['--import', distroName(vm), installDir, tarball, '--version', '2'];
}

export function wslRunArgs(vm: string, seedDir: string): string[] {
  return ['-d', distroName(vm), '-u', 'root', '--exec', '/bin/sh', '/etc/berth/wsl-init', wslPath(seedDir)];
}

export const wslTerminateArgs = (vm: string) => ['--terminate', distroName(vm)];
export const wslUnregisterArgs = (vm: string) => ['--unregister', distroName(vm)];

/** `wsl --list --quiet` answers in UTF-16LE; the names of the registered distributions. */
export function parseWslList(out: Buffer): string[] {
  const text = out.length > 1 && out[1] === 0 ? out.toString('utf16le') : out.toString('utf8');
  return text
    .replace(/\0/g, '')
    .split(/\r?\n/)
    .map((s) => s.trim())
    .filter(Boolean);
}

const run = promisify(execFile);

export class WslDriver implements VmDriver {
  readonly name = 'wsl' as const;

  private wsl(): string | undefined {
    return findExecutable('wsl', [path.join(process.env.SystemRoot ?? 'C:\\Windows', 'System32')]);
  }

  async unavailable(arch: GuestArch): Promise<string | undefined> {
    if (process.platform !== 'win32') return 'the wsl driver runs on Windows only';
    if (arch !== 'x64') return 'the wsl driver has an x64 guest only';
    if (!this.wsl()) return 'the wsl driver needs WSL 2: run "wsl --install --no-distribution" once (then reboot)';
    return undefined;
  }

  async launch(ctx: LaunchContext): Promise<Hypervisor> {
    const wsl = this.wsl();
    if (!wsl) throw new Error((await this.unavailable(ctx.config.arch)) ?? 'wsl missing');
    const vm = ctx.config.name;
    const { stdout } = await run(wsl, ['--list', '--quiet'], { encoding: 'buffer' });
    if (!parseWslList(stdout as unknown as Buffer).includes(distroName(vm))) {
      if (!ctx.image.rootTar) throw new Error('the guest image has no rootfs.tar.gz for WSL');
      const dir = path.join(ctx.paths.dir, 'wsl');
      fs.mkdirSync(dir, { recursive: true });
      ctx.log(`wsl: importing ${distroName(vm)}`);
      await run(wsl, wslImportArgs(vm, dir, ctx.image.rootTar));
    }
    const child = spawn(wsl, wslRunArgs(vm, ctx.paths.seedDir), {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: wslRunEnv(vm),
    });
    child.stderr.on('data', (b: Buffer) => ctx.log(`wsl: ${b.toString().trimEnd()}`));
    const exited = new Promise<number | null>((resolve) => {
      child.on('exit', (code) => resolve(code));
      child.on('error', () => resolve(-1));
    });
    const terminate = () => run(wsl, wslTerminateArgs(vm)).then(() => undefined);
    return {
      pid: child.pid ?? -1,
      accel: 'wsl2',
      console: child.stdout,
      exited,
      apiAddress: async () => ({ host: '127.0.0.1', port: GUEST_API_PORT }),
      requestPoweroff: terminate,
      kill: () => {
        void terminate().catch(() => undefined);
        child.kill();
      },
    };
  }
}
