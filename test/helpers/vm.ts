// One real guest per test run, shared by every suite that asks for it (booting takes ~20 s under TCG): the Berth VM
// started through src/vm exactly as `berth vm start` does it, on a private Berth home, with a local registry the
// guest reaches at 10.0.2.2 as its Docker Hub mirror. Suites get the VM's socket, the docker CLI pointed at it, and a
// way to run commands in the guest (a privileged container that enters PID 1's namespaces). The VM is stopped after
// the last test of the run, leaving no process behind. Made for reuse: the RHEL-host work runs its guest tests here.
import * as assert from 'node:assert/strict';
import { requireDeps } from './deps';
import { type SpawnSyncReturns, execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { EngineClient } from '../../src/client';
import { startVm, stopVm, type VmStartOptions, type VmStatus, vmStatus } from '../../src/vm';
import { VmPaths } from '../../src/vm/paths';
import { findQemu } from '../../src/vm/qemu';
import { type Registry, seedMirror, startRegistry } from '../fixtures';
import { DIST, type DockerResult, ROOT } from './engine';
import { eventually, httpGet } from './net';

export interface TestVm {
  name: string;
  home: string;
  status: VmStatus;
  /** unix:///…/berth.sock */
  host: string;
  socket: string;
  /** QEMU's end of the guest's control port (scripts/vm/guest/control.run). */
  controlSocket: string;
  client: EngineClient;
  registry: Registry;
  /** The registry as the guest reaches it: 10.0.2.2:PORT. */
  registryInGuest: string;
  docker(args: string[], opts?: { input?: string; timeoutMs?: number }): DockerResult;
  dockerAsync(args: string[], opts?: { timeoutMs?: number }): Promise<DockerResult>;
  /** The end of the VM's console log (the guest's kernel and berthd, the relay's cut connections): for failures. */
  consoleTail(lines?: number): string;
  /** Runs a shell command in the guest (as root, in PID 1's namespaces); throws with its output when it fails. */
  guest(command: string): string;
  /** Stops and starts the VM again (same disk). */
  restart(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The guest's own view of its memory, asked on the control port (scripts/vm/guest/control.run): /proc/meminfo, the
 * guest berthd's RSS and the kernel's boot-time "Memory:" line, kB — read without starting a container in the guest.
 */
export async function guestMemory(controlSocket: string): Promise<{ kB: (key: string) => number; kernelLine: string }> {
  const out = await new Promise<string>((resolve, reject) => {
    let text = '';
    const s = net.connect(controlSocket, () => s.write('meminfo\n'));
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error('the guest did not answer on its control port'));
    }, 30_000);
    s.on('data', (d) => {
      text += d;
      if (/^end$/m.test(text)) {
        clearTimeout(timer);
        s.end();
        resolve(text);
      }
    });
    s.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
  return {
    kB: (key) => Number(new RegExp(`^${key.replace(/[.()]/g, '\\$&')}:\\s+(\\d+)`, 'm').exec(out)?.[1] ?? 0),
    kernelLine: /Memory: .*/.exec(out)?.[0] ?? '',
  };
}

/**
 * QEMU's resident memory by kind, kB: its guest-RAM mapping (the one anonymous mapping of exactly the VM's memory
 * size), TCG's translated-code cache (anonymous executable mappings: QEMU maps its code buffer rwx), QEMU's own
 * anonymous memory (the other anonymous mappings: heap, thread stacks, device state), and the unpacked kernel QEMU keeps
 * mapped after loading it (TCG boots the ELF, hardware acceleration the bzImage it copies), and the root image the
 * guest maps through virtio-pmem (DAX: the guest's file pages, the host's page cache of root.img). Summed from smaps: the
 * RssAnon counter of /proc/PID/status is approximate for a many-threaded process (5-7 MB more here).
 */
export function qemuParts(
  pid: number | undefined,
  memoryMiB: number,
): { guestRam: number; tcgCache: number; ownAnon: number; kernelElf: number; rootImage: number } {
  const parts = { guestRam: 0, tcgCache: 0, ownAnon: 0, kernelElf: 0, rootImage: 0 };
  if (!pid) return parts;
  let kind: keyof typeof parts | undefined;
  for (const line of fs.readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(\S*)/.exec(line);
    if (m) {
      const anonymous = m[4] === '' || /^\[(heap|stack|anon)/.test(m[4]);
      kind =
        anonymous && (Number.parseInt(m[2], 16) - Number.parseInt(m[1], 16)) / 1048576 === memoryMiB
          ? 'guestRam'
          : anonymous && m[3].includes('x')
            ? 'tcgCache'
            : anonymous
              ? 'ownAnon'
              : m[4].endsWith('/vmlinux')
                ? 'kernelElf'
                : m[4].endsWith('/root.img')
                  ? 'rootImage'
                  : undefined;
    } else if (kind && line.startsWith('Rss:')) parts[kind] += Number(/(\d+)/.exec(line)![1]);
  }
  return parts;
}

/** The guest image for the host's architecture, rebuilt when it no longer matches this checkout. */
export function ensureGuestImage(arch: 'x64' | 'arm64' = process.arch as 'x64'): string {
  const dir = path.join(DIST, 'vm', arch);
  const { inputsHash } = require(path.join(ROOT, 'scripts/vm/inputs-hash.cjs'));
  let manifest: { inputs?: string } = {};
  try {
    manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
  } catch {
    /* none yet */
  }
  if (manifest.inputs !== inputsHash(ROOT)) {
    console.log(`    (building the ${arch} guest image: scripts/vm-image.sh --arch ${arch})`);
    execFileSync('bash', [path.join(ROOT, 'scripts/vm-image.sh'), '--arch', arch], {
      stdio: ['ignore', 'inherit', 'inherit'],
    });
  }
  return dir;
}

/** In a before hook: skips (or fails under CI=true) where QEMU is missing. */
export function requireQemu(ctx: Mocha.Context, arch: 'x64' | 'arm64' = process.arch as 'x64'): void {
  requireDeps(ctx, {
    what: `QEMU (${arch === 'arm64' ? 'qemu-system-aarch64' : 'qemu-system-x86_64'})`,
    install: 'bash scripts/install-deps.sh --vm',
    present: () => !!findQemu(arch),
  });
}

// The suites' guests run with a 512 MiB TCG code cache (the product's default is 128 MiB, src/vm/qemu.ts): ~25% less
// emulated CPU per boot and per container run, measured, for ~400 MB more RSS per guest — CI time.
process.env.BERTH_VM_TCG_TB_MIB ??= '512';

let shared: Promise<TestVm> | undefined;
const homes: string[] = [];

/** Options every test VM gets: the test registry as the guest's Docker Hub mirror. */
function daemonConfig(registryInGuest: string) {
  return { 'registry-mirrors': [`http://${registryInGuest}`], 'insecure-registries': [registryInGuest] };
}

export function testVmHome(): string {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-vm-'));
  homes.push(home);
  return home;
}

/** Boots a VM of its own (for tests that must not share: bad input, restarts). Stop it yourself. */
export async function bootVm(opts: VmStartOptions & { name?: string; registry?: Registry } = {}): Promise<TestVm> {
  const name = opts.name ?? 'test';
  const home = opts.home ?? testVmHome();
  const registry = opts.registry ?? (await startRegistry());
  if (!opts.registry) await seedMirror(registry);
  const registryInGuest = `10.0.2.2:${registry.host.split(':')[1]}`;
  const imageDir = ensureGuestImage(opts.arch ?? (process.arch as 'x64'));
  const startOpts: VmStartOptions = {
    memoryMiB: 1024,
    ...opts,
    home,
    bundleDir: DIST,
    imageDir,
    daemon: opts.daemon ?? daemonConfig(registryInGuest),
  };
  let status = await startVm(name, startOpts);
  // The docker CLI's config in the VM's home: it goes with the home at the end of the run.
  const dockerConfig = fs.mkdtempSync(path.join(home, 'docker-'));
  const env = () => ({ ...process.env, DOCKER_HOST: status.host, DOCKER_CONFIG: dockerConfig });
  const vm: TestVm = {
    name,
    home,
    get status() {
      return status;
    },
    host: status.host,
    socket: status.socket,
    controlSocket: new VmPaths(name, home).guestControlSocket,
    client: new EngineClient(status.host),
    registry,
    registryInGuest,
    docker(args, o = {}) {
      const r: SpawnSyncReturns<string> = spawnSync('docker', args, {
        env: env(),
        input: o.input,
        encoding: 'utf8',
        timeout: o.timeoutMs ?? 180_000,
      });
      return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
    },
    dockerAsync(args, o = {}) {
      return new Promise((resolve) => {
        const child = spawn('docker', args, { env: env() });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d) => (stdout += d));
        child.stderr.on('data', (d) => (stderr += d));
        const t = setTimeout(() => child.kill(), o.timeoutMs ?? 180_000);
        child.on('close', (code) => {
          clearTimeout(t);
          resolve({ code: code ?? -1, stdout, stderr });
        });
      });
    },
    consoleTail(lines = 40) {
      let text = '';
      try {
        text = fs.readFileSync(path.join(home, 'vm', name, 'console.log'), 'utf8');
      } catch {
        /* not written yet */
      }
      const tail = text
        .split('\n')
        .slice(-lines - 1)
        .join('\n');
      return `\n--- the VM's console log, last ${lines} lines ---\n${tail}`;
    },
    guest(command) {
      const r = vm.docker([
        'run',
        '--rm',
        '--privileged',
        '--pid=host',
        '--net=host',
        // In the guest's own cgroup namespace too: writing cgroup.procs across a namespace boundary is refused
        // (nsdelegate), and the rootless suite moves processes between the guest's cgroups.
        '--cgroupns=host',
        'busybox',
        'nsenter',
        '-t',
        '1',
        '-m',
        '-u',
        '-i',
        '-n',
        '--',
        'sh',
        '-c',
        command,
      ]);
      if (r.code !== 0) throw new Error(`in the guest: ${command}: exit ${r.code}\n${r.stdout}${r.stderr}`);
      return r.stdout;
    },
    async stop() {
      await stopVm(name, { home });
    },
    async start() {
      status = await startVm(name, { ...startOpts, daemon: undefined });
    },
    async restart() {
      await vm.stop();
      await vm.start();
    },
  };
  return vm;
}

/**
 * The run's shared VM (booted on first use, stopped after the run's last test). Suites that boot a VM of their own
 * (the CLI's start, the extension's, arm64) leave it running: idle, a TCG guest takes ~5% of a core, while stopping it
 * made the next suite that shares it boot again (~15 s of emulated CPU).
 */
export function sharedVm(): Promise<TestVm> {
  shared ??= bootVm({ name: 'shared' });
  return shared;
}

// Root-level hook (this module is loaded once): the shared VM and every test home go at the end of the run. Outside
// mocha (npm run bench boots its VM through bootVm) there is no hook: whoever boots stops.
if (typeof after === 'function')
  after(async function () {
    this.timeout(120_000);
    if (shared) {
      const vm = await shared.catch(() => undefined);
      if (vm) {
        await vm.stop();
        await vm.client.close().catch(() => undefined);
        await vm.registry.stop();
      }
    }
    for (const home of homes) {
      for (const name of fs.existsSync(path.join(home, 'vm')) ? fs.readdirSync(path.join(home, 'vm')) : [])
        if (vmStatus(name, home).state) await stopVm(name, { home }).catch(() => undefined);
      fs.rmSync(home, { recursive: true, force: true });
    }
  });

/** Removes the homes testVmHome made (for callers outside mocha, after stopping their VMs). */
export function removeTestHomes(): void {
  for (const home of homes.splice(0)) fs.rmSync(home, { recursive: true, force: true });
}

/** Processes whose command line mentions `text` (a VM's directory): what a stopped VM must not leave. */
export function processesMentioning(text: string): string[] {
  const out: string[] = [];
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmd.includes(text) && Number(pid) !== process.pid) out.push(`${pid} ${cmd}`);
    } catch {
      /* gone */
    }
  }
  return out;
}

type Docker = (args: string[]) => DockerResult;

/** The docker CLI where it must succeed: its output, trimmed, or a failed assertion with all it printed. */
export function dockerOk(docker: Docker): (args: string[]) => string {
  return (args) => {
    const r = docker(args);
    assert.equal(r.code, 0, `docker ${args.join(' ')}: ${r.stdout}${r.stderr}`);
    return r.stdout.trim();
  };
}

/** A shell loop that doubles a string until the memory limit stops it. */
export const ALLOCATE_UNTIL_KILLED = 'x=aaaaaaaaaaaaaaaa; while :; do x=$x$x; done';

/**
 * Runs a busybox `name` that allocates past `-m memoryMiB` (no swap) and asserts the kernel's OOM kill as Berth
 * reports it: exit 137, State.OOMKilled, the limit in HostConfig.Memory. `args` go before `-m` (--runtime …). The
 * container is removed after.
 */
export function assertOomKilled(docker: Docker, name: string, memoryMiB: number, args: string[] = []): void {
  const m = `${memoryMiB}m`;
  const r = docker([
    'run',
    '--name',
    name,
    ...args,
    '-m',
    m,
    '--memory-swap',
    m,
    'busybox',
    'sh',
    '-c',
    ALLOCATE_UNTIL_KILLED,
  ]);
  try {
    assert.equal(r.code, 137, `${r.stdout}${r.stderr}`);
    const s = docker(['inspect', '-f', '{{.State.OOMKilled}} {{.State.ExitCode}} {{.HostConfig.Memory}}', name]);
    assert.equal(s.stdout.trim(), `true 137 ${memoryMiB * 1024 * 1024}`, s.stderr);
  } finally {
    docker(['rm', '-f', name]);
  }
}

/**
 * `docker run -d --name NAME -p PORT:80 web` in a VM: the port answers on the host's loopback (HTTP 200) — `whileUp`
 * checks more then — and is gone once the container is removed.
 */
export async function assertPublishedThenGone(
  vm: TestVm,
  name: string,
  port: number,
  whileUp: () => void = () => undefined,
): Promise<void> {
  const r = vm.docker(['run', '-d', '--name', name, '-p', `${port}:80`, 'web']);
  assert.equal(r.code, 0, r.stderr);
  try {
    whileUp();
    const body = await eventually(
      () => httpGet(port, '/'),
      (b) => /200 OK/.test(b),
      `127.0.0.1:${port}`,
      60_000,
    );
    assert.match(body, /200 OK/);
  } finally {
    assert.equal(vm.docker(['rm', '-f', name]).code, 0);
  }
  await eventually(
    () => httpGet(port, '/'),
    (b) => b === '',
    `127.0.0.1:${port} gone`,
    30_000,
  );
}
