// The vfkit driver (macOS): Apple's Virtualization.framework through vfkit, as Podman uses it, with gvproxy as the
// user-mode network (Apple's NAT breaks some VPNs; gvproxy also publishes ports through its expose API). The guest is
// the same image: the kernel uncompressed (vfkit rejects compressed arm64 kernels), virtiofs shares instead of 9p,
// the console on a virtio-serial port (hvc0). Published ports as with QEMU: the guest's berthd asks the supervisor's
// port service (reached at gvproxy's host address, NATed to the host's loopback) and the supervisor has gvproxy
// expose the port, so a host port another program holds fails the start. Not booted in CI (no macOS there); on
// Linux its launch, expose/unexpose and the whole port path run against stand-ins (test/vm/vfkit.test.ts).
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
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
import type { GuestArch } from './image';

/** gvproxy's fixed addresses; `host` is NATed to the host's 127.0.0.1 (its default HostIP, cmd/gvproxy/config.go). */
export const GVPROXY = {
  guest: '192.168.127.2',
  prefix: 24,
  gateway: '192.168.127.1',
  host: '192.168.127.254',
} as const;
export const GUEST_MAC = '5a:94:ef:e4:0c:ee';

export function vfkitCmdline(shares: Share[]): string {
  return [
    'console=hvc0',
    'quiet',
    'panic=-1',
    ...GUEST_KERNEL_OPTIONS,
    `berth.net=${GVPROXY.guest}/${GVPROXY.prefix}:${GVPROXY.gateway}:${GVPROXY.gateway}`,
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
  /** gvproxy's vfkit datagram socket. */
  networkSocket: string;
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
    `linux,kernel=${i.kernel},initrd=${i.initrd},cmdline="${vfkitCmdline(i.shares)}"`,
    '--device',
    `virtio-blk,path=${i.root}`,
    '--device',
    `virtio-blk,path=${i.dataDisk}`,
    '--device',
    `virtio-net,unixSocketPath=${i.networkSocket},mac=${GUEST_MAC}`,
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

/** Why vfkit cannot run (given the platform), saying what to install; undefined when it can. */
export function vfkitUnavailable(
  bundleDir: string,
  platform: NodeJS.Platform = process.platform,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  if (platform !== 'darwin') return 'the vfkit driver runs on macOS only';
  if (!findVfkitTool('vfkit', bundleDir, env)) return 'the vfkit driver needs vfkit: brew install vfkit';
  if (!findVfkitTool('gvproxy', bundleDir, env))
    return 'the vfkit driver needs gvproxy: brew install podman (it ships gvproxy)';
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

  async unavailable(_arch: GuestArch, bundleDir: string): Promise<string | undefined> {
    return vfkitUnavailable(bundleDir);
  }

  async launch(ctx: LaunchContext): Promise<Hypervisor> {
    const bundleDir = ctx.bundleDir ?? __dirname;
    const vfkit = findVfkitTool('vfkit', bundleDir);
    const gvproxy = findVfkitTool('gvproxy', bundleDir);
    if (!vfkit || !gvproxy) throw new Error(vfkitUnavailable(bundleDir, 'darwin') ?? 'vfkit missing');
    const d = ctx.paths.dir;
    const netSock = path.join(d, 'gvproxy-vfkit.sock');
    const gvApi = path.join(d, 'gvproxy.sock');
    const rest = path.join(d, 'vfkit.sock');
    for (const s of [netSock, gvApi, rest]) fs.rmSync(s, { force: true });
    const gv = spawn(gvproxy, gvproxyArgs(netSock, gvApi, path.join(d, 'gvproxy.pid')), { stdio: 'ignore' });
    for (let i = 0; i < 100 && !fs.existsSync(netSock); i++) await new Promise((r) => setTimeout(r, 50));
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
      networkSocket: netSock,
      restSocket: rest,
      consoleLog,
    });
    ctx.log(`vfkit: ${vfkit} ${args.join(' ')}`);
    const child = spawn(vfkit, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr.on('data', (b: Buffer) => ctx.log(`vfkit: ${b.toString().trimEnd()}`));
    const exited = new Promise<number | null>((resolve) => {
      child.on('exit', (code) => {
        gv.kill();
        resolve(code);
      });
      child.on('error', () => resolve(-1));
    });
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
    return {
      pid: child.pid ?? -1,
      accel: 'vz',
      console: consoleStream,
      exited,
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
      requestPoweroff: async () => {
        await postUnix(rest, '/vm/state', { state: 'Stop' });
      },
      kill: () => {
        child.kill('SIGKILL');
        gv.kill('SIGKILL');
      },
      forwardPort: async (f) => {
        await postUnix(gvApi, '/services/forwarder/expose', gvproxyExpose(f));
      },
      unforwardPort: async (f) => {
        const { local, protocol } = gvproxyExpose(f);
        await postUnix(gvApi, '/services/forwarder/unexpose', { local, protocol });
      },
    };
  }
}
