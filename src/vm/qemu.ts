// The qemu driver: Linux (KVM, else TCG), macOS (HVF), Windows (WHPX). The guest boots its kernel directly, its
// root image read-only and its data disk as virtio disks; the network is QEMU's user mode (slirp), whose host
// forwards carry the API (to a loopback port only the VM's client certificate opens) and published ports (added and
// removed at run time through QMP); a virtio-serial port is the control channel. What differs per host platform is
// in qemuHostIo: Linux and macOS share the seed and the user's home over 9p and talk to QEMU on unix sockets in the
// VM's 0700 directory; QEMU for Windows has no 9p and Node there reaches no AF_UNIX socket, so the seed goes in as
// firmware config files and QEMU connects out to the supervisor's loopback listeners.
import { spawn, spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
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

/** How the host side reaches a guest under QEMU on a platform. */
export interface QemuHostIo {
  /** The seed (the VM's certificates, daemon.json, host-ports): a read-only 9p share, or firmware config files. */
  seed: '9p' | 'fw_cfg';
  /** Whether the user's home can be shared at all (9p). */
  homeShare: boolean;
  /** QMP and the control channel: unix sockets QEMU listens on, or loopback TCP listeners QEMU connects to. */
  channels: 'unix' | 'tcp';
  /** Whether the root image can be guest memory backed by the file (memory-backend-file: POSIX hosts only). */
  rootPmem: boolean;
}

/**
 * QEMU for Windows is built without virtfs (9p), and Node there opens named pipes only, never AF_UNIX sockets: the
 * seed goes in through fw_cfg (the guest's qemu_fw_cfg module reads it) and the channels are loopback TCP. A TCP port
 * on 127.0.0.1 is open to every local user and to the guest itself (slirp's 10.0.2.2 is the host's loopback), and QMP
 * can run programs as the user (`migrate exec:`), so QEMU listens on none: it connects out to the supervisor's
 * listeners, and the QMP connection counts only once it answers query-name with the secret it was started with.
 */
export function qemuHostIo(platform: NodeJS.Platform): QemuHostIo {
  return platform === 'win32'
    ? { seed: 'fw_cfg', homeShare: false, channels: 'tcp', rootPmem: false }
    : { seed: '9p', homeShare: true, channels: 'unix', rootPmem: true };
}

export type QemuChannels =
  | { kind: 'unix'; qmpSocket: string; controlSocket: string }
  /** The supervisor's loopback ports QEMU connects to, and the name QEMU answers query-name with. */
  | { kind: 'tcp'; qmpPort: number; controlPort: number; name: string };

/** A seed file as QEMU hands it over through fw_cfg: its path under the seed and where it is on the host. */
export interface SeedFile {
  name: string;
  hostPath: string;
}

/** The fw_cfg name of a seed file (the guest's rc.sysinit copies opt/berth/seed/… into /run/berth-seed). */
export const FW_CFG_SEED = 'opt/berth/seed';

/** The seed's files, relative, with forward slashes (fw_cfg names; the guest makes the folders). */
export function seedFiles(seedDir: string): SeedFile[] {
  const out: SeedFile[] = [];
  const walk = (dir: string, rel: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const name = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(path.join(dir, e.name), name);
      else if (e.isFile()) out.push({ name, hostPath: path.join(dir, e.name) });
    }
  };
  walk(seedDir, '');
  return out;
}

/** A value inside a QEMU option list (key=value,…): a comma in a path is written twice. */
export const optValue = (v: string) => v.replace(/,/g, ',,');

export interface QemuArgsInput {
  /** The host platform: what its QEMU build and Node can do there (qemuHostIo). */
  platform: NodeJS.Platform;
  arch: GuestArch;
  accel: Accel;
  cpus: number;
  memoryMiB: number;
  kernel: string;
  initrd: string;
  root: string;
  /**
   * The root image's size when it goes in as virtio-pmem (rootAsPmem), which the guest mounts with DAX: its file
   * pages are then the host's page cache of root.img, shared and reclaimable, not copies in the VM's private memory.
   * Absent: a read-only virtio disk.
   */
  rootPmemBytes?: number;
  dataDisk: string;
  /** The VM's seed (tag berth-seed) and the user's home. */
  shares: Share[];
  /** The seed's files, for a platform that hands them over through fw_cfg. */
  seed: SeedFile[];
  channels: QemuChannels;
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

export function kernelCmdline(
  arch: GuestArch,
  shares: Share[],
  seed: QemuHostIo['seed'] = '9p',
  rootPmem = false,
): string {
  return [
    arch === 'arm64' ? 'console=ttyAMA0' : 'console=ttyS0',
    'quiet',
    'panic=-1',
    ...GUEST_KERNEL_OPTIONS,
    // Bounce buffers: 2 MiB instead of 64 MiB. The kernel sets them up (and zeroes them: 64 MB resident on the host)
    // once any memory lies above 4 GiB — the pmem root's slot does, and so does RAM from ~3 GiB on — but QEMU's
    // virtio devices give the guest's physical addresses straight to the host and never bounce.
    'swiotlb=1024',
    `berth.net=${SLIRP.guest}/${SLIRP.prefix}:${SLIRP.host}:${SLIRP.dns}`,
    // The virtio disks are named in the order they are found: the data disk is the first one when the root is pmem.
    ...(rootPmem ? ['berth.root=/dev/pmem0', 'berth.data=/dev/vda'] : ['berth.data=/dev/vdb']),
    ...(seed === 'fw_cfg' ? ['berth.seed=fw_cfg'] : []),
    ...shares.map((s) => `berth.share=9p:${s.tag}:${encodeCmdlinePath(s.guestPath)}`),
  ].join(' ');
}

/** The shares QEMU serves over 9p on a platform: none where it has no 9p (the seed then goes through fw_cfg). */
export function ninePShares(platform: NodeJS.Platform, shares: Share[]): Share[] {
  return qemuHostIo(platform).seed === '9p' ? shares : [];
}

export function qemuArgs(i: QemuArgsInput): string[] {
  const io = qemuHostIo(i.platform);
  if (i.channels.kind !== io.channels)
    throw new Error(`QEMU on ${i.platform} talks to the host over ${io.channels}, not ${i.channels.kind}`);
  const shares = ninePShares(i.platform, i.shares);
  const ch = i.channels;
  const pmem = i.rootPmemBytes !== undefined;
  if (pmem && !io.rootPmem) throw new Error(`QEMU on ${i.platform} cannot map the root image as memory`);
  const args = [
    ...(ch.kind === 'tcp' ? ['-name', ch.name] : []),
    '-nodefaults',
    '-no-user-config',
    '-display',
    'none',
    '-no-reboot',
    ...machineArgs(i.arch, i.accel, i.tcgTbMiB),
    '-smp',
    String(i.cpus),
    '-m',
    // Room for the pmem root beside the RAM (QEMU places memory devices in the space up to maxmem).
    pmem ? `${i.memoryMiB}M,maxmem=${i.memoryMiB + Math.ceil(i.rootPmemBytes! / 1048576)}M` : `${i.memoryMiB}M`,
    '-kernel',
    i.kernel,
    '-initrd',
    i.initrd,
    '-append',
    kernelCmdline(i.arch, shares, io.seed, pmem),
    // The console on stdout: the supervisor logs it and reads the boot stages from it.
    '-serial',
    'stdio',
    // The root, read-only either way (one image serves every VM and boot): mapped shared from the file, or a disk.
    ...(pmem
      ? [
          '-object',
          `memory-backend-file,id=rootmem,mem-path=${optValue(i.root)},size=${i.rootPmemBytes},share=on,readonly=on`,
          '-device',
          'virtio-pmem-pci,memdev=rootmem',
        ]
      : [
          '-drive',
          `if=none,id=root,file=${optValue(i.root)},format=raw,readonly=on`,
          '-device',
          'virtio-blk-pci,drive=root',
        ]),
    '-drive',
    `if=none,id=data,file=${optValue(i.dataDisk)},format=raw,discard=unmap`,
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
    ch.kind === 'unix'
      ? `socket,id=control,path=${optValue(ch.controlSocket)},server=on,wait=off`
      : `socket,id=control,host=127.0.0.1,port=${ch.controlPort}`,
    '-device',
    'virtserialport,chardev=control,name=berth.control',
    ...(ch.kind === 'unix'
      ? ['-qmp', `unix:${optValue(ch.qmpSocket)},server=on,wait=off`]
      : ['-chardev', `socket,id=qmp,host=127.0.0.1,port=${ch.qmpPort}`, '-mon', 'chardev=qmp,mode=control']),
  ];
  if (io.seed === 'fw_cfg')
    for (const f of i.seed) args.push('-fw_cfg', `name=${FW_CFG_SEED}/${f.name},file=${optValue(f.hostPath)}`);
  shares.forEach((s, n) => {
    args.push(
      '-fsdev',
      `local,id=fs${n},path=${optValue(s.hostPath)},security_model=none${s.readonly ? ',readonly=on' : ''}`,
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

/**
 * Whether the root goes in as virtio-pmem: an x64 guest (Debian's arm64 kernel is built without FS_DAX), the
 * platform's QEMU can back guest memory with the file, this QEMU has the device, and the image's size is whole 2 MiB
 * (the guest maps device memory in sections of that; images built before their size was rounded go in as a disk).
 */
export function rootAsPmem(
  binary: string,
  io: QemuHostIo,
  arch: GuestArch,
  root: string,
  env = process.env,
): number | undefined {
  if (arch !== 'x64' || !io.rootPmem || env.BERTH_VM_ROOT === 'disk') return undefined;
  const size = fs.statSync(root).size;
  if (size % (2 * 1048576) !== 0) return undefined;
  const r = spawnSync(binary, ['-device', 'help'], { encoding: 'utf8', timeout: 10_000 });
  return /name "virtio-pmem-pci"/.test(r.stdout ?? '') ? size : undefined;
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

/** The host's ends of QMP and the control channel, as QemuChannels describes them to QEMU. */
export interface HostChannels {
  args: QemuChannels;
  /** The QMP connection (waits for QEMU to answer; fails once `gone` says QEMU ended). */
  qmp(): Promise<QmpClient>;
  /** A line to the guest's control port. */
  control(line: string): Promise<void>;
  close(): void;
}

function unixChannels(qmpSocket: string, controlSocket: string, gone: () => boolean): HostChannels {
  for (const s of [qmpSocket, controlSocket]) fs.rmSync(s, { force: true });
  let qmp: QmpClient | undefined;
  return {
    args: { kind: 'unix', qmpSocket, controlSocket },
    async qmp() {
      for (let i = 0; !qmp; i++) {
        try {
          qmp = await QmpClient.connect(qmpSocket);
        } catch (err) {
          if (i > 100 || gone()) throw err;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      return qmp;
    },
    control: (line) =>
      new Promise<void>((resolve, reject) => {
        const s = net.connect(controlSocket, () => s.end(`${line}\n`, () => resolve()));
        s.on('error', reject);
      }),
    close: () => qmp?.close(),
  };
}

const listenLoopback = (onConnection: (s: net.Socket) => void) =>
  new Promise<net.Server>((resolve, reject) => {
    const server = net.createServer(onConnection);
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });

/** QEMU's own port of a connected TCP chardev, from query-chardev ("tcp:127.0.0.1:PORT <-> 127.0.0.1:PEER"). */
export function chardevLocalPort(chardevs: { label: string; filename: string }[], label: string): number | undefined {
  const m = /^tcp:[^ ]*:(\d+) <-> /.exec(chardevs.find((c) => c.label === label)?.filename ?? '');
  return m ? Number(m[1]) : undefined;
}

/**
 * Loopback listeners QEMU connects to (ports the system picks, held until QEMU is in). Anyone local could connect
 * too, and is only talked to, never listened to: the QMP connection is the one that answers query-name with the
 * secret name QEMU was started with; the control connection the one whose port QEMU reports for its control chardev
 * (query-chardev). Every other connection is closed, and so are both listeners once QEMU's two are known.
 */
export async function tcpChannels(gone: Promise<unknown>, timeoutMs = 120_000): Promise<HostChannels> {
  const name = `berth-${crypto.randomBytes(16).toString('hex')}`;
  const pending = new Set<net.Socket>();
  let controlPeerPort: number | undefined;
  let control: net.Socket | undefined;
  let qmp: QmpClient | undefined;
  let settle!: { resolve: () => void; reject: (e: Error) => void };
  const ready = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
  ready.catch(() => undefined);
  // A QEMU that never connects (or a stranger's stalling) fails the start instead of leaving it waiting.
  const timer = setTimeout(
    () => settle.reject(new Error(`QEMU did not connect its QMP and control channels within ${timeoutMs / 1000} s`)),
    timeoutMs,
  ).unref();
  void ready.finally(() => clearTimeout(timer)).catch(() => undefined);
  const port = (srv: net.Server) => (srv.address() as net.AddressInfo).port;
  const finishIfKnown = () => {
    if (!qmp || !control) return;
    qmpServer.close();
    controlServer.close();
    for (const x of pending) x.destroy();
    pending.clear();
    settle.resolve();
  };
  const takeControl = (s: net.Socket) => {
    if (controlPeerPort === undefined || s.remotePort !== controlPeerPort || control) return false;
    control = s;
    pending.delete(s);
    finishIfKnown();
    return true;
  };
  const track = (s: net.Socket) => {
    s.on('error', () => undefined);
    pending.add(s);
    s.on('close', () => pending.delete(s));
  };
  const controlServer = await listenLoopback((s) => {
    track(s);
    s.on('data', () => undefined); // the guest's "pong"s
    takeControl(s);
  });
  const qmpServer = await listenLoopback((s) => {
    track(s);
    // A slow start (TCG on a busy host) may greet late; a stranger's silence only holds its own connection.
    QmpClient.over(s, timeoutMs)
      .then(async (c) => {
        const answer = await c.execute('query-name');
        if (qmp || answer?.name !== name) throw new Error('not our QEMU');
        qmp = c;
        pending.delete(s);
        return c;
      })
      .then(
        async (c) => {
          controlPeerPort = chardevLocalPort(await c.execute('query-chardev'), 'control');
          if (controlPeerPort === undefined) throw new Error("QEMU did not report its control connection's port");
          for (const x of [...pending]) if (x.localPort === port(controlServer) && takeControl(x)) break;
          finishIfKnown();
        },
        () => s.destroy(),
      )
      .catch((err) => settle.reject(err));
  });
  const close = () => {
    qmp?.close();
    control?.destroy();
    for (const x of pending) x.destroy();
    qmpServer.close();
    controlServer.close();
    settle.reject(new Error('QEMU exited before its QMP and control connections'));
  };
  void gone.then(close);
  return {
    args: { kind: 'tcp', qmpPort: port(qmpServer), controlPort: port(controlServer), name },
    async qmp() {
      await ready;
      return qmp!;
    },
    async control(line) {
      await ready;
      await new Promise<void>((r) => control!.write(`${line}\n`, () => r()));
    },
    close,
  };
}

export class QemuDriver implements VmDriver {
  readonly name = 'qemu' as const;

  /** `platform`: whose QEMU and Node this is (qemuHostIo); BERTH_QEMU_PLATFORM=win32 runs Windows' choices anywhere. */
  constructor(private readonly platform: NodeJS.Platform = process.platform) {}

  async unavailable(arch: GuestArch): Promise<string | undefined> {
    if (!findQemu(arch)) return `the qemu driver needs ${qemuBinaryName(arch)}: ${qemuInstallHint(arch)}`;
    return undefined;
  }

  async launch(ctx: LaunchContext): Promise<Hypervisor> {
    const { arch } = ctx.config;
    const binary = findQemu(arch);
    if (!binary) throw new Error(`${qemuBinaryName(arch)} not found: ${qemuInstallHint(arch)}`);
    const accel = await chooseAccel(binary, arch);
    const io = qemuHostIo(this.platform);
    ctx.log(`qemu: ${binary}, accelerator ${accel}`);
    let child: ReturnType<typeof spawn> | undefined;
    let markExited!: (code: number | null) => void;
    const exited = new Promise<number | null>((r) => (markExited = r));
    const channels =
      io.channels === 'unix'
        ? unixChannels(ctx.paths.qmpSocket, ctx.paths.guestControlSocket, () => !child || child.exitCode !== null)
        : await tcpChannels(exited);
    const seedShare = ctx.shares.find((s) => s.tag === 'berth-seed');
    const args = qemuArgs({
      platform: this.platform,
      arch,
      accel,
      cpus: ctx.config.cpus,
      memoryMiB: ctx.config.memoryMiB,
      kernel: bootKernel(ctx.image, accel),
      initrd: ctx.image.initrd,
      root: ctx.image.root,
      rootPmemBytes: rootAsPmem(binary, io, arch, ctx.image.root),
      dataDisk: ctx.paths.dataDisk,
      shares: ctx.shares,
      seed: io.seed === 'fw_cfg' && seedShare ? seedFiles(seedShare.hostPath) : [],
      channels: channels.args,
      apiHostPort: 0,
      tcgTbMiB: tcgTbMiB(),
    });
    if (!io.homeShare)
      for (const s of ctx.shares.filter((x) => x !== seedShare))
        ctx.log(`berth-note: ${s.hostPath} is not shared with the guest: ${NO_HOME_SHARE}`);
    ctx.log(`qemu: ${args.map((a) => (/\s/.test(a) ? JSON.stringify(a) : a)).join(' ')}`);
    const proc = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    proc.on('exit', (code, signal) => markExited(code ?? (signal ? 128 : null)));
    proc.on('error', (err) => {
      ctx.log(`qemu: ${err.message}`);
      markExited(-1);
    });
    // QEMU's own complaints (a busy file, a bad option) go to the console log as well.
    proc.stderr.on('data', (d: Buffer) => ctx.log(`qemu: ${d.toString().trimEnd()}`));
    // The TCP channels: QEMU's QMP connection is checked at once, so that the listeners close early.
    if (channels.args.kind === 'tcp') void channels.qmp().catch(() => undefined);
    const rule = (f: PortForward) => `${f.protocol}:${f.hostIp}:${f.hostPort}`;
    return {
      pid: proc.pid ?? -1,
      accel,
      console: proc.stdout,
      exited,
      notes: io.homeShare ? [] : [`your home is not shared with the guest: ${NO_HOME_SHARE}`],
      apiAddress: async () => {
        const port = parseUsernetPort(await (await channels.qmp()).hmp('info usernet'), GUEST_API_PORT);
        if (!port) throw new Error('QEMU did not report the API forward');
        return { host: '127.0.0.1', port };
      },
      requestPoweroff: () => channels.control('poweroff'),
      kill: () => {
        channels.close();
        proc.kill('SIGKILL');
      },
      forwardPort: async (f) => {
        const out = await (await channels.qmp()).hmp(`hostfwd_add net0 ${rule(f)}-${SLIRP.guest}:${f.guestPort}`);
        if (out.trim()) throw new Error(out.trim().replace(/\r?\n/g, ' '));
      },
      unforwardPort: async (f) => {
        const out = await (await channels.qmp()).hmp(`hostfwd_remove net0 ${rule(f)}`);
        if (out.trim() && !/not found/.test(out)) throw new Error(out.trim());
      },
    };
  }
}

/** Why the qemu driver on Windows shares no folder, and what does. */
export const NO_HOME_SHARE =
  'QEMU for Windows has no 9p (virtfs), and its other folder sharing (-netdev user,smb=) runs Samba, which Windows ' +
  'does not have, so bind mounts of host folders see none of the host; the wsl driver (the default on Windows) ' +
  'shares the drives: berth vm start --driver wsl';
