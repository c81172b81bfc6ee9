// ssh://user@host[:port][/remote/socket]: the remote engine's unix socket forwarded to a local one by OpenSSH
// (`ssh -L local.sock:remote.sock`), so the one client (unix socket) talks to it; the tunnel lives as long as the
// engine is selected. The remote socket defaults to Docker's; a remote Berth says /run/berth/berth.sock.
import { type ChildProcess, spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

export interface SshTarget {
  user?: string;
  host: string;
  port?: number;
  socket: string;
}

export const DEFAULT_REMOTE_SOCKET = '/var/run/docker.sock';

export function parseSshHost(url: string): SshTarget {
  const m = /^ssh:\/\/(?:([^@/]+)@)?([^/:]+)(?::(\d+))?(\/.*)?$/.exec(url.trim());
  if (!m) throw new Error(`not an ssh:// engine address: ${url}`);
  return { user: m[1], host: m[2], port: m[3] ? Number(m[3]) : undefined, socket: m[4] || DEFAULT_REMOTE_SOCKET };
}

/** OpenSSH's arguments for the forward: no shell, no stdin, fail (not hang) when the forward cannot be made. */
export function sshTunnelArgs(t: SshTarget, localSocket: string): string[] {
  return [
    '-nNT',
    '-o',
    'ExitOnForwardFailure=yes',
    '-o',
    'BatchMode=yes',
    '-o',
    'ServerAliveInterval=30',
    '-o',
    'StreamLocalBindUnlink=yes',
    ...(t.port ? ['-p', String(t.port)] : []),
    '-L',
    `${localSocket}:${t.socket}`,
    t.user ? `${t.user}@${t.host}` : t.host,
  ];
}

export class SshTunnel {
  private child?: ChildProcess;
  readonly localSocket: string;
  private ready?: Promise<string>;

  constructor(
    readonly url: string,
    private readonly sshCommand = 'ssh',
    dir = path.join(os.tmpdir(), `berth-ssh-${process.getuid?.() ?? 'u'}`),
  ) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.localSocket = path.join(dir, `${crypto.createHash('sha256').update(url).digest('hex').slice(0, 16)}.sock`);
  }

  /** Starts the tunnel (once) and resolves the local unix:// host when its socket exists. */
  start(timeoutMs = 20_000): Promise<string> {
    if (this.ready && this.child && this.child.exitCode === null) return this.ready;
    const target = parseSshHost(this.url);
    fs.rmSync(this.localSocket, { force: true });
    const child = spawn(this.sshCommand, sshTunnelArgs(target, this.localSocket), {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.child = child;
    let stderr = '';
    child.stderr?.on('data', (c) => (stderr += c.toString()));
    this.ready = new Promise<string>((resolve, reject) => {
      const deadline = Date.now() + timeoutMs;
      const poll = () => {
        if (child.exitCode !== null || child.signalCode)
          return reject(new Error(`ssh to ${target.host} ended: ${stderr.trim() || `exit code ${child.exitCode}`}`));
        if (Date.now() > deadline) {
          child.kill();
          return reject(new Error(`ssh to ${target.host}: no tunnel after ${timeoutMs / 1000} s`));
        }
        // The socket file appears at bind(), a moment before ssh listens: ready once a connection is taken.
        if (fs.existsSync(this.localSocket)) {
          const probe = net.connect(this.localSocket);
          probe.once('connect', () => {
            probe.destroy();
            resolve(`unix://${this.localSocket}`);
          });
          probe.once('error', () => {
            probe.destroy();
            setTimeout(poll, 50);
          });
          return;
        }
        setTimeout(poll, 50);
      };
      child.once('error', (err) => reject(new Error(`cannot run ${this.sshCommand}: ${err.message}`)));
      poll();
    });
    this.ready.catch(() => (this.ready = undefined));
    return this.ready;
  }

  dispose(): void {
    this.child?.kill();
    this.child = undefined;
    this.ready = undefined;
    fs.rmSync(this.localSocket, { force: true });
  }
}
