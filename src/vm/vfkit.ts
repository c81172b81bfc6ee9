// The vfkit driver (macOS): Apple's Virtualization.framework through vfkit, as Podman uses it, with gvproxy as the
// user-mode network when it is there (Apple's NAT breaks some VPNs; gvproxy also publishes ports through its expose
// API), else vfkit's own NAT. The guest is the same image: the kernel uncompressed (vfkit rejects compressed arm64
// kernels), virtiofs shares instead of 9p, the console on a virtio-serial port (hvc0). Published ports as with QEMU:
// the guest's berthd asks the supervisor's port service and the supervisor publishes the port on the host's
// 127.0.0.1 before the start answers, so a host port another program holds fails it. With gvproxy the guest reaches
// the service at gvproxy's host address (NATed to the host's loopback) and gvproxy exposes the port. On Apple's NAT
// the guest takes a DHCP lease, the host finds its address in macOS's lease file by the VM's MAC, the guest reaches
// the service at its default gateway (the host's address on that network) and the supervisor relays the port to
// the guest's address itself (forward.ts). Not booted in CI (no macOS there); on Linux its launch, both networks and
// the whole port path run against stand-ins (test/vm/vfkit.test.ts).
import { spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
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
import { relayPort } from './forward';
import type { GuestArch } from './image';

/** gvproxy's fixed addresses; `host` is NATed to the host's 127.0.0.1 (its default HostIP, cmd/gvproxy/config.go). */
export const GVPROXY = {
  guest: '192.168.127.2',
  prefix: 24,
  gateway: '192.168.127.1',
  host: '192.168.127.254',
} as const;
export const GUEST_MAC = '5a:94:ef:e4:0c:ee';
/** Where macOS's DHCP server (bootpd, serving vmnet's NAT) records its leases. */
export const DHCPD_LEASES = '/var/db/dhcpd_leases';

/** The guest's network: gvproxy's (its vfkit socket), or vfkit's own NAT with a MAC of this VM's. */
export type VfkitNetwork = { kind: 'gvproxy'; socket: string } | { kind: 'nat'; mac: string };

/**
 * A VM's MAC on Apple's NAT, from its folder: stable across starts (its lease, so its address, stays), and another
 * VM's (or another user's) differs — the NAT is one network for the whole Mac. Locally administered, unicast.
 */
export function natMac(vmDir: string): string {
  const b = crypto.createHash('sha256').update(vmDir).digest().subarray(0, 6);
  b[0] = (b[0] & 0xfc) | 0x02;
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

export function vfkitCmdline(shares: Share[], network: VfkitNetwork['kind'] = 'gvproxy'): string {
  return [
    'console=hvc0',
    'quiet',
    'panic=-1',
    ...GUEST_KERNEL_OPTIONS,
    network === 'gvproxy'
      ? `berth.net=${GVPROXY.guest}/${GVPROXY.prefix}:${GVPROXY.gateway}:${GVPROXY.gateway}`
      : 'berth.net=dhcp',
    'berth.data=/dev/vdb',
    ...shares.map((s) => `berth.share=virtiofs:${s.tag}:${encodeCmdlinePath(s.guestPath)}`),
  ].join(' ');
}

export interface VfkitArgsInput {
  cpus: number;
  memoryMiB: number;
  kernel: string;
  initrd: string;
  root: string;
  dataDisk: string;
  shares: Share[];
  network: VfkitNetwork;
  /** vfkit's REST API (stop requests). */
  restSocket: string;
  consoleLog: string;
}

export function vfkitArgs(i: VfkitArgsInput): string[] {
  return [
    '--cpus',
    String(i.cpus),
    '--memory',
    String(i.memoryMiB),
    '--bootloader',
    `linux,kernel=${i.kernel},initrd=${i.initrd},cmdline="${vfkitCmdline(i.shares, i.network.kind)}"`,
    '--device',
    `virtio-blk,path=${i.root}`,
    '--device',
    `virtio-blk,path=${i.dataDisk}`,
    '--device',
    i.network.kind === 'gvproxy'
      ? `virtio-net,unixSocketPath=${i.network.socket},mac=${GUEST_MAC}`
      : `virtio-net,nat,mac=${i.network.mac}`,
    '--device',
    'virtio-rng',
    '--device',
    `virtio-serial,logFilePath=${i.consoleLog}`,
    ...i.shares.flatMap((s) => ['--device', `virtio-fs,sharedDir=${s.hostPath},mountTag=${s.tag}`]),
    '--restful-uri',
    `unix://${i.restSocket}`,
  ];
}

export function gvproxyArgs(networkSocket: string, apiSocket: string, pidFile: string): string[] {
  return [
    '-listen-vfkit',
    `unixgram://${networkSocket}`,
    '-listen',
    `unix://${apiSocket}`,
    '-ssh-port',
    '-1',
    '-pid-file',
    pidFile,
  ];
}

/** gvproxy's expose/unexpose request bodies for a published port. */
export function gvproxyExpose(
  f: PortForward,
  guest = GVPROXY.guest,
): { local: string; remote: string; protocol: string } {
  return { local: `${f.hostIp}:${f.hostPort}`, remote: `${guest}:${f.guestPort}`, protocol: f.protocol };
}

const VFKIT_DIRS = [
  '/opt/homebrew/bin',
  '/usr/local/bin',
  '/opt/podman/bin',
  '/Applications/Podman Desktop.app/Contents/Resources',
];

/**
 * vfkit or gvproxy: the extension's own first (<dist>/bin, where a darwin VSIX carries them), else on PATH, else
 * where Homebrew and Podman put them.
 */
export function findVfkitTool(
  name: 'vfkit' | 'gvproxy',
  bundleDir: string,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  return findExecutable(name, [], { PATH: path.join(bundleDir, 'bin') }) ?? findExecutable(name, VFKIT_DIRS, env);
}

/** Why vfkit cannot run (given the platform), saying what to install; undefined when it can (gvproxy or not). */
export function vfkitUnavailable(
  bundleDir: string,
  platform: NodeJS.Platform = process.platform,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  if (platform !== 'darwin') return 'the vfkit driver runs on macOS only';
  if (!findVfkitTool('vfkit', bundleDir, env)) return 'the vfkit driver needs vfkit: brew install vfkit';
  return undefined;
}

/** The network a vfkit VM gets: gvproxy's where it is found, else vfkit's own NAT. */
export function vfkitNetworkKind(bundleDir: string, env: NodeJS.ProcessEnv = process.env): VfkitNetwork['kind'] {
  return findVfkitTool('gvproxy', bundleDir, env) ? 'gvproxy' : 'nat';
}

/**
 * The address macOS's DHCP server leased to `mac` (its lease file, as vfkit's documentation says to find a guest):
 * blocks of key=value lines, the MAC as `hw_address=1,5a:94:ef:e4:c:ee` (bytes without leading zeros), the newest
 * lease (a hex expiry time) first among several of one MAC.
 */
export function leasedAddress(leases: string, mac: string): string | undefined {
  return leaseOf(leases, mac)?.ip;
}

function leaseOf(leases: string, mac: string): { ip: string; until: number } | undefined {
  const norm = (m: string) =>
    m
      .split(':')
      .map((x) => Number.parseInt(x, 16))
      .join(':');
  const want = norm(mac);
  let best: { ip: string; until: number } | undefined;
  for (const block of leases.split('}')) {
    const field = (k: string) => new RegExp(`^\\s*${k}=(.*)$`, 'm').exec(block)?.[1].trim();
    const hw = field('hw_address');
    const ip = field('ip_address');
    if (!hw || !ip || !net.isIPv4(ip) || norm(hw.replace(/^\d+,/, '')) !== want) continue;
    const until = Number.parseInt(field('lease') ?? '0', 16) || 0;
    if (!best || until > best.until) best = { ip, until };
  }
  return best;
}

/** This machine's address on the network `guest` is on (the NAT's gateway, which the guest reaches it at). */
export function hostAddressFacing(
  guest: string,
  interfaces: NodeJS.Dict<os.NetworkInterfaceInfo[]> = os.networkInterfaces(),
): string | undefined {
  const n = (ip: string) => ip.split('.').reduce((a, b) => a * 256 + Number(b), 0);
  for (const list of Object.values(interfaces))
    for (const i of list ?? []) {
      if (i.family !== 'IPv4' || i.internal || i.address === guest) continue;
      const mask = n(i.netmask);
      // Unsigned 32-bit arithmetic (the high bit of an address sets the sign of a JS bitwise result).
      if ((n(i.address) & mask) >>> 0 === (n(guest) & mask) >>> 0) return i.address;
    }
  return undefined;
}

/** An uncompressed copy of a gzip-compressed kernel (arm64 Image.gz), made once per VM directory. */
export function uncompressedKernel(kernel: string, dest: string): string {
  const head = Buffer.alloc(2);
  const fd = fs.openSync(kernel, 'r');
  fs.readSync(fd, head, 0, 2, 0);
  fs.closeSync(fd);
  if (head[0] !== 0x1f || head[1] !== 0x8b) return kernel;
  if (!fs.existsSync(dest) || fs.statSync(dest).mtimeMs < fs.statSync(kernel).mtimeMs)
    fs.writeFileSync(dest, zlib.gunzipSync(fs.readFileSync(kernel)));
  return dest;
}

/** One request to gvproxy's (or vfkit's) HTTP API on its unix socket; rejects with the body of an error answer. */
function postUnix(socketPath: string, urlPath: string, body: unknown): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { socketPath, path: urlPath, method: 'POST', headers: { 'content-type': 'application/json' } },
      (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => (res.statusCode && res.statusCode < 300 ? resolve(text) : reject(new Error(text.trim()))));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export class VfkitDriver implements VmDriver {
  readonly name = 'vfkit' as const;

  /** dhcpLeases: macOS's lease file (a stand-in's in the tests). */
  constructor(private readonly dhcpLeases = DHCPD_LEASES) {}

  async unavailable(_arch: GuestArch, bundleDir: string): Promise<string | undefined> {
    return vfkitUnavailable(bundleDir);
  }

  async launch(ctx: LaunchContext): Promise<Hypervisor> {
    const bundleDir = ctx.bundleDir ?? __dirname;
    const vfkit = findVfkitTool('vfkit', bundleDir);
    if (!vfkit) throw new Error(vfkitUnavailable(bundleDir, 'darwin') ?? 'vfkit missing');
    const gvproxy = findVfkitTool('gvproxy', bundleDir);
    const d = ctx.paths.dir;
    const netSock = path.join(d, 'gvproxy-vfkit.sock');
    const gvApi = path.join(d, 'gvproxy.sock');
    const rest = path.join(d, 'vfkit.sock');
    for (const s of [netSock, gvApi, rest]) fs.rmSync(s, { force: true });
    let gv: ReturnType<typeof spawn> | undefined;
    if (gvproxy) {
      gv = spawn(gvproxy, gvproxyArgs(netSock, gvApi, path.join(d, 'gvproxy.pid')), { stdio: 'ignore' });
      for (let i = 0; i < 100 && !fs.existsSync(netSock); i++) await new Promise((r) => setTimeout(r, 50));
    } else ctx.log("vfkit: no gvproxy found: vfkit's own NAT, published ports relayed by the supervisor");
    const network: VfkitNetwork = gvproxy ? { kind: 'gvproxy', socket: netSock } : { kind: 'nat', mac: natMac(d) };
    const consoleLog = path.join(d, 'vfkit-console.log');
    fs.writeFileSync(consoleLog, '');
    const args = vfkitArgs({
      cpus: ctx.config.cpus,
      memoryMiB: ctx.config.memoryMiB,
      kernel: uncompressedKernel(ctx.image.kernel, ctx.paths.vfkitKernel),
      initrd: ctx.image.initrd,
      root: ctx.image.root,
      dataDisk: ctx.paths.dataDisk,
      shares: ctx.shares,
      network,
      restSocket: rest,
      consoleLog,
    });
    ctx.log(`vfkit: ${vfkit} ${args.join(' ')}`);
    const child = spawn(vfkit, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr.on('data', (b: Buffer) => ctx.log(`vfkit: ${b.toString().trimEnd()}`));
    const relays = new Map<string, () => Promise<void>>();
    const exited = new Promise<number | null>((resolve) => {
      child.on('exit', (code) => {
        gv?.kill();
        for (const end of relays.values()) void end();
        relays.clear();
        resolve(code);
      });
      child.on('error', () => resolve(-1));
    });
    let gone = false;
    void exited.then(() => (gone = true));
    // vfkit writes the console to a file: follow it as a stream.
    const { PassThrough } = await import('node:stream');
    const consoleStream = new PassThrough();
    let offset = 0;
    const follow = setInterval(() => {
      try {
        const size = fs.statSync(consoleLog).size;
        if (size > offset) {
          const fd = fs.openSync(consoleLog, 'r');
          const buf = Buffer.alloc(size - offset);
          fs.readSync(fd, buf, 0, buf.length, offset);
          fs.closeSync(fd);
          offset = size;
          consoleStream.write(buf);
        }
      } catch {
        /* not yet */
      }
    }, 200);
    void exited.then(() => {
      clearInterval(follow);
      consoleStream.end();
    });
    const common = {
      pid: child.pid ?? -1,
      accel: 'vz',
      console: consoleStream,
      exited,
      requestPoweroff: async () => {
        await postUnix(rest, '/vm/state', { state: 'Stop' });
      },
      kill: () => {
        child.kill('SIGKILL');
        gv?.kill('SIGKILL');
      },
    };
    if (network.kind === 'gvproxy')
      return {
        ...common,
        // The API on a loopback port free a moment ago (another program may take it first: another one then).
        apiAddress: async () => {
          for (let attempt = 0; ; attempt++) {
            const hostPort = await freeLoopbackPort();
            const api = { protocol: 'tcp' as const, hostIp: '127.0.0.1', hostPort, guestPort: GUEST_API_PORT };
            try {
              await postUnix(gvApi, '/services/forwarder/expose', gvproxyExpose(api));
              return { host: '127.0.0.1', port: hostPort };
            } catch (err) {
              if (attempt >= 4 || !/address already in use/.test((err as Error).message)) throw err;
            }
          }
        },
        forwardPort: async (f) => {
          await postUnix(gvApi, '/services/forwarder/expose', gvproxyExpose(f));
        },
        unforwardPort: async (f) => {
          const { local, protocol } = gvproxyExpose(f);
          await postUnix(gvApi, '/services/forwarder/unexpose', { local, protocol });
        },
      };

    // Apple's NAT: the guest's address is the one leased to its MAC, polled for while it boots (the host reaches
    // the guest's API there directly: it is only on this Mac's NAT network). A lease from an earlier start is not
    // it: the guest's DHCP request renews it (a later expiry) or takes another.
    const readLeases = () => {
      try {
        return fs.readFileSync(this.dhcpLeases, 'utf8');
      } catch {
        return '';
      }
    };
    const earlier = leaseOf(readLeases(), network.mac)?.until ?? -1;
    const leased = (async () => {
      for (;;) {
        if (gone) throw new Error('vfkit exited before the guest took a DHCP lease');
        const lease = leaseOf(readLeases(), network.mac);
        const ip = lease && lease.until > earlier ? lease.ip : undefined;
        if (ip) {
          ctx.log(`vfkit: the guest (${network.mac}) leased ${ip}`);
          return ip;
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    leased.catch(() => undefined);
    const key = (f: PortForward) => `${f.protocol}/${f.hostIp}:${f.hostPort}`;
    return {
      ...common,
      apiAddress: async () => ({ host: await leased, port: GUEST_API_PORT }),
      guestSideHost: async () => {
        const guest = await leased;
        const host = hostAddressFacing(guest);
        if (!host) throw new Error(`no address of this Mac on the VM's network (the guest has ${guest})`);
        return host;
      },
      forwardPort: async (f) => {
        if (relays.has(key(f))) return;
        relays.set(key(f), await relayPort(f, await leased));
      },
      unforwardPort: async (f) => {
        const end = relays.get(key(f));
        relays.delete(key(f));
        await end?.();
      },
    };
  }
}
