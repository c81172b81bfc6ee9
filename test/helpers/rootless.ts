// Rootless engines for tests: ordinary users made for the purpose (with or without /etc/subuid lines) each running
// the built berthd as themselves on a temporary socket, data root and runtime dir. The set-up runs as root.
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EngineClient } from '../../src/client';
import type { TestDependency } from './deps';
import { DIST, mountsUnder, type DockerResult } from './engine';

const commandOnPath = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;

export const ROOTLESS_TOOLS: TestDependency = {
  what: 'the rootless tools (uidmap, slirp4netns), /dev/net/tun and root to make test users',
  install: 'bash scripts/install-deps.sh --test (and run the tests as root)',
  present: () =>
    process.getuid?.() === 0 &&
    fs.existsSync('/dev/net/tun') &&
    ['newuidmap', 'newgidmap', 'slirp4netns', 'unshare', 'useradd'].every(commandOnPath),
};

export interface TestUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

// Each test user gets its own subordinate range, so two users' engines never share an id outside. Suites that run
// at the same time as others on a shared machine take a user of their own (every process of a test user is theirs).
const SUBID_BASE: Record<string, number> = {
  'berth-rl-a': 400000,
  'berth-rl-b': 500000,
  'berth-rl-c': 700000,
  'berth-rl-d': 800000,
};

function dropSubidLines(name: string): void {
  for (const file of ['/etc/subuid', '/etc/subgid']) {
    const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
    const kept = text.split('\n').filter((l) => l && l.split(':')[0] !== name);
    fs.writeFileSync(file, kept.map((l) => `${l}\n`).join(''));
  }
}

/** An ordinary user for rootless tests (made once, kept): `subids` says whether /etc/subuid and /etc/subgid list it. */
export function testUser(name: string, subids: boolean): TestUser {
  if (spawnSync('id', ['-u', name], { stdio: 'ignore' }).status !== 0)
    execFileSync('useradd', ['--create-home', '--shell', '/bin/sh', name], { stdio: 'ignore' });
  dropSubidLines(name);
  if (subids) {
    const base = SUBID_BASE[name] ?? 600000;
    for (const file of ['/etc/subuid', '/etc/subgid']) fs.appendFileSync(file, `${name}:${base}:65536\n`);
  }
  const [uid, gid] = ['-u', '-g'].map((f) => Number(execFileSync('id', [f, name], { encoding: 'utf8' }).trim()));
  return { name, uid, gid, home: `/home/${name}` };
}

/**
 * This machine's /dev/net/tun is mode 0600; stock distributions ship it 0666, which slirp4netns (run by the user)
 * needs to open. The test set-up puts it back as a stock distribution has it.
 */
export function stockTunDevice(): void {
  fs.chmodSync('/dev/net/tun', 0o666);
}

/**
 * A folder whose dist/ holds the built engine (engine.js and its helpers in bin/) where the user can read it: the
 * checkout itself when the user can, else a copy in /tmp (a CI clone under /root is not readable by other users).
 */
export function installFor(user: TestUser): string {
  const readable = spawnSync('sh', ['-c', `test -r "$0/engine.js" && test -x "$0/bin/berth-shim"`, DIST], {
    uid: user.uid,
    gid: user.gid,
  });
  if (readable.status === 0) return path.dirname(DIST);
  const dir = path.join(os.tmpdir(), `berth-rootless-install-${process.pid}`);
  const dist = path.join(dir, 'dist');
  if (!fs.existsSync(dist)) {
    fs.mkdirSync(dist, { recursive: true });
    fs.copyFileSync(path.join(DIST, 'engine.js'), path.join(dist, 'engine.js'));
    fs.cpSync(path.join(DIST, 'bin'), path.join(dist, 'bin'), { recursive: true });
    for (const d of [dir, dist]) fs.chmodSync(d, 0o755);
    fs.chmodSync(path.join(dist, 'engine.js'), 0o644);
    process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  }
  return dir;
}

export interface RootlessEngine {
  user: TestUser;
  dir: string;
  socket: string;
  host: string;
  dataRoot: string;
  client: EngineClient;
  /** The outer berthd (the user's process that made the namespaces). */
  pid(): number;
  log(): string;
  /** The docker CLI as root (root may open the user's 0600 socket, as an administrator could). */
  docker(args: string[], opts?: { input?: string; timeoutMs?: number; asUser?: TestUser }): DockerResult;
  dockerAsync(args: string[], opts?: { input?: string; timeoutMs?: number }): Promise<DockerResult>;
  stop(): Promise<number | null>;
  cleanup(): Promise<void>;
}

/**
 * Every live process the user runs (the engine's, its containers', slirp4netns): none once its engine stopped.
 * Zombies have exited: reaping orphans is PID 1's work (this machine's does it late), so they are not counted.
 */
export function processesOf(user: TestUser): string[] {
  const r = spawnSync('ps', ['-u', String(user.uid), '-o', 'pid=,stat=,args='], { encoding: 'utf8' });
  return r.stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 3 && !f[1].startsWith('Z'))
    .map(([pid, , ...args]) => `${pid} ${args.join(' ')}`);
}

/** The engine inside the namespaces: the outer berthd's child that unshare (then sh) became, in another user ns. */
export function innerPid(engine: RootlessEngine): number {
  const outer = engine.pid();
  const own = fs.readlinkSync(`/proc/${outer}/ns/user`);
  const children = fs.readFileSync(`/proc/${outer}/task/${outer}/children`, 'utf8').trim().split(/\s+/);
  const inner = children.find((pid) => {
    try {
      return (
        fs.readlinkSync(`/proc/${pid}/ns/user`) !== own &&
        fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('engine.js')
      );
    } catch {
      return false;
    }
  });
  if (!inner) throw new Error(`no engine in namespaces below ${outer} (children: ${children.join(' ')})`);
  return Number(inner);
}

/**
 * The mount table of the engine's own mount namespace (`findmnt` on the host cannot see it): /proc/PID/mountinfo
 * lines, optionally only those of a filesystem type (`overlay`, `nsfs`, `fuse.fuse-overlayfs`).
 */
export function engineMounts(engine: RootlessEngine, type?: string): string[] {
  return fs
    .readFileSync(`/proc/${innerPid(engine)}/mountinfo`, 'utf8')
    .split('\n')
    .filter((l) => l && (!type || l.split(' - ')[1]?.startsWith(`${type} `)));
}

/** The network namespaces the engine pinned for its containers: /run/netns of its mount namespace. */
export function engineNetnsFiles(engine: RootlessEngine): string[] {
  const dir = `/proc/${innerPid(engine)}/root/run/netns`;
  return fs.existsSync(dir) ? fs.readdirSync(dir) : [];
}

/** A process's namespace as /proc/PID/ns/KIND reads ('net:[4026532…]'). */
export const namespaceOf = (pid: number, kind: 'net' | 'mnt' | 'user') => fs.readlinkSync(`/proc/${pid}/ns/${kind}`);

/** A process's uid, state and command line, for a message. */
function describeProcess(pid: string): string {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (k: string) => new RegExp(`^${k}:\\s*(.*)$`, 'm').exec(status)?.[1] ?? '?';
    const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
    return `uid ${field('Uid').split(/\s+/)[0]}, ${field('State')}, ppid ${field('PPid')}: ${cmd}`;
  } catch {
    return 'gone';
  }
}

/**
 * What still holds any of these namespaces ('net:[4026532…]' as /proc/PID/ns links read): a process in it, a
 * process's open file of it, a bind mount of it in the host's (this test's) mount table. Nothing: the kernel has
 * freed it — except a bind mount in another mount namespace, which itself lives only while a holder of that does.
 */
export function namespaceHolders(namespaces: string[]): string[] {
  const wanted = new Set(namespaces);
  const held: string[] = [];
  for (const pid of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    const links: [string, string][] = [];
    for (const dir of ['ns', 'fd']) {
      let entries: string[] = [];
      try {
        entries = fs.readdirSync(`/proc/${pid}/${dir}`);
      } catch {
        continue; // gone, or a zombie
      }
      for (const e of entries) links.push([`${dir}/${e}`, `/proc/${pid}/${dir}/${e}`]);
    }
    for (const [what, link] of links) {
      try {
        const target = fs.readlinkSync(link);
        if (wanted.has(target)) held.push(`pid ${pid} ${what} ${target} (${describeProcess(pid)})`);
      } catch {
        /* gone */
      }
    }
  }
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n'))
    if ([...wanted].some((ns) => line.includes(ns))) held.push(`mount ${line}`);
  return held;
}

// A UDP echo for published UDP ports (the test image's busybox nc has no -u): every datagram goes back to its sender.
const UDP_ECHO = `
#include <arpa/inet.h>
#include <stdlib.h>
#include <sys/socket.h>
int main(int argc, char **argv) {
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1]))};
  if (bind(s, (struct sockaddr *)&a, sizeof a)) return 1;
  for (char buf[2048];;) {
    struct sockaddr_in from;
    socklen_t len = sizeof from;
    ssize_t n = recvfrom(s, buf, sizeof buf, 0, (struct sockaddr *)&from, &len);
    if (n >= 0) sendto(s, buf, n, 0, (struct sockaddr *)&from, len);
  }
}
`;

/** Builds the UDP echo (static, so it runs in busybox) in the engine's directory: bind-mount it, run it with a port. */
export function udpEchoFor(engine: RootlessEngine): string {
  const src = path.join(engine.dir, 'udpecho.c');
  const bin = path.join(engine.dir, 'udpecho');
  if (!fs.existsSync(bin)) {
    fs.writeFileSync(src, UDP_ECHO);
    execFileSync('gcc', ['-static', '-O2', '-o', bin, src]);
    fs.chownSync(bin, engine.user.uid, engine.user.gid);
  }
  return bin;
}

/** Sends a datagram to host:port until one comes back (the echo may not listen yet): what came back, and from where. */
export async function udpRoundTrip(host: string, port: number, text: string, timeoutMs = 15_000): Promise<string> {
  const client = dgram.createSocket('udp4');
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      const got = await new Promise<string>((resolve) => {
        const onMessage = (msg: Buffer, from: dgram.RemoteInfo) => {
          clearTimeout(timer);
          resolve(`${msg} from ${from.address}:${from.port}`);
        };
        const timer = setTimeout(() => {
          client.off('message', onMessage);
          resolve('');
        }, 300);
        client.once('message', onMessage);
        client.send(text, port, host);
      });
      if (got || Date.now() > deadline) return got;
    }
  } finally {
    client.close();
  }
}

export async function startRootlessEngine(
  user: TestUser,
  opts: {
    config?: Record<string, unknown>;
    env?: Record<string, string>;
    /** 'default': the config goes where a user keeps it, ~/.config/berth/daemon.json, and no --config-file is passed. */
    configAt?: 'flag' | 'default';
  } = {},
): Promise<RootlessEngine> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-rootless-'));
  fs.chownSync(dir, user.uid, user.gid);
  fs.chmodSync(dir, 0o700);
  const runtimeDir = path.join(dir, 'run');
  fs.mkdirSync(runtimeDir, { mode: 0o700 });
  fs.chownSync(runtimeDir, user.uid, user.gid);
  const socket = path.join(runtimeDir, 'berth', 'berth.sock');
  const atDefault = opts.configAt === 'default';
  const configFile = atDefault ? path.join(dir, '.config', 'berth', 'daemon.json') : path.join(dir, 'daemon.json');
  if (atDefault)
    for (const d of ['.config', '.config/berth']) {
      fs.mkdirSync(path.join(dir, d), { mode: 0o700 });
      fs.chownSync(path.join(dir, d), user.uid, user.gid);
    }
  fs.writeFileSync(configFile, JSON.stringify(opts.config ?? {}));
  if (atDefault) fs.chownSync(configFile, user.uid, user.gid);
  const dockerConfig = path.join(dir, 'docker-config');
  fs.mkdirSync(dockerConfig);
  const logFile = path.join(dir, 'berthd.log');
  const out = fs.openSync(logFile, 'a');
  // Only the socket is named: the data root and the exec root are the rootless defaults under $HOME and
  // $XDG_RUNTIME_DIR — except $HOME is the test's directory, so nothing outlives the test.
  const engineJs = path.join(installFor(user), 'dist', 'engine.js');
  const child: ChildProcess = spawn(process.execPath, [engineJs, ...(atDefault ? [] : ['--config-file', configFile])], {
    uid: user.uid,
    gid: user.gid,
    cwd: dir,
    stdio: ['ignore', out, out],
    env: {
      PATH: process.env.PATH,
      HOME: dir,
      USER: user.name,
      LOGNAME: user.name,
      XDG_RUNTIME_DIR: runtimeDir,
      ...opts.env,
    },
  });
  fs.closeSync(out);
  const client = new EngineClient(`unix://${socket}`);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const log = () => fs.readFileSync(logFile, 'utf8');
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`rootless berthd exited with ${child.exitCode}:\n${log()}`);
    try {
      await client.ping();
      break;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`rootless berthd did not answer: ${err}\n${log()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const dockerEnv = () => ({ ...process.env, DOCKER_CONFIG: dockerConfig, DOCKER_HOST: `unix://${socket}` });
  const engine: RootlessEngine = {
    user,
    dir,
    socket,
    host: `unix://${socket}`,
    dataRoot: path.join(dir, '.local/share/berth'),
    client,
    pid: () => child.pid!,
    log,
    docker(args, o = {}) {
      const r = spawnSync('docker', args, {
        input: o.input,
        env: o.asUser ? { ...dockerEnv(), HOME: o.asUser.home, DOCKER_CONFIG: undefined } : dockerEnv(),
        encoding: 'utf8',
        timeout: o.timeoutMs ?? 120_000,
        uid: o.asUser?.uid,
        gid: o.asUser?.gid,
      });
      return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
    },
    dockerAsync(args, o = {}) {
      return new Promise((resolve) => {
        const p = spawn('docker', args, { env: dockerEnv() });
        let stdout = '';
        let stderr = '';
        p.stdout.on('data', (d) => (stdout += d));
        p.stderr.on('data', (d) => (stderr += d));
        const timer = setTimeout(() => p.kill('SIGKILL'), o.timeoutMs ?? 120_000);
        p.on('close', (code) => {
          clearTimeout(timer);
          resolve({ code: code ?? -1, stdout, stderr });
        });
        p.stdin.end(o.input ?? '');
      });
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
    async cleanup() {
      await engine.stop();
      await client.close().catch(() => {});
      // A test that failed half-way may leave the user's processes: end them (by pid) so the next test starts clean.
      for (const line of processesOf(user)) spawnSync('kill', ['-9', line.trim().split(/\s+/)[0]]);
      for (const m of mountsUnder(dir).reverse()) spawnSync('umount', ['-l', m]);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return engine;
}
