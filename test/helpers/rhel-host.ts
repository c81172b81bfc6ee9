// A test host that looks like CentOS/RHEL 9 below Berth's API (scripts/vm-image.sh --flavor rhel: systemd as PID 1
// on cgroup v2, firewalld on nftables, sshd, sudo, the user cloud-user), booted through src/vm's QEMU driver with a
// private Berth home. Berth gets in as under Remote-SSH: the extension's folder (this checkout's dist/ and
// engine-bin/, staged as an installed extension) and a Node runtime (this host's, standing in for the VS Code
// server's) are shared read-only by 9p at ~/.vscode-server; the user runs the extension's one sudo command over SSH,
// and the docker CLI talks to the service's socket through an SSH-forwarded unix socket (the user is in the berth
// group from the next login on, as the command says). One boot serves every suite of a run (sharedRhelHost): each
// TCG boot of it costs about a minute of emulated systemd, firewalld and sshd.
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Hypervisor, Share } from '../../src/vm/driver';
import { loadImage } from '../../src/vm/image';
import { VmPaths } from '../../src/vm/paths';
import { QemuDriver } from '../../src/vm/qemu';
import { ensureDataDisk } from '../../src/vm/supervisor';
import { type Registry, seedMirror, startRegistry } from '../fixtures';
import { DIST, type DockerResult, ROOT } from './engine';
import { freePort } from './net';

export const USER = 'cloud-user';
export const SERVER_DIR = `/home/${USER}/.vscode-server`;
/** Where the staged extension is in the guest, as Remote-SSH installs one. */
export const EXTENSION_PATH = `${SERVER_DIR}/extensions/berth.berth`;
/** The VS Code server's Node runtime (this host's node, shared). */
export const SERVER_NODE = `${SERVER_DIR}/bin/node`;

export interface RhelHost {
  dir: string;
  registry: Registry;
  registryInGuest: string;
  hv: Hypervisor;
  /** Runs a command as cloud-user over SSH; throws with its output when it fails (unless `allowFail`). */
  ssh(command: string, opts?: { allowFail?: boolean; timeoutMs?: number }): { code: number; out: string };
  /** Opens the SSH-forwarded socket to the guest's `remote` socket (again after the engine restarts). */
  tunnel(remote?: string): Promise<void>;
  docker(args: string[], opts?: { timeoutMs?: number }): DockerResult;
  /** A host loopback port forwarded to the guest's `guestPort` (QEMU's user network, through QMP). */
  forward(guestPort: number): Promise<number>;
  consoleTail(lines?: number): string;
  stop(): Promise<void>;
}

/** The image for this checkout, rebuilt (outside any network namespace: it needs the Debian mirror) when stale. */
export function ensureRhelImage(): string {
  const dir = path.join(DIST, 'vm', 'rhel-x64');
  const { inputsHash } = require(path.join(ROOT, 'scripts/vm/inputs-hash.cjs'));
  let inputs: string | undefined;
  try {
    inputs = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')).inputs;
  } catch {
    /* none yet */
  }
  if (inputs !== inputsHash(ROOT, 'rhel')) {
    console.log('    (building the RHEL-like host image: scripts/vm-image.sh --flavor rhel)');
    execFileSync('bash', [path.join(ROOT, 'scripts/vm-image.sh'), '--flavor', 'rhel', '--arch', 'x64'], {
      stdio: ['ignore', 'inherit', 'inherit'],
    });
  }
  return dir;
}

/** The extension as installed under ~/.vscode-server/extensions: what systemdInstallCommand copies from. */
function stageServer(dir: string): string {
  const server = path.join(dir, 'server');
  const ext = path.join(server, 'extensions', 'berth.berth');
  fs.mkdirSync(path.join(ext, 'dist'), { recursive: true });
  fs.mkdirSync(path.join(server, 'bin'), { recursive: true });
  fs.copyFileSync(path.join(DIST, 'engine.js'), path.join(ext, 'dist', 'engine.js'));
  fs.cpSync(path.join(DIST, 'bin'), path.join(ext, 'dist', 'bin'), { recursive: true });
  fs.cpSync(path.join(ROOT, 'engine-bin'), path.join(ext, 'engine-bin'), { recursive: true });
  fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(ext, 'package.json'));
  fs.copyFileSync(process.execPath, path.join(server, 'bin', 'node'));
  fs.chmodSync(path.join(server, 'bin', 'node'), 0o755);
  return server;
}

export async function bootRhelHost(opts: { memoryMiB?: number; cpus?: number } = {}): Promise<RhelHost> {
  const image = loadImage(ensureRhelImage(), { verify: false });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-rhel-'));
  const paths = new VmPaths('rhel', dir);
  paths.ensureDir();
  const seed = path.join(dir, 'seed');
  fs.mkdirSync(seed);
  const key = path.join(dir, 'id_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'berth-test', '-f', key]);
  fs.copyFileSync(`${key}.pub`, path.join(seed, 'authorized_keys'));
  const shares: Share[] = [
    { tag: 'berth-seed', hostPath: seed, guestPath: '/run/berth-seed', readonly: true },
    { tag: 'berth-server', hostPath: stageServer(dir), guestPath: SERVER_DIR, readonly: true },
  ];
  ensureDataDisk(paths.dataDisk, 8);
  const consoleLog = path.join(dir, 'console.log');
  const consoleOut = fs.createWriteStream(consoleLog);
  const registry = await startRegistry();
  await seedMirror(registry);
  const registryInGuest = `10.0.2.2:${registry.host.split(':')[1]}`;
  const hv = await new QemuDriver().launch({
    paths,
    config: {
      name: 'rhel',
      driver: 'qemu',
      cpus: opts.cpus ?? 2,
      memoryMiB: opts.memoryMiB ?? 1536,
      diskGiB: 8,
      arch: 'x64',
    },
    image,
    shares,
    log: (line) => consoleOut.write(`${line}\n`),
  });
  hv.console.pipe(consoleOut);
  let exited = false;
  void hv.exited.then(() => (exited = true));
  const consoleTail = (n = 30) => {
    try {
      return fs.readFileSync(consoleLog, 'utf8').split('\n').slice(-n).join('\n');
    } catch {
      return '';
    }
  };
  const forward = async (guestPort: number) => {
    const hostPort = await freePort();
    await hv.forwardPort!({ protocol: 'tcp', hostIp: '127.0.0.1', hostPort, guestPort });
    return hostPort;
  };
  const sshPort = await forward(22);
  const sshArgs = [
    '-i',
    key,
    '-p',
    String(sshPort),
    '-o',
    'StrictHostKeyChecking=no',
    '-o',
    'UserKnownHostsFile=/dev/null',
    '-o',
    'LogLevel=ERROR',
    '-o',
    'BatchMode=yes',
    '-o',
    'ConnectTimeout=20',
  ];
  const ssh: RhelHost['ssh'] = (command, o = {}) => {
    const r = spawnSync('ssh', [...sshArgs, `${USER}@127.0.0.1`, command], {
      encoding: 'utf8',
      timeout: o.timeoutMs ?? 120_000,
    });
    const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
    const code = r.status ?? -1;
    if (code !== 0 && !o.allowFail) throw new Error(`ssh ${command}: exit ${code}\n${out}`);
    return { code, out };
  };
  const deadline = Date.now() + 240_000;
  for (;;) {
    if (exited) throw new Error(`the RHEL-like host stopped while booting:\n${consoleTail()}`);
    if (ssh('true', { allowFail: true, timeoutMs: 30_000 }).code === 0) break;
    if (Date.now() > deadline) {
      hv.kill();
      throw new Error(`no SSH login into the RHEL-like host within 240 s:\n${consoleTail()}`);
    }
    await new Promise((r) => setTimeout(r, 1000));
  }

  const sock = path.join(dir, 'berth.sock');
  let tunnelProc: ChildProcess | undefined;
  const closeTunnel = () => {
    tunnelProc?.kill();
    tunnelProc = undefined;
    fs.rmSync(sock, { force: true });
  };
  const dockerConfig = path.join(dir, 'docker-config');
  fs.mkdirSync(dockerConfig);
  const docker: RhelHost['docker'] = (args, o = {}) => {
    const r = spawnSync('docker', args, {
      env: { ...process.env, DOCKER_HOST: `unix://${sock}`, DOCKER_CONFIG: dockerConfig },
      encoding: 'utf8',
      timeout: o.timeoutMs ?? 180_000,
    });
    return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  };
  return {
    dir,
    registry,
    registryInGuest,
    hv,
    ssh,
    docker,
    forward,
    consoleTail,
    async tunnel(remote = '/run/berth/berth.sock') {
      closeTunnel();
      tunnelProc = spawn(
        'ssh',
        [...sshArgs, '-N', '-o', 'ExitOnForwardFailure=yes', '-L', `${sock}:${remote}`, `${USER}@127.0.0.1`],
        { stdio: 'ignore' },
      );
      const end = Date.now() + 60_000;
      while (docker(['version', '--format', '{{.Server.Version}}'], { timeoutMs: 20_000 }).code !== 0) {
        if (Date.now() > end) throw new Error(`no engine through the SSH tunnel:\n${consoleTail()}`);
        await new Promise((r) => setTimeout(r, 500));
      }
    },
    async stop() {
      closeTunnel();
      // The guest and its disk are thrown away: nothing to shut down cleanly (a power-off request outlasted the 30 s
      // it was given under TCG each time, then came the kill).
      if (!exited) {
        hv.kill();
        await hv.exited;
      }
      consoleOut.end();
      await registry.stop();
      if (!process.env.BERTH_KEEP_RHEL) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

let shared: Promise<RhelHost> | undefined;
let suitesLeft = 0;

async function stopShared(): Promise<void> {
  const host = await shared?.catch(() => undefined);
  shared = undefined;
  await host?.stop();
}

/**
 * The run's one RHEL-like host, for a suite: call it in the describe body; `get()` (in the suite's before hook) boots
 * it the first time, `release()` (in its after hook) stops it once the last suite that asked for it is done. Each
 * suite leaves the host as it found it: no engine of its own running, no containers, no process of its own left.
 * A boot that failed is tried again by the next suite.
 */
export function sharedRhelHost(): { get(): Promise<RhelHost>; release(): Promise<void> } {
  suitesLeft++;
  let released = false;
  return {
    get() {
      shared ??= bootRhelHost().catch((err) => {
        shared = undefined;
        throw err;
      });
      return shared;
    },
    async release() {
      if (released) return;
      released = true;
      if (--suitesLeft === 0) await stopShared();
    },
  };
}

// Root-level hook (this module is loaded once): the host goes at the end of the run even where a suite's hooks did
// not run (--grep). Outside mocha there is no hook: whoever boots stops.
if (typeof after === 'function')
  after(async function () {
    this.timeout(120_000);
    await stopShared();
  });
