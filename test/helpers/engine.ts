// Starts a real berthd (the built bundle) on a temporary socket and data root, and tears it down leaving no
// processes or mounts behind. API tests use this; nothing talks to a shared engine.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EngineClient } from '../../src/client';
import { ENGINE_ENV, ENGINE_NODE_FLAGS } from '../../src/common/host/engine-process';
import { createNetworkService } from '../../src/engine/network';
import { DOCKER_CLI, has, requireDeps } from './deps';

export const ROOT = path.resolve(__dirname, '../..');
// BERTH_DIST lets parallel work build into its own folder instead of sharing dist/.
export const DIST = process.env.BERTH_DIST ? path.resolve(process.env.BERTH_DIST) : path.join(ROOT, 'dist');
export const ENGINE_JS = path.join(DIST, 'engine.js');

export interface DockerResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface TestEngine {
  dir: string;
  socket: string;
  host: string;
  dataRoot: string;
  execRoot: string;
  configFile: string;
  client: EngineClient;
  log(): string;
  process(): ChildProcess;
  /** Runs the real docker CLI against this engine. */
  docker(args: string[], opts?: { input?: string; env?: Record<string, string>; timeoutMs?: number }): DockerResult;
  /**
   * The API version the docker CLI speaks with this engine: 1.45 for a CLI of Docker 25 or later, its own for an
   * older one (Debian's 20.10: 1.41). Some answers depend on it, as with dockerd (what `volume prune` removes).
   */
  dockerApiVersion(): string;
  dockerAsync(
    args: string[],
    opts?: {
      input?: string;
      env?: Record<string, string>;
      timeoutMs?: number;
      /** Sees stdout as it comes (to act while the command still runs). */
      onStdout?: (chunk: string) => void;
    },
  ): Promise<DockerResult>;
  /** SIGTERM and wait. */
  stop(): Promise<void>;
  /** SIGKILL, as a crash. */
  kill9(): Promise<void>;
  /** Starts berthd again on the same data root and socket. */
  restart(): Promise<void>;
  /** Stops the engine (if running) and removes everything it made. */
  cleanup(): Promise<void>;
}

export interface StartOptions {
  config?: Record<string, unknown>;
  args?: string[];
  env?: Record<string, string>;
  /** Reuse a directory (e.g. to restart on the same state); a new temp dir otherwise. */
  dir?: string;
  /** A command the engine runs under (it must exec node in the end): `unshare -m …` for a mount namespace. */
  prefix?: string[];
}

/** True where the docker CLI is installed; under CI=true its absence throws (a cross-check is never dropped there). */
export function hasDockerCli(): boolean {
  return has(DOCKER_CLI);
}

/** "1.41" ≥ "1.42"? (API versions compare as numbers per part.) */
export function apiAtLeast(version: string, min: string): boolean {
  const [a, b] = version.split('.').map(Number);
  const [c, d] = min.split('.').map(Number);
  return a !== c ? a > c : b >= d;
}

let comparable: boolean | undefined;
/**
 * Whether the berth CLI's output can be compared with the docker CLI's: berth prints what docker 28 prints (its
 * JSON fields, its error texts); an older CLI (Debian's 20.10) prints its own generation's forms, so there the
 * comparison is left out, saying so — the berth CLI's own assertions run either way. Under CI=true a missing CLI
 * fails (hasDockerCli).
 */
export function dockerCliComparable(): boolean {
  if (!hasDockerCli()) return false;
  if (comparable === undefined) {
    const v = spawnSync('docker', ['--version'], { encoding: 'utf8' }).stdout;
    comparable = Number(/version (\d+)\./.exec(v)?.[1] ?? 0) >= 28;
    if (!comparable) console.log(`      (${v.trim()}: berth prints docker 28's forms; comparing with it is left out)`);
  }
  return comparable;
}

/** In a hook or test that drives the docker CLI: skips where it is not installed, fails under CI=true. */
export function requireDockerCli(ctx: Mocha.Context): void {
  requireDeps(ctx, DOCKER_CLI);
}

async function waitForSocket(
  client: EngineClient,
  child: ChildProcess,
  logFile: string,
  timeoutMs = 15000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  while (Date.now() < deadline) {
    if (child.exitCode !== null)
      throw new Error(`berthd exited with ${child.exitCode}:\n${fs.readFileSync(logFile, 'utf8')}`);
    try {
      await client.ping();
      return;
    } catch (err) {
      lastErr = err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(`berthd did not answer within ${timeoutMs} ms: ${lastErr}\n${fs.readFileSync(logFile, 'utf8')}`);
}

function mountsUnder(dir: string): string[] {
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((m) => m && (m === dir || m.startsWith(dir + '/')));
}

/**
 * BERTH_TEST_RUNTIME=crun runs a suite's engines on crun (scripts/test.sh does so for the container suites): the
 * default runtime becomes crun, unless a test names its own. This machine's cgroup hierarchy is hybrid with a
 * unified mount that holds a controller (hugetlb), which crun refuses ("cgroups in hybrid mode not supported");
 * stock hybrid hosts have none there. So on such a host crun is started through a wrapper that unmounts the
 * unified hierarchy in a mount namespace of its own — crun then sees plain cgroup v1, as on those hosts.
 */
function runtimeUnderTest(config: Record<string, unknown> = {}): {
  config: Record<string, unknown>;
  env: Record<string, string>;
} {
  if (process.env.BERTH_TEST_RUNTIME !== 'crun') return { config, env: {} };
  return { config: { 'default-runtime': 'crun', ...config }, env: { BERTH_CRUN: crunForThisHost() } };
}

let crunWrapper: string | undefined;
function crunForThisHost(): string {
  const crun = spawnSync('sh', ['-c', 'command -v crun'], { encoding: 'utf8' }).stdout.trim();
  if (!crun) throw new Error('BERTH_TEST_RUNTIME=crun but crun is not installed (scripts/install-deps.sh --test)');
  const controllers = (() => {
    try {
      return fs.readFileSync('/sys/fs/cgroup/unified/cgroup.controllers', 'utf8').trim();
    } catch {
      return '';
    }
  })();
  if (!controllers) return crun;
  if (!crunWrapper) {
    crunWrapper = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'berth-crun-')), 'crun');
    fs.writeFileSync(
      crunWrapper,
      `#!/bin/sh\nexec unshare -m --propagation private sh -c 'umount /sys/fs/cgroup/unified && exec "$0" "$@"' ${crun} "$@"\n`,
      { mode: 0o755 },
    );
  }
  return crunWrapper;
}

export async function startEngine(opts: StartOptions = {}): Promise<TestEngine> {
  const underTest = runtimeUnderTest(opts.config);
  const dir = opts.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'berth-test-'));
  const socket = path.join(dir, 'berth.sock');
  const dataRoot = path.join(dir, 'data');
  const execRoot = path.join(dir, 'exec');
  const configFile = path.join(dir, 'daemon.json');
  const dockerConfig = path.join(dir, 'docker-config');
  fs.mkdirSync(dockerConfig, { recursive: true });
  if (opts.config || !fs.existsSync(configFile))
    fs.writeFileSync(configFile, JSON.stringify(underTest.config, null, 2));
  const logFile = path.join(dir, 'berthd.log');
  let child: ChildProcess;
  const client = new EngineClient(`unix://${socket}`);

  const launch = async () => {
    const out = fs.openSync(logFile, 'a');
    const [command, ...prefixArgs] = [...(opts.prefix ?? []), process.execPath];
    child = spawn(
      command,
      [
        ...prefixArgs,
        ...ENGINE_NODE_FLAGS,
        ENGINE_JS,
        '-H',
        `unix://${socket}`,
        '--data-root',
        dataRoot,
        '--exec-root',
        execRoot,
        '--config-file',
        configFile,
        ...(opts.args ?? []),
      ],
      { stdio: ['ignore', out, out], env: { ...ENGINE_ENV, ...process.env, ...underTest.env, ...opts.env } },
    );
    fs.closeSync(out);
    await waitForSocket(client, child, logFile);
  };
  const exited = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once('exit', () => resolve());
    });

  const dockerEnv = (env?: Record<string, string>) => ({
    ...process.env,
    DOCKER_CONFIG: dockerConfig,
    DOCKER_HOST: `unix://${socket}`,
    ...env,
  });
  const engine: TestEngine = {
    dir,
    socket,
    host: `unix://${socket}`,
    dataRoot,
    execRoot,
    configFile,
    client,
    log: () => fs.readFileSync(logFile, 'utf8'),
    process: () => child,
    docker(args, o = {}) {
      const r = spawnSync('docker', args, {
        input: o.input,
        env: dockerEnv(o.env),
        encoding: 'utf8',
        timeout: o.timeoutMs ?? 120000,
      });
      return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
    },
    dockerApiVersion() {
      const r = engine.docker(['version', '--format', '{{.Client.APIVersion}}']);
      if (!/^\d+\.\d+$/.test(r.stdout.trim())) throw new Error(`docker version: ${r.stdout} ${r.stderr}`);
      return r.stdout.trim();
    },
    dockerAsync(args, o = {}) {
      return new Promise((resolve) => {
        const p = spawn('docker', args, { env: dockerEnv(o.env) });
        let stdout = '';
        let stderr = '';
        p.stdout.on('data', (d) => {
          stdout += d;
          o.onStdout?.(String(d));
        });
        p.stderr.on('data', (d) => (stderr += d));
        const timer = setTimeout(() => p.kill('SIGKILL'), o.timeoutMs ?? 120000);
        p.on('close', (code) => {
          clearTimeout(timer);
          resolve({ code: code ?? -1, stdout, stderr });
        });
        if (o.input !== undefined) p.stdin.end(o.input);
        else p.stdin.end();
      });
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited();
      }
    },
    async kill9() {
      child.kill('SIGKILL');
      await exited();
    },
    async restart() {
      await launch();
    },
    async cleanup() {
      await engine.stop();
      await client.close().catch(() => {});
      // Whatever the engine left (it should leave nothing) must not outlive the test. Containers keep running
      // across an engine stop (live-restore), so a test that did not remove its containers leaves them: end them.
      const runcRoot = path.join(execRoot, 'runc');
      if (fs.existsSync(runcRoot)) {
        for (const id of spawnSync('runc', ['--root', runcRoot, 'list', '-q'], { encoding: 'utf8' })
          .stdout.split('\n')
          .filter(Boolean)) {
          spawnSync('runc', ['--root', runcRoot, 'delete', '--force', id]);
        }
      }
      // Their network endpoints (namespaces, veths, NAT rules, the bridge) outlive them the same way: release
      // them as the engine's next start would.
      const endpoints = path.join(dataRoot, 'network', 'endpoints');
      if (fs.existsSync(endpoints) && fs.readdirSync(endpoints).length) {
        let cfg: any = {};
        try {
          cfg = JSON.parse(fs.readFileSync(configFile, 'utf8'));
        } catch {
          /* defaults */
        }
        const network = createNetworkService({
          dataRoot,
          idleBridgeMs: 0,
          bridgeName: cfg.bridge,
          bip: cfg.bip,
          defaultAddressPools: cfg['default-address-pools'],
        });
        await network.init();
        await network.reconcile(new Set());
        await network.close();
      }
      for (const m of mountsUnder(dir).reverse()) spawnSync('umount', ['-l', m]);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  await launch();
  return engine;
}

export { mountsUnder };
