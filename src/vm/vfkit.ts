// The vfkit driver (macOS): Apple's Virtualization.framework through vfkit, as Podman uses it, with gvproxy as the
// user-mode network (Apple's NAT breaks some VPNs; gvproxy also publishes ports through its expose API). The guest is
// the same image: the kernel uncompressed (vfkit rejects compressed arm64 kernels), virtiofs shares instead of 9p,
// the console on a virtio-serial port (hvc0). Not booted in CI (no macOS there): its command lines are unit-tested.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import {
  encodeCmdlinePath,
  findExecutable,
  GUEST_API_PORT,
  type Hypervisor,
  type LaunchContext,
  type PortForward,
  type Share,
  type VmDriver,
} from './driver';
import type { GuestArch } from './image';

/** gvproxy's fixed addresses. */
export const GVPROXY = { guest: '192.168.127.2', prefix: 24, gateway: '192.168.127.1' } as const;
export const GUEST_MAC = '5a:94:ef:e4:0c:ee';

export function vfkitCmdline(shares: Share[]): string {
  return [
    'console=hvc0',
    'quiet',
    'panic=-1',
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

export class VfkitDriver implements VmDriver {
  readonly name = 'vfkit' as const;

  async unavailable(_arch: GuestArch): Promise<string | undefined> {
    if (process.platform !== 'darwin') return 'the vfkit driver runs on macOS only';
    if (!findExecutable('vfkit', VFKIT_DIRS)) return 'the vfkit driver needs vfkit: brew install vfkit';
    if (!findExecutable('gvproxy', VFKIT_DIRS))
      return 'the vfkit driver needs gvproxy: brew install podman (it ships gvproxy)';
    return undefined;
  }

  async launch(ctx: LaunchContext): Promise<Hypervisor> {
    const vfkit = findExecutable('vfkit', VFKIT_DIRS);
    const gvproxy = findExecutable('gvproxy', VFKIT_DIRS);
    if (!vfkit || !gvproxy) throw new Error((await this.unavailable(ctx.config.arch)) ?? 'vfkit missing');
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
    const apiPort = 20000 + Math.floor(Math.random() * 20000);
    const api = { protocol: 'tcp' as const, hostIp: '127.0.0.1', hostPort: apiPort, guestPort: GUEST_API_PORT };
    return {
      pid: child.pid ?? -1,
      accel: 'vz',
      console: consoleStream,
      exited,
      apiAddress: async () => {
        await postUnix(gvApi, '/services/forwarder/expose', gvproxyExpose(api));
        return { host: '127.0.0.1', port: apiPort };
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
