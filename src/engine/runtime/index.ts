// Runs containers with runc through berth-shim (native/berth-shim/main.c: why it exists and is written in C is
// explained there). berthd spawns one detached shim per start; the shim mounts the root filesystem, runs
// `runc create` and starts it (or `runc run -d`), reaps the container, runs its execs (entering it itself, see
// native/berth-shim/enter.c), writes its json-file log and, at the end, an exit file. berthd holds a
// connection to the shim's socket: its close means "the shim is done, read the exit file" — the same path
// works after berthd restarts (it just connects again).
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { conflict, invalidParameter, system } from '../errdefs';
import { log } from '../log';
import { writeFileAtomic } from '../util/fsx';
import { phaseTimer } from '../util/phases';

export {
  buildSpec,
  buildExecProcess,
  mergeEnv,
  parseSize,
  DEFAULT_PATH,
  capabilities,
  MASKED_PATHS,
  READONLY_PATHS,
  parseDeviceCgroupRule,
} from './spec';
import { defaultShimPath, fastExecRequest, readOnlyShim, seccompRequest } from './shim';
import { unmount } from './mounts';
export { defaultShimPath, fastExecRequest, readOnlyShim, seccompRequest } from './shim';
export { daemonSecurityOpt, parseSecurityOpt, type SecurityOptions } from './securityopt';
export { isMountPoint, mountOverlay, readOnlyMount, unmount } from './mounts';
export {
  findFuseOverlayfs,
  FUSE_OVERLAYFS_HINT,
  KERNEL_OVERLAY,
  mountOverlayData,
  overlayCommand,
  type OverlayDriver,
  overlayDriver,
} from './overlay';
export { hostCapabilities, hostNofileHard } from './bounds';
import {
  type CgroupDriver,
  cgroupDir as platformCgroupDir,
  oomFile,
  type Platform,
  type RuntimeChoice,
  runtimeGlobalArgs,
} from './platform';
export * from './platform';
export {
  limitsUnavailableReason,
  missingControllers,
  missingControllerWarnings,
  refuseUnusableLimits,
  unusableLimits,
} from './limits';
export * as selinux from './selinux';
export type { SpecInput, ExecInput, Mount, SharedNamespace, Ulimit } from './spec';
export { resolveUser } from './user';
export type { ProcessSession, OutputStream } from './session';
import { createSession, type ProcessSession } from './session';
export type { ProcessUser } from './user';

/** A container's runtime.json: the runtime and cgroup driver it was started with (none recorded before both were). */
type Recorded = RuntimeChoice & { cgroupDriver?: CgroupDriver };

export interface ExitStatus {
  exitCode: number;
  oomKilled: boolean;
  /** RFC3339Nano. */
  finishedAt: string;
  /** Set when the shim vanished without recording an exit (it was killed). */
  error?: string;
}

export interface StartRequest {
  id: string;
  spec: Record<string, any>;
  log?: { path: string; maxSize: number; maxFile: number };
  /** The overlay to mount at spec.root.path before runc runs (unmounted by the shim when the container ends). */
  overlay?: { lowerDirs: string[]; upperDir: string; workDir: string };
  /** stdin: a pipe (openStdin), closed after the first attach's EOF (stdinOnce). A TTY comes from spec.process.terminal. */
  openStdin?: boolean;
  stdinOnce?: boolean;
  /** Attach clients wait for this start: the shim reads no output until `release()` (or 5 s), so none is missed. */
  holdOutput?: boolean;
  /** HostConfig.Runtime: a name of RuntimeOptions.runtimes; default: the platform's runtime. */
  runtime?: string;
  /** Extra overlay mount options (SELinux: context="…"). */
  overlayOptions?: string[];
  /**
   * What the container's process waits for (its network, set up while runc creates the container); rejected: no
   * start, and start() throws its error.
   */
  gate?: Promise<unknown>;
}

export interface ExecRequest {
  /** The OCI process (see buildExecProcess). */
  process: Record<string, any>;
  stdin: boolean;
}

export interface RunningContainer {
  pid: number;
  /** Resolves when the shim has finished (output drained, runc state deleted, rootfs unmounted). */
  exited: Promise<ExitStatus>;
  /**
   * Resolves as soon as the container's init is gone and its output drained — before the shim's `runc delete` and
   * unmount (shims older than the "watch" request: with `exited`). What needs no more than the processes gone (its
   * network) is released from here, beside runc's delete.
   */
  stopped: Promise<void>;
}

export interface Runtime {
  /** The host below the API this runtime was made for (cgroup version and driver, default runtime, SELinux). */
  readonly platform: Platform;
  /** The runtimes a container may name (HostConfig.Runtime), with their binaries. */
  runtimes(): Record<string, RuntimeChoice>;
  /** Starts the container; resolves once its process runs, rejects with runc's error otherwise. */
  start(req: StartRequest): Promise<RunningContainer>;
  /** After a berthd restart: the live container, or how it ended while berthd was away (undefined: never ran). */
  reconnect(id: string): Promise<RunningContainer | ExitStatus | undefined>;
  /** A stream to the container's init: its output from now on, and its stdin when asked for and open. */
  attach(id: string, want: { stdin: boolean; stdout: boolean; stderr: boolean }): Promise<ProcessSession>;
  /** Lets a start with holdOutput go on once its attach sessions are connected. */
  release(id: string): Promise<void>;
  /** Runs a process in the running container (entered by the shim itself, or runc exec; reaped by the shim). */
  /** `sized`: a TTY got the process's consoleSize before it ran (the shim said so; runc's path, or an older shim, is
   * resized afterwards by the caller). */
  exec(id: string, execId: string, req: ExecRequest): Promise<{ pid: number; session: ProcessSession; sized: boolean }>;
  /** Sets the window size of the container's TTY ('init') or of an exec's. */
  resize(id: string, processId: string, rows: number, cols: number): Promise<void>;
  /** The OCI spec the container was started with (shared between callers: not to be changed). */
  spec(id: string): Record<string, any> | undefined;
  /** Sends a signal to the container's init (through the shim, which owns the pid). */
  kill(id: string, signal: number): Promise<void>;
  pause(id: string): Promise<void>;
  resume(id: string): Promise<void>;
  /** Host pids of every process in the container. */
  pids(id: string): Promise<number[]>;
  /** The container's cgroup directory for `controller` ('' on cgroup v2). */
  cgroupDir(id: string, controller: string): string;
  /** Applies new cgroup limits to a running container (runc update flags). */
  update(id: string, args: string[]): Promise<void>;
  /** Forgets the runtime state of a container whose shim has finished (no runc call needed). */
  forget(id: string): void;
  /** Force-removes whatever runc still holds for the container and forgets its runtime state; idempotent. */
  cleanup(id: string, rootfs?: string): Promise<void>;
  /** Ids of containers runc knows in this engine's root (to find leftovers). */
  list(): Promise<string[]>;
}

export interface RuntimeOptions {
  execRoot: string;
  /** The default runtime's binary when no platform is given (tests); else platform.runtime.path. */
  runcPath?: string;
  /** The host's cgroup version and driver, default runtime, SELinux (platform.ts); detected v1/v2 cgroupfs if absent. */
  platform?: Platform;
  /** Every runtime a container may name (daemon.json `runtimes` and the built-in ones), the default among them. */
  runtimes?: Record<string, RuntimeChoice>;
  /** The berth-shim binary; default: bin/berth-shim next to the bundle. */
  shimPath?: string;
  /** Every exec through `runc exec`, never the shim's own way in (berthd: BERTH_EXEC_RUNC=1). */
  execViaRunc?: boolean;
}

export function signalNumber(sig: string | number | undefined, fallback = 'SIGKILL'): number {
  if (sig === undefined || sig === '') return os.constants.signals[fallback as keyof typeof os.constants.signals];
  if (typeof sig === 'number') return sig;
  if (/^\d+$/.test(sig)) {
    if (Number(sig) === 0) throw invalidParameter(`Invalid signal: ${sig}`);
    return Number(sig);
  }
  const name = (
    sig.toUpperCase().startsWith('SIG') ? sig.toUpperCase() : `SIG${sig.toUpperCase()}`
  ) as keyof typeof os.constants.signals;
  const n = os.constants.signals[name];
  if (n === undefined) throw invalidParameter(`Invalid signal: ${sig}`);
  return n;
}

/** --init's binary (Debian's static tini, copied next to the bundle by scripts/build.mjs, as Docker bundles tini). */
export function defaultInitPath(): string {
  return process.env.BERTH_INIT ?? path.join(__dirname, 'bin', 'berth-init');
}

function cgroupV2(): boolean {
  return fs.existsSync('/sys/fs/cgroup/cgroup.controllers');
}

export function createRuntime(opts: RuntimeOptions): Runtime {
  let shimBinary: { path: string; readOnly: boolean } | undefined;
  const shim = () => (shimBinary ??= readOnlyShim(opts.shimPath ?? defaultShimPath(), opts.execRoot));
  const platform: Platform = opts.platform ?? {
    cgroup: { version: cgroupV2() ? 2 : 1, driver: 'cgroupfs' },
    runtime: { name: 'runc', path: opts.runcPath ?? 'runc' },
    selinux: { enabled: false },
  };
  const runtimes: Record<string, RuntimeChoice> = { [platform.runtime.name]: platform.runtime, ...opts.runtimes };
  // Each runtime keeps its state under a root of its own (runc's and crun's state files differ); runc's is
  // exec-root/runc as it always was.
  const rootOf = (r: RuntimeChoice) => path.join(opts.execRoot, r.name);
  const stateDir = (id: string) => path.join(opts.execRoot, 'containers', id);
  // Unix socket paths are limited to 108 bytes: a short name in a short directory.
  const socketPath = (id: string) => path.join(opts.execRoot, 's', id.slice(0, 16));
  /**
   * What a container was started with, recorded in its state dir (it outlives berthd restarts): its runtime and the
   * cgroup driver. A container that kept running through a restart with another native.cgroupdriver stays on the
   * driver it was made with — runc's --systemd-cgroup and its cgroup's place — as dockerd's shims keep the options
   * they were started with; new starts take the new one.
   */
  const startedWith = new Map<string, Platform>();
  const platformOf = (id: string): Platform => {
    let p = startedWith.get(id);
    if (p) return p;
    p = platform;
    try {
      const r = JSON.parse(fs.readFileSync(path.join(stateDir(id), 'runtime.json'), 'utf8')) as Recorded;
      if (r?.name && r?.path) {
        const { cgroupDriver, ...runtime } = r;
        p = { ...platform, runtime, cgroup: { ...platform.cgroup, driver: cgroupDriver ?? platform.cgroup.driver } };
      }
    } catch {
      /* started before runtimes were recorded (or not at all): the engine's own */
    }
    startedWith.set(id, p);
    return p;
  };
  const record = (id: string, runtime: RuntimeChoice) => {
    const recorded: Recorded = { ...runtime, cgroupDriver: platform.cgroup.driver };
    // tmpfs (exec-root): no fsync needed.
    writeFileAtomic(path.join(stateDir(id), 'runtime.json'), JSON.stringify(recorded), 0o600);
    startedWith.set(id, { ...platform, runtime });
  };
  const cgroupDir = (id: string, controller: string) => platformCgroupDir(platformOf(id), id, controller);

  const runc = (args: string[], id?: string, choice?: RuntimeChoice) =>
    new Promise<string>((resolve, reject) => {
      const p = choice ? { ...platform, runtime: choice } : id ? platformOf(id) : platform;
      execFile(
        p.runtime.path,
        [...runtimeGlobalArgs(p), '--root', rootOf(p.runtime), ...args],
        { encoding: 'utf8', maxBuffer: 16 << 20 },
        (err, stdout, stderr) => {
          if (err) reject(system((stderr || err.message).trim().replace(/^time="[^"]*" level=\w+ msg="(.*)"$/m, '$1')));
          else resolve(stdout);
        },
      );
    });

  const readExit = (id: string): ExitStatus | undefined => {
    try {
      return JSON.parse(fs.readFileSync(path.join(stateDir(id), 'exit'), 'utf8')) as ExitStatus;
    } catch {
      return undefined;
    }
  };

  /**
   * Holds the shim's socket open; resolves with the exit status when the shim is gone. `notice`: the shim's early
   * word that the init is gone (its status pipe); without one (a reconnect) the end is the exit.
   */
  const watch = (id: string, pid: number, sock: net.Socket, notice?: Promise<boolean>): RunningContainer => {
    const exited = new Promise<ExitStatus>((resolve) => {
      sock.on('error', () => {
        /* close follows */
      });
      sock.on('data', () => {
        /* nothing is sent on the holding connection */
      });
      sock.once('close', () => resolve(finish(id)));
    });
    sock.unref(); // a held connection must not keep berthd's event loop alive on shutdown
    // A pipe closed without the word (the shim killed: finish() kills what may be left) ends with the exit.
    const stopped = (notice ?? Promise.resolve(false)).then((said) => (said ? undefined : exited.then(() => {})));
    return { pid, exited, stopped };
  };

  const finish = async (id: string): Promise<ExitStatus> => {
    const status = readExit(id);
    if (status) return status;
    // The shim died without an exit file (it was killed): make sure nothing of the container survives it.
    log.warn('container shim disappeared; cleaning up', { id });
    await runc(['kill', id, 'KILL'], id).catch(() => {});
    await runc(['delete', '--force', id], id).catch(() => {});
    return {
      exitCode: 137,
      oomKilled: false,
      finishedAt: new Date().toISOString(),
      error: 'container shim exited unexpectedly',
    };
  };

  const connect = (id: string) =>
    new Promise<net.Socket | undefined>((resolve) => {
      const s = net.connect(socketPath(id));
      s.once('connect', () => resolve(s));
      s.once('error', () => resolve(undefined));
    });

  /** Sends one request line; resolves with the reply line and whatever followed it on the connection. The line
   * may be written before the connection is up: node sends it once connected. */
  const ask = (s: net.Socket, line: string) =>
    new Promise<{ reply: string; rest: Buffer }>((resolve) => {
      let buf = Buffer.alloc(0);
      const onData = (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        const nl = buf.indexOf(10);
        if (nl < 0) return;
        s.off('data', onData);
        s.pause();
        resolve({ reply: buf.subarray(0, nl).toString(), rest: buf.subarray(nl + 1) });
      };
      s.on('data', onData);
      s.once('error', () => {
        /* close follows */
      });
      s.once('close', () =>
        resolve({ reply: buf.toString() || 'err shim closed the connection', rest: Buffer.alloc(0) }),
      );
      s.write(line + '\n');
    });

  /** Connects to the container's shim and sends one request line without waiting for the connection (one turn
   * of the event loop less per exec); undefined when no shim listens there. */
  const dial = (id: string, line: string) =>
    new Promise<{ s: net.Socket; reply: string; rest: Buffer } | undefined>((resolve) => {
      const s = net.connect(socketPath(id));
      let connected = false;
      s.once('connect', () => {
        connected = true;
      });
      void ask(s, line).then((r) => {
        if (connected) resolve({ s, ...r });
        else {
          s.destroy();
          resolve(undefined);
        }
      });
    });

  const request = async (id: string, line: string): Promise<string> => {
    const r = await dial(id, line);
    if (!r) throw conflict(`Container ${id} is not running`);
    r.s.destroy();
    return r.reply;
  };

  /** Each container's spec as last read, with the file's identity then: every exec reads it (twice). */
  const specs = new Map<string, { ino: number; mtimeMs: number; spec: Record<string, any> }>();
  /** The container's spec (config.json in its state dir); the same object while the file is the same. */
  const specOf = (id: string): Record<string, any> | undefined => {
    const file = path.join(stateDir(id), 'config.json');
    try {
      const st = fs.statSync(file);
      const known = specs.get(id);
      if (known && known.ino === st.ino && known.mtimeMs === st.mtimeMs) return known.spec;
      const spec = JSON.parse(fs.readFileSync(file, 'utf8'));
      specs.set(id, { ino: st.ino, mtimeMs: st.mtimeMs, spec });
      return spec;
    } catch {
      specs.delete(id);
      return undefined;
    }
  };

  /** runc's own words from a JSON log line ("time=… level=error msg=…" or {"msg": …}), else the text itself. */
  const runcMessage = (text: string) => {
    try {
      return String(JSON.parse(text).msg ?? text);
    } catch {
      /* plain text */
    }
    return text.replace(/^time="[^"]*" level=\w+ msg="(.*)"$/m, '$1').replace(/\\"/g, '"');
  };

  return {
    platform,
    runtimes: () => ({ ...runtimes }),

    async start(req) {
      const dir = stateDir(req.id);
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      fs.mkdirSync(path.dirname(socketPath(req.id)), { recursive: true, mode: 0o700 });
      fs.rmSync(path.join(dir, 'exit'), { force: true });
      const rt = req.runtime ? runtimes[req.runtime] : platform.runtime;
      if (!rt) throw invalidParameter(`unknown or invalid runtime name: ${req.runtime}`);
      // tmpfs (exec-root): no fsync needed, the file only has to be whole when runc reads it.
      writeFileAtomic(path.join(dir, 'config.json'), JSON.stringify(req.spec), 0o600);
      record(req.id, rt);
      // Rootless, the shim cannot copy the init's filter for fast exec: it compiles the same one (enter_seccomp.c).
      const seccompFile = path.join(dir, 'seccomp.fx');
      const seccomp = platform.rootless ? seccompRequest(req.spec.linux?.seccomp) : undefined;
      if (seccomp) writeFileAtomic(seccompFile, seccomp, 0o600);
      else fs.rmSync(seccompFile, { force: true });
      const args = ['-i', req.id, '-b', dir, '-r', rt.path, '-R', rootOf(rt), '-d', dir, '-S', socketPath(req.id)];
      for (const g of runtimeGlobalArgs({ ...platform, runtime: rt })) args.push(`-g${g}`);
      if (req.log) args.push('-l', req.log.path, '-s', String(req.log.maxSize), '-n', String(req.log.maxFile));
      if (req.spec.process?.terminal) args.push('-t');
      if (req.openStdin) args.push('-I', ...(req.stdinOnce ? ['-O'] : []));
      if (req.holdOutput) args.push('-W');
      const fast = shim().readOnly && !opts.execViaRunc;
      if (fast) args.push('-X');
      // The gate: with -X the shim waits between runc create and start for a byte on fd 4. One `runc run` (without
      // -X) has no such step: the gate is awaited before the shim.
      const gated = !!req.gate && fast;
      if (req.gate && !gated) await req.gate;
      if (gated) args.push('-G', '4');
      args.push('-o', oomFile(platform, req.id));
      if (req.overlay) {
        const lower = req.overlay.lowerDirs.join(':');
        args.push(
          '-M',
          [
            `lowerdir=${lower},upperdir=${req.overlay.upperDir},workdir=${req.overlay.workDir}`,
            ...(req.overlayOptions ?? []),
          ].join(','),
          '-T',
          req.spec.root.path,
          ...(platform.overlay?.fuse ? ['-F', platform.overlay.fuse] : []),
        );
      }
      const child = spawn(shim().path, args, {
        detached: true,
        stdio: ['ignore', 'ignore', 'pipe', 'pipe', ...(gated ? (['pipe'] as const) : [])],
      });
      let gateError: unknown;
      if (gated) {
        const g = child.stdio[4] as net.Socket;
        g.on('error', () => {
          /* the shim is gone: its report says why */
        });
        req.gate!.then(
          () => g.end('g'),
          (err) => {
            gateError = err;
            g.destroy();
          },
        );
      }
      let stderr = '';
      child.stderr!.on('data', (d) => (stderr += d));
      // The status pipe: "ok <pid>" or "err …" first; after "ok" it stays open until the shim says "exited" (the
      // init gone, before runc delete) or ends.
      const status = child.stdio[3] as net.Socket;
      let notice!: Promise<boolean>;
      const report = await new Promise<string>((resolve) => {
        let out = '';
        let reported = false;
        let said: (v: boolean) => void;
        notice = new Promise<boolean>((r) => {
          said = r;
        });
        const firstLine = () => {
          if (reported || !out.includes('\n')) return;
          reported = true;
          resolve(out);
        };
        status.on('data', (d) => {
          out += d;
          firstLine();
          if (/\nexited\n/.test(out)) said(true);
        });
        status.on('close', () => {
          said(false);
          if (!reported) resolve(out);
        });
        status.on('error', () => {
          /* close follows */
        });
        child.once('error', (err) => resolve(`err ${err.message}`));
      });
      status.unref?.();
      child.stderr!.destroy();
      child.unref();
      const line = report.split('\n')[0];
      if (!line.startsWith('ok ')) {
        if (gateError) throw gateError;
        const message = line.startsWith('err ') ? line.slice(4) : stderr.trim() || 'container shim failed to start';
        throw system(message.replace(/^runc (run|create) failed: /, ''));
      }
      const pid = Number(line.slice(3));
      const sock = await connect(req.id);
      if (!sock) {
        status.destroy();
        const exited = finish(req.id);
        return { pid, exited, stopped: exited.then(() => {}) };
      }
      return watch(req.id, pid, sock, notice);
    },

    async reconnect(id) {
      const sock = await connect(id);
      if (sock) {
        let pid = 0;
        try {
          pid = Number(fs.readFileSync(path.join(stateDir(id), 'pid'), 'utf8'));
        } catch {
          /* unknown */
        }
        return watch(id, pid, sock);
      }
      if (!fs.existsSync(stateDir(id))) return undefined;
      return finish(id);
    },

    async attach(id, want) {
      const s = await connect(id);
      if (!s) throw conflict(`Container ${id} is not running`);
      const { reply, rest } = await ask(s, `attach ${+want.stdin} ${+want.stdout} ${+want.stderr}`);
      if (reply !== 'ok') {
        s.destroy();
        throw conflict(`Container ${id} is not running`);
      }
      const session = createSession(s, rest);
      s.resume();
      return session;
    },

    async release(id) {
      await request(id, 'go').catch(() => {});
    },

    async exec(id, execId, req) {
      // Read once by runc right after this and deleted: no temp + rename or fsync needed.
      // The shim enters the container itself from the .fx file when it can (native/berth-shim/enter.c), else runs runc
      // with the .json; a shim that predates the fast path ignores the extra word.
      const phases = log.isDebug() ? phaseTimer() : undefined;
      const file = path.join(stateDir(id), `exec-${execId}.json`);
      const fastFile = path.join(stateDir(id), `exec-${execId}.fx`);
      fs.writeFileSync(file, JSON.stringify(req.process), { mode: 0o600 });
      const fast = fastExecRequest(req.process, !!specOf(id)?.linux?.seccomp);
      if (fast) fs.writeFileSync(fastFile, fast, { mode: 0o600 });
      phases?.mark('files');
      try {
        // The TTY's size goes on the line, after the fast-exec file: an older shim reads five words and leaves it.
        const size = req.process.terminal ? req.process.consoleSize : undefined;
        const sizeWords = fast && size?.height && size?.width ? ` ${size.height} ${size.width}` : '';
        const r = await dial(
          id,
          `exec ${execId} ${+!!req.process.terminal} ${+req.stdin} ${file}${fast ? ` ${fastFile}${sizeWords}` : ''}`,
        );
        if (!r) throw conflict(`Container ${id} is not running`);
        const { s, reply, rest } = r;
        if (!reply.startsWith('ok ')) {
          s.destroy();
          const message = runcMessage(reply.replace(/^err /, ''));
          throw message === 'container not running' ? conflict(`Container ${id} is not running`) : system(message);
        }
        const session = createSession(s, rest);
        s.resume();
        if (phases) log.debug('exec start phases', { exec: execId.slice(0, 12), ...phases.done('shim') });
        const [, pid, sized] = /^ok (\d+)( sized)?/.exec(reply) ?? [];
        return { pid: Number(pid), session, sized: !!sized };
      } finally {
        fs.rmSync(file, { force: true });
        fs.rmSync(fastFile, { force: true });
      }
    },

    async resize(id, processId, rows, cols) {
      const reply = await request(id, `resize ${processId} ${rows} ${cols}`);
      if (reply !== 'ok') throw conflict(reply.replace(/^err /, ''));
    },

    spec: specOf,

    async kill(id, signal) {
      const reply = await request(id, `kill ${signal}`);
      if (reply !== 'ok')
        throw conflict(
          reply.startsWith('err container not running')
            ? `Container ${id} is not running`
            : `Cannot kill container: ${id}: ${reply.replace(/^err /, '')}`,
        );
    },

    async pause(id) {
      await runc(['pause', id], id);
    },
    async resume(id) {
      await runc(['resume', id], id);
    },

    async pids(id) {
      const out = await runc(['ps', '--format', 'json', id], id);
      return (JSON.parse(out || '[]') as number[]) ?? [];
    },

    cgroupDir,

    async update(id, args) {
      // runc lifts a pids limit for -1; crun writes "-1" into pids.max, which the kernel refuses (EINVAL), and
      // takes 0 as "unchanged" — so for crun (and other runtimes) the kernel's "max" is written here.
      const at = args.indexOf('--pids-limit');
      const liftPids = at >= 0 && Number(args[at + 1]) < 0 && platformOf(id).runtime.name !== 'runc';
      const rest = liftPids ? [...args.slice(0, at), ...args.slice(at + 2)] : args;
      if (rest.length) await runc(['update', ...rest, id], id);
      if (liftPids) fs.writeFileSync(path.join(cgroupDir(id, 'pids'), 'pids.max'), 'max');
    },

    forget(id) {
      specs.delete(id);
      startedWith.delete(id);
      fs.rmSync(stateDir(id), { recursive: true, force: true });
      fs.rmSync(socketPath(id), { force: true });
    },

    async cleanup(id, rootfs) {
      specs.delete(id);
      await runc(['delete', '--force', id], id).catch(() => {});
      startedWith.delete(id);
      if (rootfs) await unmount(rootfs);
      fs.rmSync(stateDir(id), { recursive: true, force: true });
      fs.rmSync(socketPath(id), { force: true });
    },

    async list() {
      const ids = new Set<string>();
      for (const r of Object.values(runtimes)) {
        if (!fs.existsSync(rootOf(r))) continue;
        try {
          const out = await runc(['list', '--format', 'json'], undefined, r);
          for (const c of (JSON.parse(out || 'null') as { id: string }[] | null) ?? []) ids.add(c.id);
        } catch {
          /* this runtime is gone from the host */
        }
      }
      return [...ids];
    },
  };
}
