// vm start | stop | status | rm | env: Berth's Linux VM (src/vm), for macOS and Windows, and on Linux for whoever
// wants the engine in a VM (cgroup v2 under a cgroup v1 host, or no root on the host).
import type { Command } from 'commander';
import {
  DEFAULT_VM,
  type DriverName,
  listVms,
  removeVm,
  type Shell,
  startVm,
  stopVm,
  VmError,
  vmEnv,
  vmStatus,
  WSL_SIZING_NOTE,
} from '../../vm';
import { ImageError } from '../../vm/image';
import { type Cli, StatusError } from '../cli';
import { humanDuration, ramInBytes } from '../../common/docker/units';

const MiB = 1024 * 1024;

/** "2g", "2048m" or a plain number of MiB (as podman machine and docker-machine take it). */
export function parseMiB(value: string, what: string): number {
  const v = value.trim();
  let bytes: number;
  try {
    bytes = /^\d+$/.test(v) ? Number(v) * MiB : ramInBytes(v);
  } catch {
    throw new StatusError(125, `invalid ${what}: ${value}`);
  }
  if (!Number.isFinite(bytes) || bytes < MiB) throw new StatusError(125, `invalid ${what}: ${value}`);
  return Math.round(bytes / MiB);
}

function asStatus(err: unknown): never {
  if (err instanceof VmError || err instanceof ImageError) throw new StatusError(1, `Error: ${err.message}`);
  throw err;
}

export function registerVmCommands(program: Command, cli: Cli): void {
  const vm = program.command('vm').description("Manage Berth's Linux VM (the engine on macOS and Windows)");

  vm.command('start')
    .description('Start the VM (created on first start) and wait until its engine answers')
    .argument('[name]', 'VM name', DEFAULT_VM)
    .option('--driver <driver>', 'qemu, vfkit (macOS) or wsl (Windows); default: the first usable one')
    .option('--cpus <n>', 'Number of virtual CPUs (default 2)')
    .option('-m, --memory <size>', 'Memory, e.g. 2g or 2048 (MiB; default 2g)')
    .option('--disk <size>', 'Data disk size, e.g. 64g (sparse: it takes what the guest writes; default 64g)')
    .option('-q, --quiet', 'Print nothing but errors')
    .action(
      async (name: string, o: { driver?: string; cpus?: string; memory?: string; disk?: string; quiet?: boolean }) => {
        const cpus = o.cpus === undefined ? undefined : Number(o.cpus);
        if (cpus !== undefined && (!Number.isInteger(cpus) || cpus < 1))
          throw new StatusError(125, `invalid --cpus: ${o.cpus}`);
        const t0 = Date.now();
        const status = await startVm(name, {
          driver: o.driver as DriverName | undefined,
          cpus,
          memoryMiB: o.memory === undefined ? undefined : parseMiB(o.memory, '--memory'),
          diskGiB: o.disk === undefined ? undefined : Math.max(1, Math.round(parseMiB(o.disk, '--disk') / 1024)),
          onStage: (s) => {
            if (!o.quiet && process.stderr.isTTY) cli.err.write(`\r\x1b[K${name}: ${s.name}`);
          },
        }).catch(asStatus);
        if (!o.quiet && process.stderr.isTTY) cli.err.write('\r\x1b[K');
        if (!o.quiet)
          cli.out.write(
            `VM "${name}" is running (${status.config?.driver}, ${status.state?.accel ?? status.config?.cpus + ' CPUs'}; engine answered after ${humanDuration(Date.now() - t0).toLowerCase()}).\n` +
              `To use it from this shell: eval "$(berth vm env${name === DEFAULT_VM ? '' : ` ${name}`})"\n`,
          );
        for (const n of status.state?.notes ?? []) cli.err.write(`Note: ${n}\n`);
      },
    );

  vm.command('stop')
    .description('Stop the VM cleanly (its containers stop; images, containers and volumes stay on its disk)')
    .argument('[name]', 'VM name', DEFAULT_VM)
    .action(async (name: string) => {
      if (!vmStatus(name).exists) throw new StatusError(1, `Error: no VM named "${name}"`);
      const was = await stopVm(name).catch(asStatus);
      cli.out.write(was ? `VM "${name}" stopped.\n` : `VM "${name}" is not running.\n`);
    });

  vm.command('status')
    .alias('ls')
    .description('Show the VM (or every VM with --all)')
    .argument('[name]', 'VM name', DEFAULT_VM)
    .option('-a, --all', 'Every VM')
    .option('--format <format>', '"json" for the whole status')
    .action(async (name: string, o: { all?: boolean; format?: string }) => {
      const names = o.all ? listVms() : [name];
      const all = names.map((n) => vmStatus(n));
      if (o.format === 'json') {
        cli.out.write(`${JSON.stringify(o.all ? all : all[0], null, 2)}\n`);
        return;
      }
      if (!o.all && !all[0].exists)
        throw new StatusError(1, `Error: no VM named "${name}" (berth vm start creates it)`);
      for (const s of all) {
        const c = s.config;
        const lines = [
          `${s.name}: ${s.phase}`,
          !c
            ? ''
            : c.driver === 'wsl'
              ? `  driver wsl, ${c.arch}\n  note: ${WSL_SIZING_NOTE}`
              : `  driver ${c.driver}, ${c.arch}, ${c.cpus} CPUs, ${c.memoryMiB} MiB memory, ${c.diskGiB} GiB disk`,
          s.running ? `  engine: ${s.host}` : '',
          s.running && s.state?.bootMs
            ? `  booted in ${(s.state.bootMs / 1000).toFixed(1)} s (${s.state.accel ?? ''})`.replace(' ()', '')
            : '',
          ...(s.running
            ? (s.state?.ports ?? []).map((p) => `  port 127.0.0.1:${p.hostPort}/${p.protocol} → ${p.container}`)
            : []),
          ...(s.running ? (s.state?.notes ?? []).map((n) => `  note: ${n}`) : []),
          s.phase === 'failed' && s.state?.error ? `  error: ${s.state.error}` : '',
          `  console log: ${s.consoleLog}`,
        ];
        cli.out.write(`${lines.filter(Boolean).join('\n')}\n`);
      }
    });

  vm.command('rm')
    .description('Stop and delete the VM: its disk (images, containers, volumes), certificates and logs')
    .argument('[name]', 'VM name', DEFAULT_VM)
    .option('-f, --force', 'Do not ask')
    .action(async (name: string, o: { force?: boolean }) => {
      if (!vmStatus(name).exists) throw new StatusError(1, `Error: no VM named "${name}"`);
      if (!o.force && process.stdin.isTTY) {
        const { confirm } = await import('../cli');
        if (!(await confirm(cli, `Delete VM "${name}" with its images, containers and volumes?`))) return;
      }
      await removeVm(name).catch(asStatus);
      cli.out.write(`VM "${name}" removed.\n`);
    });

  vm.command('env')
    .description("Print the commands that point docker and berth at the VM's engine")
    .argument('[name]', 'VM name', DEFAULT_VM)
    .option('--shell <shell>', 'sh (default), fish, powershell or cmd')
    .option('-u, --unset', 'Print the commands that undo it')
    .action((name: string, o: { shell?: string; unset?: boolean }) => {
      const shell = (o.shell ?? (process.platform === 'win32' ? 'powershell' : 'sh')) as Shell;
      if (!['sh', 'fish', 'powershell', 'cmd'].includes(shell)) throw new StatusError(125, `unknown shell: ${o.shell}`);
      if (o.unset) {
        cli.out.write(`${vmEnv(name, shell, undefined, true)}\n`);
        return;
      }
      const s = vmStatus(name);
      if (!s.exists) throw new StatusError(1, `Error: no VM named "${name}" (berth vm start creates it)`);
      // As docker-machine env ("Host is not running"): variables for an engine nobody answers on would only move the
      // error to the next docker command.
      if (!s.running) {
        const start = `berth vm start${name === DEFAULT_VM ? '' : ` ${name}`}`;
        throw new StatusError(
          1,
          s.phase === 'starting'
            ? `Error: VM "${name}" is still starting: wait for ${start} to finish`
            : `Error: VM "${name}" is not running (${s.phase}): start it with ${start}`,
        );
      }
      cli.out.write(`${vmEnv(name, shell)}\n`);
    });
}
