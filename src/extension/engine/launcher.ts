// Finding and starting the engine, free of `vscode`: which sockets to try, how the bundled berthd is launched
// detached with the extension host's own Node runtime (it must outlive window reloads), and the one command that
// installs it as a systemd service for users who are not root.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EngineClient, defaultSocket } from '../../client';
import { ENGINE_ENV, ENGINE_NODE_FLAGS } from '../../common/host/engine-process';

export const SYSTEM_SOCKET = 'unix:///run/berth/berth.sock';
/** berthd's data root when it runs as root (engine config's default). */
export const SYSTEM_DATA_ROOT = '/var/lib/berth';
export const SYSTEM_PIDFILE = '/run/berth/berthd.pid';

/** The user's own runtime dir as berthd sees it (config/index.ts defaults): $XDG_RUNTIME_DIR, else /tmp/berth-UID. */
function runtimeDir(env = process.env, uid = process.getuid?.() ?? 0): string {
  return env.XDG_RUNTIME_DIR || `/tmp/berth-${uid}`;
}

/** Where a user's rootless engine listens and keeps its pidfile: berthd's own defaults for a non-root user. */
export function rootlessSocket(env = process.env, uid = process.getuid?.() ?? 0): string {
  return `unix://${runtimeDir(env, uid)}/berth/berth.sock`;
}
export function rootlessPidfile(env = process.env, uid = process.getuid?.() ?? 0): string {
  return `${runtimeDir(env, uid)}/berth/berthd.pid`;
}

/** The configured host, or the bundled engine's sockets (the user's own first, then the system service's). */
export function candidateHosts(configured: string | undefined, isRoot = process.getuid?.() === 0): string[] {
  if (configured && configured.trim()) return [configured.trim()];
  return [...new Set([isRoot ? defaultSocket() : rootlessSocket(), SYSTEM_SOCKET])];
}

/**
 * How the extension may start an engine on this Linux host when none answers: root starts the bundled one on the
 * system socket; an ordinary user gets a rootless engine of their own — no prompt, no sudo — unless the host lacks
 * what rootless needs, when the systemd service (as root, once) is what is left to offer.
 */
export function startChoice(isRoot: boolean, rootlessProblems: string[]): 'root' | 'rootless' | 'offer-service' {
  if (isRoot) return 'root';
  return rootlessProblems.length ? 'offer-service' : 'rootless';
}

export async function answers(host: string, timeoutMs = 1500): Promise<boolean> {
  const client = new EngineClient(host);
  try {
    // The unversioned /_ping: an older Docker rejects /v1.45/ paths but still answers this.
    await Promise.race([
      client.negotiateApiVersion(),
      new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), timeoutMs).unref()),
    ]);
    return true;
  } catch {
    return false;
  } finally {
    void client.close().catch(() => undefined);
  }
}

export interface LaunchSpec {
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
}

/**
 * How to run the bundled engine: the extension host's executable (VS Code's Electron or the server's node) in
 * Node mode, so no system Node is needed.
 */
export function bundledEngineLaunch(
  extensionPath: string,
  host = SYSTEM_SOCKET,
  execPath = process.execPath,
  env = process.env,
  opts: { pidfile?: string; extraArgs?: string[] } = {},
): LaunchSpec {
  return {
    command: execPath,
    args: [
      ...ENGINE_NODE_FLAGS,
      path.join(extensionPath, 'dist', 'engine.js'),
      '-H',
      host,
      '--pidfile',
      opts.pidfile ?? SYSTEM_PIDFILE,
      ...(opts.extraArgs ?? []),
    ],
    env: { ...ENGINE_ENV, ...env, PATH: withSbin(env.PATH), ELECTRON_RUN_AS_NODE: '1' },
  };
}

/** berthd runs iptables, runc, newuidmap…: Debian's PATH for an ordinary user lacks the sbin folders RHEL's has. */
export function withSbin(searchPath = ''): string {
  const dirs = searchPath.split(':').filter(Boolean);
  for (const d of ['/usr/local/sbin', '/usr/sbin', '/sbin']) if (!dirs.includes(d)) dirs.push(d);
  return dirs.join(':');
}

/** Starts berthd detached (its own session, output to logFile) and waits until it answers. */
export async function startBundledEngine(
  spec: LaunchSpec,
  host: string,
  logFile: string,
  timeoutMs = 20_000,
): Promise<void> {
  fs.mkdirSync(path.dirname(logFile), { recursive: true });
  const fd = fs.openSync(logFile, 'a');
  fs.writeSync(fd, `\n--- ${new Date().toISOString()} starting ${spec.command} ${spec.args.join(' ')}\n`);
  const child = spawn(spec.command, spec.args, { env: spec.env, detached: true, stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  let exited: number | null = null;
  child.once('exit', (code) => (exited = code ?? -1));
  child.unref();
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exited !== null) throw new Error(`berthd exited with code ${exited}; see the engine log`);
    if (await answers(host, 500)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`berthd did not answer on ${host} within ${timeoutMs / 1000} s; see the engine log`);
}

/** Stops a berthd we can signal (pidfile), waiting for its socket to go quiet. */
export async function stopEngine(host: string, pidfile = SYSTEM_PIDFILE, timeoutMs = 20_000): Promise<boolean> {
  let pid: number;
  try {
    pid = Number(fs.readFileSync(pidfile, 'utf8').trim());
  } catch {
    return false;
  }
  if (!pid) return false;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return false;
  }
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      process.kill(pid, 0);
    } catch {
      return true;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return !(await answers(host, 500));
}

export const SERVICE_DIR = '/usr/local/lib/berth';

/**
 * One shell command (run via sudo in a terminal) that installs berthd as a systemd service whose socket belongs to
 * a `berth` group, and adds the user to that group. The engine bundle is copied to /usr/local/lib/berth, and so is
 * the runtime when it is a plain `node` (the VS Code server's, under Remote-SSH): the server's folder changes with
 * every VS Code update and must not be what the service runs from. A desktop VS Code's Electron cannot be copied
 * (it needs its resources) and stays where its installation put it.
 */
export function systemdInstallCommand(extensionPath: string, user: string, execPath = process.execPath): string {
  const copyNode = path.basename(execPath) === 'node';
  const node = copyNode ? `${SERVICE_DIR}/node` : execPath;
  const unit = [
    '[Unit]',
    'Description=Berth container engine',
    'After=network-online.target',
    '',
    '[Service]',
    'Type=simple',
    `Environment=ELECTRON_RUN_AS_NODE=1 BERTH_NODE=${node}`,
    `ExecStart=${SERVICE_DIR}/engine-bin/berthd -H ${SYSTEM_SOCKET} --group berth --pidfile ${SYSTEM_PIDFILE}`,
    // A limit every host accepts (some cap nofile far below systemd's usual maximum).
    'Restart=on-failure',
    'KillMode=process',
    'Delegate=yes',
    'LimitNOFILE=65536',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\\n'); // printf's own \n escapes keep the whole command on one line for the terminal
  const q = (p: string) => shellQuote(p);
  const script = [
    'set -e',
    'getent group berth >/dev/null || groupadd --system berth',
    `usermod -aG berth ${q(user)}`,
    `install -d ${SERVICE_DIR}/dist ${SERVICE_DIR}/engine-bin`,
    `cp -f ${q(path.join(extensionPath, 'dist', 'engine.js'))} ${SERVICE_DIR}/dist/`,
    `if [ -d ${q(path.join(extensionPath, 'dist', 'bin'))} ]; then cp -rf ${q(path.join(extensionPath, 'dist', 'bin'))} ${SERVICE_DIR}/dist/; fi`,
    `install -m 0755 ${q(path.join(extensionPath, 'engine-bin', 'berthd'))} ${SERVICE_DIR}/engine-bin/berthd`,
    ...(copyNode ? [`install -m 0755 ${q(execPath)} ${SERVICE_DIR}/node`] : []),
    // Where SELinux is on, the data root gets Docker's file contexts (container_var_lib_t and, below it,
    // container-selinux's rules for /var/lib/docker), or containers cannot read their layers.
    `if command -v selinuxenabled >/dev/null && selinuxenabled; then (semanage fcontext -a -e /var/lib/docker ${SYSTEM_DATA_ROOT} 2>/dev/null || semanage fcontext -m -e /var/lib/docker ${SYSTEM_DATA_ROOT}) && install -d -m 0711 ${SYSTEM_DATA_ROOT} && restorecon -R ${SYSTEM_DATA_ROOT}; fi`,
    `printf ${q(unit.replace(/%/g, '%%'))} > /etc/systemd/system/berth.service`,
    'systemctl daemon-reload',
    'systemctl enable --now berth.service',
    'echo "Berth engine installed. Log out and back in (or kill the VS Code server) for the berth group to apply."',
  ].join('; ');
  return `sudo sh -c ${q(script)}`;
}

export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
