// The qemu driver: Linux (KVM, else TCG), macOS (HVF), Windows (WHPX). The guest boots its kernel directly, its
// root image read-only and its data disk as virtio disks; the network is QEMU's user mode (slirp), whose host
// forwards carry the API (to a loopback port only the VM's client certificate opens) and published ports (added and
// removed at run time through QMP); the user's home is shared over 9p; a virtio-serial port is the control channel.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  encodeCmdlinePath,
  findExecutable,
  GUEST_API_PORT,
  GUEST_KERNEL_OPTIONS,
  type Hypervisor,
  type LaunchContext,
  type PortForward,
  type Share,
  type VmDriver,
} from './driver';
import type { GuestArch, GuestImage } from './image';
import { berthHome } from './paths';
import { QmpClient } from './qmp';

export type Accel = 'kvm' | 'hvf' | 'whpx' | 'tcg';

/** slirp's fixed addresses: the guest, the host's loopback as the guest sees it, the DNS forwarder. */
export const SLIRP = { guest: '10.0.2.15', prefix: 24, host: '10.0.2.2', dns: '10.0.2.3' } as const;

export function qemuBinaryName(arch: GuestArch): string {
  return arch === 'arm64' ? 'qemu-system-aarch64' : 'qemu-system-x86_64';
}

/** Accelerators worth trying, best first: hardware only for a guest of the host's own architecture. */
export function accelCandidates(platform: NodeJS.Platform, guest: GuestArch, hostArch = process.arch): Accel[] {
  const hw: Accel | undefined =
    platform === 'linux' ? 'kvm' : platform === 'darwin' ? 'hvf' : platform === 'win32' ? 'whpx' : undefined;
  return hw && guest === hostArch ? [hw, 'tcg'] : ['tcg'];
}

export interface QemuArgsInput {
  arch: GuestArch;
  accel: Accel;
  cpus: number;
  memoryMiB: number;
  kernel: string;
  initrd: string;
  root: string;
  dataDisk: string;
  /** 9p shares (the VM's seed first); none on Windows, whose QEMU has no 9p. */
  shares: Share[];
  qmpSocket: string;
  controlSocket: string;
  /** The host's loopback port for the API; 0 lets QEMU pick one (read back with `info usernet`). */
  apiHostPort: number;
  /** TCG's code cache (MiB), TCG_TB_MIB by default. */
  tcgTbMiB?: number;
}

/** TCG's translated-code cache (MiB): QEMU's default (1 GiB) fills with code the guest ran once at boot and stays in
 * QEMU's RSS while the VM idles; 128 MiB holds the idle engine's working set. */
export const TCG_TB_MIB = 128;

/**
 * The TCG code cache size: BERTH_VM_TCG_TB_MIB trades memory for speed (the test suites' guests take 512 MiB:
 * ~25% less emulated CPU per boot and per container run, measured, for ~400 MB more RSS).
 */
export function tcgTbMiB(env = process.env): number {
  const v = Number(env.BERTH_VM_TCG_TB_MIB);
  return Number.isInteger(v) && v > 0 ? v : TCG_TB_MIB;
}

/** Machine and CPU for an accelerator: hardware runs the host's CPU model, TCG the fastest complete one. */
export function machineArgs(arch: GuestArch, accel: Accel, tbMiB = TCG_TB_MIB): string[] {
  const tcg = ['-accel', `tcg,tb-size=${tbMiB}`];
  if (arch === 'arm64') {
    // TCG: pointer authentication with QEMU's cheap algorithm (the architected one costs a lot when emulated).
    if (accel === 'tcg') return ['-machine', 'virt,gic-version=3', ...tcg, '-cpu', 'max,pauth-impdef=on'];
    return ['-machine', `virt,accel=${accel}`, '-cpu', 'host'];
  }
  if (accel === 'tcg') return ['-machine', 'q35', ...tcg, '-cpu', 'max'];
  return ['-machine', `q35,accel=${accel}`, '-cpu', 'host'];
}

export function kernelCmdline(arch: GuestArch, shares: Share[]): string {
  return [
    arch === 'arm64' ? 'console=ttyAMA0' : 'console=ttyS0',
    'quiet',
    'panic=-1',
    ...GUEST_KERNEL_OPTIONS,
    `berth.net=${SLIRP.guest}/${SLIRP.prefix}:${SLIRP.host}:${SLIRP.dns}`,
    'berth.data=/dev/vdb',
    ...shares.map((s) => `berth.share=9p:${s.tag}:${encodeCmdlinePath(s.guestPath)}`),
  ].join(' ');
}

export function qemuArgs(i: QemuArgsInput): string[] {
  const args = [
    '-nodefaults',
    '-no-user-config',
    '-display',
    'none',
    '-no-reboot',
    ...machineArgs(i.arch, i.accel, i.tcgTbMiB),
    '-smp',
    String(i.cpus),
    '-m',
    `${i.memoryMiB}M`,
    '-kernel',
    i.kernel,
    '-initrd',
    i.initrd,
    '-append',
    kernelCmdline(i.arch, i.shares),
    // The console on stdout: the supervisor logs it and reads the boot stages from it.
    '-serial',
    'stdio',
    '-drive',
    `if=none,id=root,file=${i.root},format=raw,readonly=on`,
    '-device',
    'virtio-blk-pci,drive=root',
    '-drive',
    `if=none,id=data,file=${i.dataDisk},format=raw,discard=unmap`,
    '-device',
    'virtio-blk-pci,drive=data',
    '-netdev',
    `user,id=net0,ipv6=off,hostfwd=tcp:127.0.0.1:${i.apiHostPort}-${SLIRP.guest}:${GUEST_API_PORT}`,
    '-device',
    'virtio-net-pci,netdev=net0',
    '-device',
    'virtio-rng-pci',
    // Pages the guest frees go back to the host (idle memory).
    '-device',
    'virtio-balloon-pci,free-page-reporting=on',
    '-device',
    'virtio-serial-pci',
    '-chardev',
    `socket,id=control,path=${i.controlSocket},server=on,wait=off`,
    '-device',
    'virtserialport,chardev=control,name=berth.control',
    '-qmp',
    `unix:${i.qmpSocket},server=on,wait=off`,
  ];
  i.shares.forEach((s, n) => {
    args.push(
      '-fsdev',
      `local,id=fs${n},path=${s.hostPath},security_model=none${s.readonly ? ',readonly=on' : ''}`,
      '-device',
      `virtio-9p-pci,fsdev=fs${n},mount_tag=${s.tag}`,
    );
  });
  return args;
}

/**
 * The kernel file QEMU boots. Under TCG the unpacked ELF (PVH entry): the bzImage's xz decompression is ~5 s of
 * emulated CPU there. With hardware acceleration the bzImage (decompressed in ~0.2 s): QEMU keeps the ELF it loaded
 * mapped for the VM's life: 57 MB more resident (clean file pages) than the bzImage it copies.
 */
export function bootKernel(image: Pick<GuestImage, 'kernel' | 'kernelElf'>, accel: Accel): string {
  return accel === 'tcg' && image.kernelElf ? image.kernelElf : image.kernel;
}

/** Where QEMU may be besides PATH: Homebrew, MacPorts, the Windows installer. */
const QEMU_DIRS = ['/opt/homebrew/bin', '/usr/local/bin', '/opt/local/bin', 'C:\\Program Files\\qemu'];

export function findQemu(arch: GuestArch, env = process.env): string | undefined {
  if (env.BERTH_QEMU) return fs.existsSync(env.BERTH_QEMU) ? env.BERTH_QEMU : undefined;
  return findExecutable(qemuBinaryName(arch), QEMU_DIRS, env);
}

export function qemuInstallHint(arch: GuestArch, platform = process.platform): string {
  const bin = qemuBinaryName(arch);
  if (platform === 'darwin') return `install QEMU (brew install qemu) so that ${bin} is on PATH`;
  if (platform === 'win32') return `install QEMU for Windows (winget install SoftwareFreedomConservancy.QEMU)`;
  return `install QEMU: apt-get install ${arch === 'arm64' ? 'qemu-system-arm' : 'qemu-system-x86'} (dnf install qemu-kvm on RHEL)`;
}

/**
 * Whether QEMU really runs a guest with `accel`: /dev/kvm can exist and still abort QEMU at the first vCPU run (a
 * nested host without the MSRs QEMU sets), so a paused machine is started for a moment and must survive it.
 * The answer is kept per QEMU binary (path and mtime) in the Berth home.
 */
export async function probeAccel(binary: string, arch: GuestArch, accel: Accel): Promise<boolean> {
  if (accel === 'tcg') return true;
  if (accel === 'kvm') {
    try {
      fs.accessSync('/dev/kvm', fs.constants.R_OK | fs.constants.W_OK);
    } catch {
      return false;
    }
  }
  const cacheFile = path.join(berthHome(), 'accel-probe.json');
  let stamp = '';
  try {
    stamp = `${binary}|${fs.statSync(binary).mtimeMs}|${accel}`;
  } catch {
    return false;
  }
  let cache: Record<string, boolean> = {};
  try {
    cache = JSON.parse(fs.readFileSync(cacheFile, 'utf8'));
    if (stamp in cache) return cache[stamp];
  } catch {
    /* none yet */
  }
  const ok = await new Promise<boolean>((resolve) => {
    const child = spawn(
      binary,
      [
        ...machineArgs(arch, accel),
        '-m',
        '64',
        '-nodefaults',
        '-no-user-config',
        '-display',
        'none',
        '-S',
        '-qmp',
        'stdio',
      ],
      { stdio: ['pipe', 'ignore', 'ignore'] },
    );
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.on('error', () => resolve(false));
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve(code === 0);
    });
    child.stdin.write('{"execute":"qmp_capabilities"}\n{"execute":"cont"}\n');
    setTimeout(() => child.stdin.end('{"execute":"quit"}\n'), 400);
  });
  try {
    fs.mkdirSync(path.dirname(cacheFile), { recursive: true, mode: 0o700 });
    fs.writeFileSync(cacheFile, JSON.stringify({ ...cache, [stamp]: ok }));
  } catch {
    /* only a cache */
  }
  return ok;
}

export async function chooseAccel(binary: string, arch: GuestArch, env = process.env): Promise<Accel> {
  const forced = env.BERTH_VM_ACCEL as Accel | undefined;
  if (forced) return forced;
  for (const a of accelCandidates(process.platform, arch)) if (await probeAccel(binary, arch, a)) return a;
  return 'tcg';
}

/** The host port `info usernet` shows for the forward to the guest's `guestPort`. */
export function parseUsernetPort(text: string, guestPort: number): number | undefined {
  for (const line of text.split(/\r?\n/)) {
    const m = /HOST_FORWARD\]\s+\d+\s+(\S+)\s+(\d+)\s+(\S+)\s+(\d+)/.exec(line);
    if (m && Number(m[4]) === guestPort) return Number(m[2]);
  }
  return undefined;
}

export class QemuDriver implements VmDriver {
  readonly name = 'qemu' as const;

  async unavailable(arch: GuestArch): Promise<string | undefined> {
    if (!findQemu(arch)) return `the qemu driver needs ${qemuBinaryName(arch)}: ${qemuInstallHint(arch)}`;
    return undefined;
  }

  async launch(ctx: LaunchContext): Promise<Hypervisor> {
    const { arch } = ctx.config;
    const binary = findQemu(arch);
    if (!binary) throw new Error(`${qemuBinaryName(arch)} not found: ${qemuInstallHint(arch)}`);
    const accel = await chooseAccel(binary, arch);
    ctx.log(`qemu: ${binary}, accelerator ${accel}`);
    for (const s of [ctx.paths.qmpSocket, ctx.paths.guestControlSocket]) fs.rmSync(s, { force: true });
    const args = qemuArgs({
      arch,
      accel,
      cpus: ctx.config.cpus,
      memoryMiB: ctx.config.memoryMiB,
      kernel: bootKernel(ctx.image, accel),
      initrd: ctx.image.initrd,
      root: ctx.image.root,
      dataDisk: ctx.paths.dataDisk,
      shares: process.platform === 'win32' ? [] : ctx.shares,
      qmpSocket: ctx.paths.qmpSocket,
      controlSocket: ctx.paths.guestControlSocket,
      apiHostPort: 0,
      tcgTbMiB: tcgTbMiB(),
    });
    ctx.log(`qemu: ${args.map((a) => (/\s/.test(a) ? JSON.stringify(a) : a)).join(' ')}`);
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((resolve) => {
      child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : null)));
      child.on('error', (err) => {
        ctx.log(`qemu: ${err.message}`);
        resolve(-1);
      });
    });
    // QEMU's own complaints (a busy file, a bad option) go to the console log as well.
    child.stderr.on('data', (d: Buffer) => ctx.log(`qemu: ${d.toString().trimEnd()}`));
    let qmp: QmpClient | undefined;
    const qmpReady = async (): Promise<QmpClient> => {
      for (let i = 0; !qmp; i++) {
        try {
          qmp = await QmpClient.connect(ctx.paths.qmpSocket);
        } catch (err) {
          if (i > 100 || child.exitCode !== null) throw err;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      return qmp;
    };
    const rule = (f: PortForward) => `${f.protocol}:${f.hostIp}:${f.hostPort}`;
    return {
      pid: child.pid ?? -1,
      accel,
      console: child.stdout,
      exited,
      apiAddress: async () => {
        const port = parseUsernetPort(await (await qmpReady()).hmp('info usernet'), GUEST_API_PORT);
        if (!port) throw new Error('QEMU did not report the API forward');
        return { host: '127.0.0.1', port };
      },
      requestPoweroff: async () => {
        const net = await import('node:net');
        await new Promise<void>((resolve, reject) => {
          const s = net.connect(ctx.paths.guestControlSocket, () => s.end('poweroff\n', () => resolve()));
          s.on('error', reject);
        });
      },
      kill: () => {
        qmp?.close();
        child.kill('SIGKILL');
      },
      forwardPort: async (f) => {
        const out = await (await qmpReady()).hmp(`hostfwd_add net0 ${rule(f)}-${SLIRP.guest}:${f.guestPort}`);
        if (out.trim()) throw new Error(out.trim().replace(/\r?\n/g, ' '));
      },
      unforwardPort: async (f) => {
        const out = await (await qmpReady()).hmp(`hostfwd_remove net0 ${rule(f)}`);
        if (out.trim() && !/not found/.test(out)) throw new Error(out.trim());
      },
    };
  }
}
