// Healthchecks, as dockerd runs them (daemon/health.go): while a container runs (and is not paused) its
// HEALTHCHECK command is exec'd every interval (every start interval during the start period) with a timeout;
// exit 0 is healthy, anything else a failure, and `retries` failures in a row make it unhealthy — failures within
// the start period do not count until a first success. State.Health keeps the last five results (output cut at
// 4096 bytes), every status change is a `health_status: …` event, and a stopped or paused container's monitor
// ends with the status unhealthy. The timers are this part's own state.
import { log } from '../log';
import type { ExecService } from './exec';
import type { ContainerRecord, HealthcheckResult, HealthConfig } from './state';
import { type ContainerStore, nowRfc3339Nano } from './store';

const DEFAULT_INTERVAL = 30e9;
const DEFAULT_TIMEOUT = 30e9;
const DEFAULT_START_INTERVAL = 5e9;
const DEFAULT_RETRIES = 3;
const MAX_LOG_ENTRIES = 5;
const MAX_OUTPUT = 4096;

/** The probe's command, or undefined when the container has no (enabled) healthcheck. */
export function probeCommand(c: ContainerRecord): string[] | undefined {
  const test = c.config.healthcheck?.Test;
  if (!test?.length) return undefined;
  if (test[0] === 'CMD') return test.slice(1);
  if (test[0] === 'CMD-SHELL') return ['/bin/sh', '-c', ...test.slice(1)];
  return undefined; // NONE, or a type Docker does not know either
}

/** moby's merge of a request's healthcheck over the image's: a zero field takes the image's value. */
export function mergeHealthcheck(
  requested: HealthConfig | undefined,
  image: HealthConfig | undefined,
): HealthConfig | undefined {
  if (!image) return requested;
  if (!requested) return image;
  return {
    Test: requested.Test?.length ? requested.Test : image.Test,
    Interval: requested.Interval || image.Interval,
    Timeout: requested.Timeout || image.Timeout,
    StartPeriod: requested.StartPeriod || image.StartPeriod,
    StartInterval: requested.StartInterval || image.StartInterval,
    Retries: requested.Retries || image.Retries,
  };
}

const ms = (ns: number | undefined, dflt: number) => (ns || dflt) / 1e6;

export function createHealth(store: ContainerStore, deps: { execs: ExecService }) {
  /** Running monitors: the pending probe's timer and whether the monitor was stopped meanwhile. */
  const monitors = new Map<string, { timer?: NodeJS.Timeout; stopped: boolean }>();

  const inStartPeriod = (c: ContainerRecord) => {
    const h = c.config.healthcheck;
    return (
      !!h?.StartPeriod &&
      c.state.health?.status === 'starting' &&
      Date.now() - Date.parse(c.state.startedAt) < h.StartPeriod / 1e6
    );
  };

  const schedule = (c: ContainerRecord, m: { timer?: NodeJS.Timeout; stopped: boolean }) => {
    const h = c.config.healthcheck!;
    const wait = inStartPeriod(c) ? ms(h.StartInterval, DEFAULT_START_INTERVAL) : ms(h.Interval, DEFAULT_INTERVAL);
    m.timer = setTimeout(() => void probe(c, m), wait);
    m.timer.unref();
  };

  const runProbe = async (c: ContainerRecord, cmd: string[], timeoutMs: number): Promise<HealthcheckResult> => {
    const start = nowRfc3339Nano();
    const id = deps.execs.create(c.id, {
      cmd,
      env: [],
      user: c.config.user,
      workingDir: c.config.workingDir,
      privileged: false,
      tty: false,
      attachStdin: false,
      attachStdout: true,
      attachStderr: true,
      detachKeys: '',
    });
    let output = Buffer.alloc(0);
    let truncated = false;
    const done = (async () => {
      const started = await deps.execs.start(id, false);
      started.session!.onOutput((_stream, chunk) => {
        const room = MAX_OUTPUT - output.length;
        if (room > 0) output = Buffer.concat([output, chunk.subarray(0, room)]);
        if (chunk.length > room) truncated = true;
        return true;
      });
      return started.exited;
    })();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), timeoutMs);
      timer.unref();
    });
    try {
      const code = await Promise.race([done, timedOut]);
      if (code === undefined) {
        done.catch(() => {});
        return {
          start,
          end: nowRfc3339Nano(),
          exitCode: -1,
          output: `Health check exceeded timeout (${goDuration(timeoutMs)})`,
        };
      }
      return {
        start,
        end: nowRfc3339Nano(),
        exitCode: code,
        output: output.toString('utf8') + (truncated ? '...' : ''),
      };
    } catch (err: any) {
      return { start, end: nowRfc3339Nano(), exitCode: -1, output: String(err?.message ?? err) };
    } finally {
      clearTimeout(timer);
    }
  };

  const probe = async (c: ContainerRecord, m: { timer?: NodeJS.Timeout; stopped: boolean }) => {
    const cmd = probeCommand(c);
    if (m.stopped || !cmd || !c.state.health) return;
    const h = c.config.healthcheck!;
    const result = await runProbe(c, cmd, ms(h.Timeout, DEFAULT_TIMEOUT));
    if (m.stopped || !c.state.health) return;
    const health = c.state.health;
    const before = health.status;
    health.log = [...health.log, result].slice(-MAX_LOG_ENTRIES);
    if (result.exitCode === 0) {
      health.failingStreak = 0;
      health.status = 'healthy';
    } else {
      // Failures in the start period count only once the container has been healthy.
      const withinStart =
        health.status === 'starting' &&
        !!h.StartPeriod &&
        Date.parse(result.start) - Date.parse(c.state.startedAt) < h.StartPeriod / 1e6;
      if (!withinStart) {
        health.failingStreak++;
        if (health.failingStreak >= (h.Retries || DEFAULT_RETRIES)) health.status = 'unhealthy';
      }
    }
    store.save(c);
    if (health.status !== before) store.publish(c, `health_status: ${health.status}`);
    if (!m.stopped) schedule(c, m);
  };

  const stopMonitor = (c: ContainerRecord): boolean => {
    const m = monitors.get(c.id);
    if (!m) return false;
    m.stopped = true;
    clearTimeout(m.timer);
    monitors.delete(c.id);
    return true;
  };

  const run = (c: ContainerRecord) => {
    if (monitors.has(c.id) || !probeCommand(c)) return;
    const m = { stopped: false };
    monitors.set(c.id, m);
    schedule(c, m);
  };

  return {
    /** A start: the status is "starting" again (the log is kept) and probes begin after the first interval. */
    start(c: ContainerRecord): void {
      stopMonitor(c);
      if (!probeCommand(c)) return;
      c.state.health = { status: 'starting', failingStreak: 0, log: c.state.health?.log ?? [] };
      run(c);
    },
    /** Unpaused, or found running after an engine restart: probes go on from where they were. */
    resume(c: ContainerRecord): void {
      if (!c.state.health) c.state.health = { status: 'starting', failingStreak: 0, log: [] };
      run(c);
    },
    /** Exited, paused or removed: no more probes, and the status is unhealthy (what dockerd then shows). */
    stop(c: ContainerRecord): void {
      if (stopMonitor(c) && c.state.health) c.state.health.status = 'unhealthy';
    },
    /** Engine shutdown: timers cleared, statuses left as they are (the next engine resumes them). */
    stopAll(): void {
      for (const m of monitors.values()) {
        m.stopped = true;
        clearTimeout(m.timer);
      }
      monitors.clear();
      log.debug('healthchecks stopped');
    },
  };
}

export type Health = ReturnType<typeof createHealth>;

/** time.Duration's String() for the timeout message ("30s", "1.5s", "500ms"). */
function goDuration(msValue: number): string {
  if (msValue < 1000) return `${msValue}ms`;
  const s = msValue / 1000;
  if (s < 60) return `${Number(s.toFixed(3))}s`;
  const m = Math.floor(s / 60);
  const rest = Number((s - m * 60).toFixed(3));
  if (m < 60) return `${m}m${rest}s`;
  return `${Math.floor(m / 60)}h${m % 60}m${rest}s`;
}
