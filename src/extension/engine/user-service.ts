// The rootless engine under the user's own systemd. Over Remote-SSH everything VS Code spawns lives in the login's
// session scope (user.slice/user-UID.slice/session-N.scope), which belongs to root and is not delegated: an engine
// started there can set no limits. Started instead as a transient service of the user's manager (user@UID.service)
// with Delegate=yes, as rootless Docker's and Podman's user services run, it gets a cgroup v2 subtree of its own
// (the engine moves into a leaf of it and makes its containers' cgroups below: src/engine/rootless/cgroup.ts), and it
// outlives the SSH connection and VS Code's reconnects; stopping the unit ends everything in it. Where no user
// manager answers (no systemd, cgroup v1, a systemd too old) the engine is spawned directly as before, and Diagnose
// and `docker info` say why limits are off.
import { execFile, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { probeRootlessHost, rootlessVerdict } from '../../common/host/rootless';
import {
  answers,
  bundledEngineLaunch,
  type LaunchSpec,
  rootlessPidfile,
  rootlessSocket,
  SYSTEM_PIDFILE,
  SYSTEM_SOCKET,
  startBundledEngine,
  startChoice,
  stopEngine,
} from './launcher';

const run = promisify(execFile);

/** The user's unit (the system service is berth.service): `systemctl --user status berthd`. */
export const ROOTLESS_UNIT = 'berthd.service';

/** What a unit of the user's manager can get, read through `systemctl --user` and /sys/fs/cgroup. */
export interface UserManager {
  /** The hierarchy is cgroup v2 (unified): the only one that delegates to an ordinary user. */
  cgroupV2: boolean;
  /** systemd's major version; undefined when no user manager answers `systemctl --user`. */
  version?: number;
  /** The manager's own cgroup (/user.slice/user-UID.slice/user@UID.service). */
  controlGroup?: string;
  /** The controllers it was handed: the most a Delegate=yes unit of it gets. */
  controllers?: string[];
  /** loginctl enable-linger: the manager (and so the engine) runs on with no login session left. */
  linger: boolean;
}

export interface UserManagerReader {
  read(file: string): string | undefined;
  exists(file: string): boolean;
  /** A command's stdout when it exits 0, else undefined. */
  run(cmd: string, args: string[]): string | undefined;
}

export const realUserManagerReader: UserManagerReader = {
  read: (f) => {
    try {
      return fs.readFileSync(f, 'utf8');
    } catch {
      return undefined;
    }
  },
  exists: (f) => fs.existsSync(f),
  run: (cmd, args) => {
    const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 5000 });
    return r.status === 0 ? r.stdout : undefined;
  },
};

export function probeUserManager(
  r: UserManagerReader = realUserManagerReader,
  user = os.userInfo().username,
): UserManager {
  const cgroupV2 = r.exists('/sys/fs/cgroup/cgroup.controllers');
  const linger = r.exists(`/var/lib/systemd/linger/${user}`);
  const shown = r.run('systemctl', ['--user', 'show', '--property=Version', '--property=ControlGroup']);
  if (shown === undefined) return { cgroupV2, linger };
  const prop = (name: string) => new RegExp(`^${name}=(.*)$`, 'm').exec(shown)?.[1]?.trim();
  const version = Number.parseInt(prop('Version') ?? '', 10);
  const controlGroup = prop('ControlGroup') || undefined;
  const controllers = controlGroup
    ? r.read(`/sys/fs/cgroup${controlGroup}/cgroup.controllers`)?.split(/\s+/).filter(Boolean)
    : undefined;
  return {
    cgroupV2,
    linger,
    ...(Number.isFinite(version) ? { version } : {}),
    ...(controlGroup ? { controlGroup } : {}),
    ...(controllers ? { controllers } : {}),
  };
}

/** systemd 240 is the first with Type=exec and StandardOutput=append: (RHEL 9 has 252; RHEL 8's 239 runs cgroup v1). */
const MIN_SYSTEMD = 240;

export type RootlessStart = { how: 'user-service'; unit: string } | { how: 'direct'; why: string };

/** How this host's rootless engine starts: as the user's service where a user manager can delegate, else directly. */
export function rootlessStart(m: UserManager): RootlessStart {
  if (!m.cgroupV2)
    return { how: 'direct', why: 'cgroup v1 (or hybrid): no cgroup can be delegated to an ordinary user there' };
  if (m.version === undefined)
    return {
      how: 'direct',
      why: "no systemd user manager answers (systemctl --user): the engine runs in the login session's cgroup, which is root's",
    };
  if (m.version < MIN_SYSTEMD)
    return { how: 'direct', why: `the user manager's systemd ${m.version} is older than ${MIN_SYSTEMD}` };
  return { how: 'user-service', unit: ROOTLESS_UNIT };
}

/**
 * The engine's environment in the unit: its own settings, none of the VS Code session's (the IPC hooks and
 * sockets of a server that may be gone tomorrow). The user manager adds its own (XDG_RUNTIME_DIR, HOME…).
 */
export function unitEnvironment(env: NodeJS.ProcessEnv): Record<string, string> {
  const keep =
    /^(PATH|HOME|USER|LOGNAME|LANG|LANGUAGE|TZ|LC_\w+|XDG_\w+|BERTH_\w+|(http|https|no|all)_proxy|(HTTP|HTTPS|NO|ALL)_PROXY|MALLOC_MMAP_THRESHOLD_|ELECTRON_RUN_AS_NODE)$/;
  return Object.fromEntries(
    Object.entries(env).filter((e): e is [string, string] => keep.test(e[0]) && typeof e[1] === 'string'),
  );
}

/**
 * `systemd-run --user` for the engine: a transient service (collected when it ends) whose cgroup is delegated,
 * stopped as Docker's rootless unit is (KillMode=mixed: SIGTERM to the engine, which stops its containers; then
 * SIGKILL to whatever is left in the unit), its output appended to the engine log as before.
 */
export function userServiceLaunch(engine: LaunchSpec, logFile: string, unit = ROOTLESS_UNIT): LaunchSpec {
  return {
    command: 'systemd-run',
    args: [
      '--user',
      `--unit=${unit}`,
      '--description=Berth container engine (rootless)',
      '--collect',
      '--quiet',
      ...['-p', 'Type=exec', '-p', 'Delegate=yes', '-p', 'KillMode=mixed'],
      ...['-p', `StandardOutput=append:${logFile}`, '-p', `StandardError=append:${logFile}`],
      ...Object.entries(unitEnvironment(engine.env)).map(([k, v]) => `--setenv=${k}=${v}`),
      '--',
      engine.command,
      ...engine.args,
    ],
    env: engine.env,
  };
}

/** The unit's ActiveState (inactive once it ended: --collect unloads it). */
async function unitState(unit: string): Promise<string> {
  try {
    const { stdout } = await run('systemctl', ['--user', 'show', '--property=ActiveState', '--value', unit]);
    return stdout.trim();
  } catch {
    return 'inactive';
  }
}

const RUNNING = ['active', 'activating', 'reloading'];

/**
 * Starts the user's rootless engine (the extension's way, no prompt, no sudo) and waits until it answers: as the
 * user's service where the user manager delegates, else directly. Says which, and why not the service.
 */
export async function startRootlessEngine(
  extensionPath: string,
  logFile: string,
  opts: { execPath?: string; env?: NodeJS.ProcessEnv; manager?: UserManager; timeoutMs?: number } = {},
): Promise<RootlessStart> {
  const host = rootlessSocket(opts.env);
  const engine = bundledEngineLaunch(extensionPath, host, opts.execPath, opts.env, {
    pidfile: rootlessPidfile(opts.env),
  });
  const how = rootlessStart(opts.manager ?? probeUserManager());
  const timeoutMs = opts.timeoutMs ?? 20_000;
  if (how.how === 'direct') {
    await startBundledEngine(engine, host, logFile, timeoutMs);
    return how;
  }
  // An earlier start still coming up (a window reloaded meanwhile) is waited for, not started twice.
  if (!RUNNING.includes(await unitState(how.unit))) {
    fs.mkdirSync(path.dirname(logFile), { recursive: true });
    fs.appendFileSync(
      logFile,
      `\n--- ${new Date().toISOString()} starting ${how.unit}: ${engine.command} ${engine.args.join(' ')}\n`,
    );
    const unit = userServiceLaunch(engine, logFile, how.unit);
    try {
      await run(unit.command, unit.args, { env: unit.env, timeout: 30_000 });
    } catch (err: any) {
      throw new Error(`systemd-run --user could not start ${how.unit}: ${(err.stderr || err.message).trim()}`);
    }
  }
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await answers(host, 500)) return how;
    if (!RUNNING.includes(await unitState(how.unit))) throw new Error(`${how.unit} ended; see the engine log`);
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(
    `berthd (${how.unit}) did not answer on ${host} within ${timeoutMs / 1000} s; see the engine log, or: systemctl --user status ${how.unit}`,
  );
}

/** Stops the user's rootless engine: its unit (which waits until nothing is left in it), else through its pidfile. */
export async function stopRootlessEngine(env = process.env): Promise<boolean> {
  if (RUNNING.includes(await unitState(ROOTLESS_UNIT))) {
    try {
      await run('systemctl', ['--user', 'stop', ROOTLESS_UNIT], { timeout: 120_000 });
      return true;
    } catch {
      /* the pidfile's way below */
    }
  }
  return stopEngine(rootlessSocket(env), rootlessPidfile(env));
}

export type LocalStart =
  | { choice: 'offer-service'; problems: string[] }
  | { choice: 'root' | 'rootless'; host: string; how?: RootlessStart };

/**
 * What the extension does on Linux when no engine answers: root starts the bundled engine on the system socket
 * (or the configured one); an ordinary user gets a rootless engine of their own (startRootlessEngine) — unless the
 * host lacks what rootless needs, when nothing starts and the systemd service is what is left to offer.
 */
export async function startLocalEngine(
  extensionPath: string,
  logFile: string,
  opts: { configured?: string; timeoutMs?: number } = {},
): Promise<LocalStart> {
  const isRoot = process.getuid?.() === 0;
  const problems = isRoot ? [] : rootlessVerdict(probeRootlessHost()).fatal;
  const choice = startChoice(isRoot, problems);
  if (choice === 'offer-service') return { choice, problems };
  if (choice === 'rootless' && !opts.configured) {
    const how = await startRootlessEngine(extensionPath, logFile, { timeoutMs: opts.timeoutMs });
    return { choice, host: rootlessSocket(), how };
  }
  const host = opts.configured || (choice === 'root' ? SYSTEM_SOCKET : rootlessSocket());
  const pidfile = choice === 'root' ? SYSTEM_PIDFILE : rootlessPidfile();
  const spec = bundledEngineLaunch(extensionPath, host, undefined, undefined, { pidfile });
  await startBundledEngine(spec, host, logFile, opts.timeoutMs);
  return { choice, host };
}
