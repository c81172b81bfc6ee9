// The rootless engine's outer half, as rootlesskit is for dockerd: berthd started by an ordinary user re-executes
// itself in new user, mount and network namespaces (the user is root inside, mapped from /etc/subuid and
// /etc/subgid), gives that network namespace a link to the outside through slirp4netns, and then only relays
// signals and the exit status. Everything else — the API socket, runc, overlay, CNI — runs in the child as root of
// its namespace.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Duplex } from 'node:stream';
import { delegatedCgroup } from './cgroup';
import { idMapsFor, mapArgs } from './idmap';
import {
  ROOTLESS_ENV,
  type RootlessInfo,
  rootlessNetwork,
  SLIRP_DNS,
  SLIRP_GATEWAY,
  SLIRP_NAMESPACE_ADDRESS,
} from './info';
import { startPortRelay } from './relay';
import { addSubidsCommand, probeRootlessHost, rootlessVerdict } from '../../common/host/rootless';

const write = (s: string) => process.stderr.write(`berthd: ${s}\n`);

function waitForLine(stream: NodeJS.ReadableStream, what: string, child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    const onData = () => done();
    const onExit = (code: number | null) => done(new Error(`${what} exited (${code}) before it was ready`));
    const done = (err?: Error) => {
      stream.off('data', onData);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve();
    };
    stream.on('data', onData);
    child.on('exit', onExit);
  });
}

/** Runs the engine in its namespaces; resolves with the exit code to leave with. */
export async function runRootlessParent(argv: string[]): Promise<number> {
  let network: RootlessInfo['network'];
  try {
    network = rootlessNetwork();
  } catch (err: any) {
    write(err.message);
    return 1;
  }
  const host = { ...probeRootlessHost(), network };
  const missing = rootlessVerdict(host);
  if (missing.fatal.length) {
    write(`cannot run rootless:\n  - ${missing.fatal.join('\n  - ')}`);
    return 1;
  }
  const user = os.userInfo();
  const maps = idMapsFor(user.username, user.uid, user.gid);
  for (const w of missing.warnings) write(`warning: ${w}`);

  const swept = sweepOrphanedNamespaces();
  if (swept) write(`ended ${swept} processes an earlier rootless engine of ${user.username} left behind`);

  // Before anything is spawned: the engine, slirp4netns and the namespace's processes all start in the leaf.
  const cgroup = delegatedCgroup();
  if (cgroup) write(`cgroup v2 subtree ${cgroup.base} delegated: ${cgroup.controllers.join(' ') || 'no controllers'}`);
  const runtimeDir = process.env.XDG_RUNTIME_DIR || os.tmpdir();
  const stateDir = fs.mkdtempSync(path.join(runtimeDir, 'berth-rootless-'));
  const info: RootlessInfo = {
    uid: user.uid,
    gid: user.gid,
    user: user.username,
    singleId: maps.single,
    ...(maps.single ? { addSubids: addSubidsCommand(host) } : {}),
    network,
    stateDir,
    slirpApi: path.join(stateDir, 'slirp.sock'),
    hostGateway: SLIRP_GATEWAY,
    ...(cgroup ? { cgroup } : {}),
  };

  // unshare(1) makes the namespaces; the shell says it is in them and waits for the id maps before it execs the
  // engine (an exec before the map would drop the capabilities the engine needs inside).
  const child = spawn(
    'unshare',
    [
      '--user',
      '--net',
      '--mount',
      '--propagation',
      'private',
      '--',
      '/bin/sh',
      '-c',
      'echo >&3; read _ <&3; exec 3<&-; exec "$@"',
      'sh',
      process.execPath,
      ...process.execArgv,
      process.argv[1],
      ...argv,
    ],
    { stdio: ['inherit', 'inherit', 'inherit', 'pipe'], env: { ...process.env, [ROOTLESS_ENV]: JSON.stringify(info) } },
  );
  const control = child.stdio[3] as unknown as Duplex;
  let slirp: ChildProcess | undefined;
  let pastaPid: number | undefined;
  const relay = network === 'pasta' ? startPortRelay(stateDir) : undefined;
  let userns: string | undefined;
  // slirp4netns goes with the namespace; waited for, so no process of the user outlives the engine. Whatever else
  // still runs in the namespace (containers and their shims, when the engine inside crashed or was cut short) can
  // never be reached by a later engine, which makes new namespaces: it is ended too.
  const cleanup = async () => {
    if (userns) killNamespace(userns);
    relay?.close();
    if (pastaPid) await endProcess(pastaPid);
    if (slirp && slirp.exitCode === null && slirp.signalCode === null) {
      const gone = new Promise((resolve) => slirp!.once('exit', resolve));
      slirp.kill('SIGTERM');
      await gone;
    }
    fs.rmSync(stateDir, { recursive: true, force: true });
  };
  const forward = (sig: NodeJS.Signals) => () => child.kill(sig);
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, forward(sig));
  const exited = new Promise<number>((resolve) =>
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 + (os.constants.signals[signal] ?? 0) : 1))),
  );

  try {
    await waitForLine(control, 'the namespace helper', child);
    const pid = child.pid!;
    userns = fs.readlinkSync(`/proc/${pid}/ns/user`);
    if (maps.single) {
      fs.writeFileSync(`/proc/${pid}/uid_map`, `0 ${user.uid} 1\n`);
      fs.writeFileSync(`/proc/${pid}/setgroups`, 'deny');
      fs.writeFileSync(`/proc/${pid}/gid_map`, `0 ${user.gid} 1\n`);
    } else {
      execFileSync('newuidmap', [String(pid), ...mapArgs(maps.uid)], { stdio: ['ignore', 'ignore', 'pipe'] });
      execFileSync('newgidmap', [String(pid), ...mapArgs(maps.gid)], { stdio: ['ignore', 'ignore', 'pipe'] });
    }
    if (network === 'pasta') pastaPid = await startPasta(pid, stateDir);
    else
      slirp = spawn(
        'slirp4netns',
        [
          '--configure',
          '--mtu=65520',
          `--api-socket=${info.slirpApi}`,
          '--ready-fd=3',
          '--exit-fd=4',
          `--userns-path=/proc/${pid}/ns/user`,
          '--netns-type=path',
          `/proc/${pid}/ns/net`,
          'tap0',
        ],
        { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] },
      );
    if (slirp) {
      let slirpErr = '';
      slirp.stderr!.on('data', (d) => (slirpErr += d));
      await waitForLine(slirp.stdio[3] as NodeJS.ReadableStream, 'slirp4netns', slirp).catch((err) => {
        throw new Error(`${err.message}: ${slirpErr.trim()}`);
      });
    }
    control.write('go\n');
  } catch (err: any) {
    write(`cannot set up the rootless namespaces: ${err.stderr?.toString().trim() || err.message}`);
    child.kill('SIGKILL');
    await exited;
    await cleanup();
    return 1;
  }
  const code = await exited;
  await cleanup();
  return code;
}

/**
 * pasta with the addresses slirp4netns gives (the namespace 10.0.2.100/24, the host's loopback as the gateway
 * 10.0.2.2, DNS forwarded from 10.0.2.3) so that everything inside is the same for either link; no port forwards of
 * its own (the relay publishes). It returns once the link is up and runs on in the background: its pid.
 */
async function startPasta(pid: number, stateDir: string): Promise<number> {
  const pidFile = path.join(stateDir, 'pasta.pid');
  const p = spawn(
    'pasta',
    [
      ...['--config-net', '--quiet', '--ns-ifname', 'tap0', '--mtu', '65520'],
      ...['-a', SLIRP_NAMESPACE_ADDRESS, '-n', '24', '-g', SLIRP_GATEWAY, '--dns-forward', SLIRP_DNS, '-4'],
      ...['-t', 'none', '-u', 'none', '-T', 'none', '-U', 'none', '--pid', pidFile],
      ...['--userns', `/proc/${pid}/ns/user`, '--netns', `/proc/${pid}/ns/net`],
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let err = '';
  p.stderr!.on('data', (d) => (err += d));
  const code = await new Promise<number | null>((resolve) => {
    p.once('error', () => resolve(-1));
    p.once('exit', (c) => resolve(c));
  });
  if (code !== 0) throw new Error(`pasta exited (${code}) before it was ready: ${err.trim()}`);
  return Number(fs.readFileSync(pidFile, 'utf8').trim());
}

/** SIGTERM, then waits (bounded) until the process is gone: it is not our child, so there is no exit event. */
async function endProcess(pid: number): Promise<void> {
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  for (let i = 0; i < 100; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* gone */
  }
}

/** SIGKILLs every process of this user that lives in the user namespace `userns` (a /proc/PID/ns/user link). */
export function killNamespace(userns: string): number {
  let killed = 0;
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (fs.readlinkSync(`/proc/${entry}/ns/user`) !== userns) continue;
      process.kill(Number(entry), 'SIGKILL');
      killed++;
    } catch {
      /* gone, or not ours to read */
    }
  }
  return killed;
}

/**
 * Ends what earlier rootless engines of this user left when they were killed outright (SIGKILL leaves no one to
 * clean up): a user namespace other than ours holding berth-shim processes but no berthd is one no engine can
 * ever reach again — its containers and shims are ended. Rootless Podman's and others' namespaces hold no shim.
 */
export function sweepOrphanedNamespaces(): number {
  const own = fs.readlinkSync('/proc/self/ns/user');
  const byNamespace = new Map<string, { pids: number[]; shim: boolean; engine: boolean }>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (fs.statSync(`/proc/${entry}`).uid !== process.getuid?.()) continue;
      const ns = fs.readlinkSync(`/proc/${entry}/ns/user`);
      if (ns === own) continue;
      const cmd = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      const group = byNamespace.get(ns) ?? { pids: [], shim: false, engine: false };
      group.pids.push(Number(entry));
      if (/\/berth-shim-[0-9a-f]+\0/.test(cmd)) group.shim = true;
      if (/engine\.js\0/.test(cmd) || /berthd\0/.test(cmd)) group.engine = true;
      byNamespace.set(ns, group);
    } catch {
      /* gone */
    }
  }
  let ended = 0;
  for (const [ns, group] of byNamespace) {
    if (!group.shim || group.engine) continue;
    ended += killNamespace(ns);
  }
  return ended;
}
