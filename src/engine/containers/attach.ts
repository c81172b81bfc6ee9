// A container's output and stdio: `docker logs` from its json-file log, the output an attach follows until the
// next exit, the live stdio of the run (or of the next start, which holds its output for the session) and the
// size of its TTY.
import { conflict } from '../errdefs';
import { type LogSink, type ReadOptions, readLogs } from '../logs';
import type { ProcessSession } from '../runtime';
import type { ContainerStore } from './store';

export function createAttach(store: ContainerStore) {
  const { runtime } = store.deps;
  return {
    async logs(ref: string, o: ReadOptions, sink: LogSink, abort?: AbortSignal): Promise<void> {
      const c = store.lookup(ref);
      const type = c.hostConfig.logConfig.type || store.deps.logDefaults().type;
      if (type === 'none') throw conflict(`configured logging driver does not support reading: ${type}`);
      const stopped =
        store.live.has(c.id) || c.state.status === 'restarting' ? store.nextExit(c.id) : Promise.resolve();
      await readLogs(c.logPath, o, sink, { raw: c.config.tty, stopped, signal: abort });
    },

    async attachOutput(
      ref: string,
      o: { stdout: boolean; stderr: boolean; logs: boolean; stream: boolean },
      sink: LogSink,
      abort?: AbortSignal,
    ): Promise<void> {
      const c = store.lookup(ref);
      const stopped = store.nextExit(c.id);
      if (!o.stream) {
        if (o.logs)
          await readLogs(c.logPath, { stdout: o.stdout, stderr: o.stderr, timestamps: false, follow: false }, sink, {
            raw: c.config.tty,
          });
        return;
      }
      await readLogs(
        c.logPath,
        { stdout: o.stdout, stderr: o.stderr, timestamps: false, follow: true, tail: o.logs ? undefined : 0 },
        sink,
        { raw: c.config.tty, stopped, signal: abort },
      );
    },

    async attach(
      ref: string,
      want: { stdin: boolean; stdout: boolean; stderr: boolean },
      abort?: AbortSignal,
    ): Promise<ProcessSession | undefined> {
      const c = store.lookup(ref);
      // The stream ends when the container's stdio closes; clients then ask for the exit code, so the stream
      // is held until the exit is recorded (bounded: a shim that dies keeps nobody waiting long).
      const untilRecorded = (s: ProcessSession | undefined): ProcessSession | undefined => {
        if (!s) return s;
        const exit = store.nextExit(c.id);
        return {
          ...s,
          done: s.done.then((v) => Promise.race([exit, new Promise((r) => setTimeout(r, 3000).unref())]).then(() => v)),
        };
      };
      if (store.live.has(c.id) && c.state.status !== 'restarting')
        return untilRecorded(await runtime.attach(c.id, want));
      return new Promise<ProcessSession | undefined>((outer) => {
        const resolve = (s: ProcessSession | undefined) => outer(untilRecorded(s));
        const entry = { want, resolve };
        let list = store.pendingAttaches.get(c.id);
        if (!list) store.pendingAttaches.set(c.id, (list = []));
        list.push(entry);
        abort?.addEventListener(
          'abort',
          () => {
            const l = store.pendingAttaches.get(c.id);
            if (l?.includes(entry)) l.splice(l.indexOf(entry), 1);
            resolve(undefined);
          },
          { once: true },
        );
      });
    },

    /** Window size of the container's TTY. */
    async resize(ref: string, rows: number, cols: number): Promise<void> {
      const c = store.lookup(ref);
      if (!store.live.has(c.id)) throw conflict(`Container ${c.id} is not running`);
      if (!c.config.tty) return; // Docker ignores resizes of a container without a TTY
      await runtime.resize(c.id, 'init', rows, cols);
    },
  };
}
