// Exec: extra processes in a running container (`docker exec`). The process itself belongs to the container's
// shim (runc exec --detach, reaped by the shim), so it joins every namespace and the cgroup of the container and
// survives a berthd restart; berthd keeps the records Docker's API shows (Running, ExitCode, Pid, ProcessConfig)
// until the container stops or is removed.
import * as crypto from 'node:crypto';
import { conflict, notFound, system } from '../errdefs';
import type { EventBus } from '../events';
import { log } from '../log';
import { buildExecProcess, hostCapabilities, type ProcessSession, type ProcessUser, type Runtime } from '../runtime';
import { startErrorExitCode, type ContainerRecord } from './state';

export interface ExecConfig {
  cmd: string[];
  env: string[];
  user: string;
  workingDir: string;
  privileged: boolean;
  tty: boolean;
  attachStdin: boolean;
  attachStdout: boolean;
  attachStderr: boolean;
  detachKeys: string;
}

export interface ExecRecord extends ExecConfig {
  id: string;
  containerId: string;
  running: boolean;
  started: boolean;
  exitCode: number | null;
  pid: number;
  /** ms since epoch when the process ended (records of ended execs are dropped after a while, as Docker does). */
  endedAt?: number;
}

export interface ExecStart {
  /** The process's stream (absent with detach). */
  session?: ProcessSession;
  /** Its TTY had the start's size before the process ran (else a resize is the caller's to send). */
  sized: boolean;
  /** Resolves with the exit code once the process has ended and its record is updated. */
  exited: Promise<number>;
}

export interface ExecService {
  create(ref: string, cfg: ExecConfig): string;
  /** Starts the exec; a process that cannot run is an error whose message is Docker's, with ExitCode 126/127 recorded. */
  start(id: string, detach: boolean, consoleSize?: { rows: number; cols: number }): Promise<ExecStart>;
  get(id: string): ExecRecord;
  resize(id: string, rows: number, cols: number): Promise<void>;
  /** The container stopped or went away: its exec records go too (running ones end with it). */
  forgetContainer(containerId: string): void;
}

export interface ExecDeps {
  runtime: Runtime;
  events: EventBus;
  /** The container, which must be running and not paused (409 otherwise). */
  running(ref: string): ContainerRecord;
  /** `User` resolved through the container's /etc/passwd and /etc/group. */
  resolveUser(c: ContainerRecord, user: string): ProcessUser;
}

const KEEP_ENDED_MS = 5 * 60_000;

export function createExecService(deps: ExecDeps): ExecService {
  const execs = new Map<string, ExecRecord>();
  const byContainer = new Map<string, Set<string>>();

  const lookup = (id: string) => {
    const e = execs.get(id);
    if (!e) throw notFound(`No such exec instance: ${id}`);
    return e;
  };
  // dockerd names the command in exec_create and exec_start, not in exec_die.
  const publish = (e: ExecRecord, c: ContainerRecord, action: string, extra: Record<string, string> = {}) =>
    deps.events.publish('container', action === 'exec_die' ? action : `${action}: ${e.cmd.join(' ')}`, c.id, {
      ...c.config.labels,
      image: c.config.image,
      name: c.name,
      execID: e.id,
      ...extra,
    });

  return {
    create(ref, cfg) {
      const c = deps.running(ref);
      const now = Date.now();
      for (const [id, old] of execs) {
        if (old.endedAt && now - old.endedAt > KEEP_ENDED_MS) {
          execs.delete(id);
          byContainer.get(old.containerId)?.delete(id);
        }
      }
      const id = crypto.randomBytes(32).toString('hex');
      const e: ExecRecord = { ...cfg, id, containerId: c.id, running: false, started: false, exitCode: null, pid: 0 };
      execs.set(id, e);
      let set = byContainer.get(c.id);
      if (!set) byContainer.set(c.id, (set = new Set()));
      set.add(id);
      publish(e, c, 'exec_create');
      return id;
    },

    async start(id, detach, consoleSize) {
      const e = lookup(id);
      if (e.started) throw conflict(`Error: Exec command ${id} has already run`);
      const c = deps.running(e.containerId);
      const spec = deps.runtime.spec(c.id);
      if (!spec) throw conflict(`Container ${c.id} is not running`);
      e.started = true;
      const proc = buildExecProcess(spec.process, {
        args: e.cmd,
        env: e.env,
        cwd: e.workingDir,
        tty: e.tty,
        privileged: e.privileged,
        hostCapabilities: hostCapabilities(),
        user: e.user ? deps.resolveUser(c, e.user) : undefined,
        consoleSize,
      });
      let started: { pid: number; session: ProcessSession; sized: boolean };
      try {
        started = await deps.runtime.exec(c.id, id, { process: proc, stdin: e.attachStdin && !detach });
      } catch (err: any) {
        if (err?.kind !== 'System') throw err;
        e.exitCode = startErrorExitCode(err.message, 126);
        e.endedAt = Date.now();
        publish(e, c, 'exec_die', { exitCode: String(e.exitCode) });
        throw system(`OCI runtime exec failed: ${err.message}: unknown`);
      }
      e.running = true;
      e.pid = started.pid;
      publish(e, c, 'exec_start');
      const exited = started.session.done.then((code) => {
        e.running = false;
        // No exit code means the shim went away (the container ended): the process was killed with it.
        e.exitCode = code ?? 137;
        e.endedAt = Date.now();
        publish(e, c, 'exec_die', { exitCode: String(e.exitCode) });
        return e.exitCode;
      });
      exited.catch((err) => log.warn('exec exit handling failed', { id, error: err?.message }));
      if (detach) {
        // Nobody reads the output; the session stays open for the exit code.
        started.session.onOutput(() => true);
        return { exited, sized: started.sized };
      }
      return { session: started.session, exited, sized: started.sized };
    },

    get: lookup,

    async resize(id, rows, cols) {
      const e = lookup(id);
      if (!e.running) throw conflict(`Exec ${id} is not running`);
      if (!e.tty) return; // Docker ignores resizes of an exec without a TTY
      await deps.runtime.resize(e.containerId, id, rows, cols);
    },

    forgetContainer(containerId) {
      for (const id of byContainer.get(containerId) ?? []) execs.delete(id);
      byContainer.delete(containerId);
    },
  };
}
