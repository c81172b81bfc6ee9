// Where a VM lives on the host: one private directory per VM (0700) with its disk, certificates, sockets and logs.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** BERTH_HOME, else ~/.berth (short on purpose: unix socket paths are limited to ~104 bytes on macOS). */
export function berthHome(env: NodeJS.ProcessEnv = process.env): string {
  if (env.BERTH_HOME) return path.resolve(env.BERTH_HOME);
  if (process.platform === 'win32' && env.LOCALAPPDATA) return path.join(env.LOCALAPPDATA, 'berth');
  return path.join(os.homedir(), '.berth');
}

export const DEFAULT_VM = 'default';

export function validVmName(name: string): boolean {
  return /^[a-z0-9][a-z0-9_.-]{0,31}$/i.test(name);
}

export class VmPaths {
  readonly dir: string;
  constructor(
    readonly name: string,
    home = berthHome(),
  ) {
    if (!validVmName(name)) throw new Error(`invalid VM name "${name}": letters, digits, '.', '_' and '-' only`);
    this.dir = path.join(home, 'vm', name);
  }
  private f(n: string) {
    return path.join(this.dir, n);
  }
  get config() {
    return this.f('config.json');
  }
  get state() {
    return this.f('state.json');
  }
  get lock() {
    return this.f('start.lock');
  }
  get dataDisk() {
    return this.f('data.img');
  }
  /** The user's engine config for the guest (daemon.json), editable; copied into the seed at each start. */
  get daemonJson() {
    return this.f('daemon.json');
  }
  get tlsDir() {
    return this.f('tls');
  }
  /** What the guest mounts read-only at /run/berth-seed: its certificates and daemon.json. */
  get seedDir() {
    return this.f('seed');
  }
  get consoleLog() {
    return this.f('console.log');
  }
  get supervisorLog() {
    return this.f('supervisor.log');
  }
  /** The engine's API for the host (0600). On Windows a named pipe of this user's (windowsPipeName). */
  get apiSocket() {
    return process.platform === 'win32' ? windowsPipeName(this.dir, this.name) : this.f('berth.sock');
  }
  /** The supervisor's own control socket: stop, status. */
  get controlSocket() {
    return process.platform === 'win32'
      ? windowsPipeName(this.dir, this.name, 'supervisor')
      : this.f('supervisor.sock');
  }
  get qmpSocket() {
    return this.f('qmp.sock');
  }
  get guestControlSocket() {
    return this.f('guest-control.sock');
  }
  /** A kernel made for vfkit (which rejects compressed arm64 kernels). */
  get vfkitKernel() {
    return this.f('vmlinux');
  }

  ensureDir(): void {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    // An existing directory made by hand keeps nobody else out either.
    if (process.platform !== 'win32') fs.chmodSync(this.dir, 0o700);
  }
}

/**
 * A VM's named pipe on Windows. Pipe names are one namespace for the whole machine, so `berth-default` was the same
 * pipe for every user: a second user's VM could not start while the first ran. The name carries a hash of the user
 * and of the VM's folder (case-insensitive, as Windows compares both). Node's pipe server (libuv's uv_pipe_bind,
 * src/win/pipe.c) creates it with FILE_FLAG_FIRST_PIPE_INSTANCE, so a pipe someone else made under the name first
 * fails the start (EADDRINUSE) rather than being joined, and with the default security descriptor, which grants
 * other users read but not write (Microsoft, "Named Pipe Security and Access Rights"): nobody else can send the
 * engine or the supervisor a request.
 */
export function windowsPipeName(
  dir: string,
  name: string,
  role: 'api' | 'supervisor' = 'api',
  user = os.userInfo().username,
): string {
  const id = crypto.createHash('sha256').update(`${user}\0${dir}`.toLowerCase()).digest('hex').slice(0, 16);
  return `\\\\.\\pipe\\berth-${name}-${id}${role === 'supervisor' ? '-supervisor' : ''}`;
}

/** Names of the VMs that exist under the Berth home. */
export function listVms(home = berthHome()): string[] {
  try {
    return fs
      .readdirSync(path.join(home, 'vm'), { withFileTypes: true })
      .filter((e) => e.isDirectory() && validVmName(e.name))
      .map((e) => e.name)
      .sort();
  } catch {
    return [];
  }
}
