// Docker's json-file logs: berth-shim writes `{"log","stream","time"}` lines (and rotates them by
// max-size/max-file); this module reads them back: tail, since/until, stream selection, follow across
// rotation, streamed with backpressure. Lines are parsed with a byte-level fast path (the shim's lines have a
// fixed shape); anything else falls back to JSON.parse.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { invalidParameter } from '../errdefs';

export interface LogConfig {
  type: string;
  config: Record<string, string>;
}
export interface LogLimits {
  maxSize: number;
  maxFile: number;
}

const LOG_OPTS = [
  'max-size',
  'max-file',
  'compress',
  'labels',
  'labels-regex',
  'env',
  'env-regex',
  'tag',
  'mode',
  'max-buffer-size',
];

/** max-size ("10m", "1k", bytes) and max-file from log-opts; 0 = unlimited. Validates like Docker. */
export function logLimits(opts: Record<string, string> = {}): LogLimits {
  for (const k of Object.keys(opts))
    if (!LOG_OPTS.includes(k)) throw invalidParameter(`unknown log opt '${k}' for json-file log driver`);
  let maxSize = 0;
  if (opts['max-size'] !== undefined && opts['max-size'] !== '-1') {
    const m = /^(\d+(?:\.\d+)?)\s*([kmg]?)b?$/i.exec(opts['max-size'].trim());
    if (!m) throw invalidParameter(`invalid size: '${opts['max-size']}'`);
    maxSize = Math.floor(
      Number(m[1]) * ({ '': 1, k: 1000, m: 1000 ** 2, g: 1000 ** 3 } as Record<string, number>)[m[2].toLowerCase()],
    );
  }
  let maxFile = 1;
  if (opts['max-file'] !== undefined) {
    maxFile = Number(opts['max-file']);
    // Without max-size nothing rotates and max-file does nothing; dockerd accepts it all the same.
    if (!Number.isInteger(maxFile) || maxFile < 1) throw invalidParameter('max-file cannot be less than 1');
  }
  return { maxSize, maxFile };
}

export interface ReadOptions {
  stdout: boolean;
  stderr: boolean;
  timestamps: boolean;
  /** Lines from the end; undefined or negative: all. */
  tail?: number;
  /** Nanoseconds since the epoch. */
  since?: bigint;
  until?: bigint;
  follow: boolean;
}

export interface LogSink {
  /**
   * Takes a chunk of output; false = wait for drain. `written`, when the sink calls it without an error, says the
   * chunk was written out and is no longer referenced: its memory is reused for a later chunk (a sink that never
   * calls it keeps its chunks).
   */
  write(chunk: Buffer, written?: (err?: Error | null) => void): boolean;
  once(event: 'drain', fn: () => void): unknown;
}

const TIME_KEY = Buffer.from('","time":"');
const STREAM_KEY = Buffer.from('","stream":"');
const LOG_KEY = Buffer.from('{"log":"');
const BACKSLASH = 0x5c;

interface Entry {
  stream: 1 | 2;
  text: Buffer;
  time: string;
}

/** Parses one json-file line; undefined for anything unreadable (skipped, as Docker does). */
export function parseLine(line: Buffer): Entry | undefined {
  const t = line.lastIndexOf(TIME_KEY);
  const s = t > 0 ? line.lastIndexOf(STREAM_KEY, t) : -1;
  if (
    s > 0 &&
    line.subarray(0, LOG_KEY.length).equals(LOG_KEY) &&
    line[line.length - 1] === 0x7d &&
    line[line.length - 2] === 0x22
  ) {
    const stream = line.subarray(s + STREAM_KEY.length, t).toString() === 'stderr' ? 2 : 1;
    const time = line.subarray(t + TIME_KEY.length, line.length - 2).toString('latin1');
    const raw = line.subarray(LOG_KEY.length, s);
    const bs = raw.indexOf(BACKSLASH);
    if (bs < 0) return { stream, text: raw, time };
    // The common case: only the trailing newline is escaped.
    if (bs === raw.length - 2 && raw[raw.length - 1] === 0x6e) {
      const text = Buffer.allocUnsafe(raw.length - 1);
      raw.copy(text, 0, 0, raw.length - 2);
      text[text.length - 1] = 0x0a;
      return { stream, text, time };
    }
    try {
      return { stream, text: Buffer.from(JSON.parse(`"${raw.toString()}"`) as string), time };
    } catch {
      /* fall through to the general parser */
    }
  }
  try {
    const o = JSON.parse(line.toString());
    if (typeof o.log !== 'string') return undefined;
    return { stream: o.stream === 'stderr' ? 2 : 1, text: Buffer.from(o.log), time: String(o.time ?? '') };
  } catch {
    return undefined;
  }
}

/** RFC3339Nano → ns since the epoch. */
export function timeNano(t: string): bigint {
  const m = /^(.*?:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(t);
  if (!m) return 0n;
  const ms = Date.parse(m[1] + m[3]);
  return BigInt(ms) * 1_000_000n + BigInt((m[2] ?? '').slice(0, 9).padEnd(9, '0'));
}

/** Docker's RFC3339NanoFixed (always nine fraction digits), used by `docker logs -t`. */
export function fixedTime(t: string): string {
  const m = /^(.*?:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(t);
  return m ? `${m[1]}.${(m[2] ?? '').padEnd(9, '0')}${m[3]}` : t;
}

/** The log's files, oldest first (path.N … path.1, path). */
function logFiles(logPath: string): string[] {
  const dir = path.dirname(logPath);
  const base = path.basename(logPath);
  let names: string[] = [];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const rotated = names
    .map((n) => (n.startsWith(base + '.') ? Number(n.slice(base.length + 1)) : NaN))
    .filter((n) => Number.isInteger(n) && n > 0)
    .sort((a, b) => b - a);
  const files = rotated.map((n) => `${logPath}.${n}`);
  if (names.includes(base)) files.push(logPath);
  return files;
}

/** Where to start reading so that only the last `n` lines come out: [file index, offset]. */
function tailStart(files: string[], n: number, ends?: number[]): [number, number] {
  if (n === 0) return [files.length, 0];
  let needed = n;
  const chunk = Buffer.allocUnsafe(64 * 1024);
  for (let f = files.length - 1; f >= 0; f--) {
    const fd = fs.openSync(files[f], 'r');
    try {
      const size = ends?.[f] ?? fs.fstatSync(fd).size;
      let pos = size;
      // Line starts: offset 0 and after every newline but the file's last byte.
      while (pos > 0) {
        const len = Math.min(chunk.length, pos);
        pos -= len;
        fs.readSync(fd, chunk, 0, len, pos);
        for (let i = len - 1; i >= 0; i--) {
          if (chunk[i] !== 0x0a || pos + i === size - 1) continue;
          if (--needed === 0) return [f, pos + i + 1];
        }
      }
      if (size > 0 && --needed === 0) return [f, 0];
    } finally {
      fs.closeSync(fd);
    }
  }
  return [0, 0];
}

/**
 * Streams the log to `sink` as Docker's framed (or raw, for TTY containers) output. With `follow`, keeps
 * reading until `stopped` resolves (the container ended: whatever it wrote is then read to the end) or the
 * reader is cancelled with `signal`.
 */
export async function readLogs(
  logPath: string,
  opts: ReadOptions,
  sink: LogSink,
  ctl: { raw?: boolean; stopped?: Promise<unknown>; signal?: AbortSignal } = {},
): Promise<void> {
  const files = logFiles(logPath);
  // Without follow the answer is the log as it was when asked: what the container appends meanwhile is not part
  // of it (`--tail 2` gives two lines even while lines keep coming), as Docker reads a snapshot.
  const sizeNow = (f: string) => {
    try {
      return fs.statSync(f).size;
    } catch {
      return 0;
    }
  };
  const limits = opts.follow ? undefined : files.map(sizeNow);
  let [fileIndex, offset] = opts.tail !== undefined && opts.tail >= 0 ? tailStart(files, opts.tail, limits) : [0, 0];
  // Output is assembled in place in 1 MiB buffers (header + payload per message): no allocation per line. A
  // buffer handed to the sink stays the sink's until it was written out (a socket holds it until then, also when
  // its write() asked for more), then waits in `spare` for a later chunk: a reader cycles through a few buffers
  // instead of allocating one per chunk.
  const OUT_SIZE = 1 << 20;
  const spare: Buffer[] = [];
  const nextOut = () => spare.pop() ?? Buffer.allocUnsafe(OUT_SIZE);
  let out = nextOut();
  let used = 0;
  const sinceTime = opts.since;
  const flush = async () => {
    if (!used) return;
    const filled = out;
    const chunk = out.subarray(0, used);
    out = nextOut();
    used = 0;
    frameAt = -1;
    const written = (err?: Error | null) => {
      if (!err && spare.length < 4) spare.push(filled);
    };
    // A reader that went away never drains: the abort ends the wait (and the read, with its open file).
    if (!sink.write(chunk, written) && !ctl.signal?.aborted)
      await new Promise<void>((resolve) => {
        sink.once('drain', resolve);
        ctl.signal?.addEventListener('abort', () => resolve(), { once: true });
      });
  };
  const room = (n: number) => {
    if (used + n <= out.length) return;
    // Full: hand the filled part on (the caller flushes at chunk boundaries; this only grows the buffer).
    const bigger = Buffer.allocUnsafe(Math.max(out.length * 2, used + n));
    out.copy(bigger, 0, 0, used);
    out = bigger;
  };
  // Consecutive messages of one stream share a frame: the bytes each stream carries are the same, and the
  // client (the docker CLI writes once per frame) does far fewer writes.
  // The header is Docker's stdcopy one (src/common/docker/stdcopy.ts), written in place.
  let frameAt = -1;
  let frameStream = 0;
  const header = (stream: 1 | 2, n: number) => {
    if (ctl.raw) return;
    if (frameAt >= 0 && frameStream === stream) {
      out.writeUInt32BE(out.readUInt32BE(frameAt + 4) + n, frameAt + 4);
      return;
    }
    frameAt = used;
    frameStream = stream;
    out[used] = stream;
    out[used + 1] = 0;
    out[used + 2] = 0;
    out[used + 3] = 0;
    out.writeUInt32BE(n, used + 4);
    used += 8;
  };
  const put = (stream: 1 | 2, payload: Buffer, prefix?: string) => {
    const plen = prefix ? Buffer.byteLength(prefix) : 0;
    const n = payload.length + plen;
    room(n + 8);
    header(stream, n);
    if (prefix) used += out.write(prefix, used, 'utf8');
    used += payload.copy(out, used);
  };
  let pastUntil = false;
  const needTime = sinceTime !== undefined || opts.until !== undefined || opts.timestamps;
  /** One line: data[start, end) without its newline. */
  const emit = (data: Buffer, start: number, end: number) => {
    // Fast path for the shim's own lines: {"log":"…","stream":"stdout|stderr","time":"…"}
    if (
      !needTime &&
      data[start] === 0x7b &&
      data[start + 1] === 0x22 &&
      data[start + 2] === 0x6c &&
      data[start + 5] === 0x22 &&
      data[start + 6] === 0x3a &&
      data[start + 7] === 0x22
    ) {
      const s = data.lastIndexOf(STREAM_KEY, end);
      if (s > start) {
        const stream = data[s + STREAM_KEY.length + 3] === 0x65 ? 2 : 1; // std(e)rr vs std(o)ut
        if ((stream === 1 && !opts.stdout) || (stream === 2 && !opts.stderr)) return;
        const from = start + LOG_KEY.length;
        const bs = data.indexOf(BACKSLASH, from);
        if (bs < 0 || bs >= s) {
          room(s - from + 8);
          header(stream, s - from);
          used += data.copy(out, used, from, s);
          return;
        }
        if (bs === s - 2 && data[s - 1] === 0x6e) {
          // Only the trailing newline is escaped: copy the bytes and write the newline.
          const n = s - 2 - from + 1;
          room(n + 8);
          header(stream, n);
          used += data.copy(out, used, from, s - 2);
          out[used++] = 0x0a;
          return;
        }
      }
    }
    const e = parseLine(data.subarray(start, end));
    if (!e) return;
    if ((e.stream === 1 && !opts.stdout) || (e.stream === 2 && !opts.stderr)) return;
    if (sinceTime !== undefined || opts.until !== undefined) {
      const ns = timeNano(e.time);
      if (sinceTime !== undefined && ns < sinceTime) return;
      if (opts.until !== undefined && ns > opts.until) {
        pastUntil = true;
        return;
      }
    }
    put(e.stream, e.text, opts.timestamps ? fixedTime(e.time) + ' ' : undefined);
  };

  // The file is read into one buffer; a line begun at the end of a read is moved to its start (`carried` bytes)
  // and the next read goes after it. A line longer than the buffer grows it.
  let buf = Buffer.allocUnsafe(1 << 20);
  let carried = 0;
  /** Reads `file` from `from` to its current end (or to `limit`); returns the new offset. */
  const readFrom = async (file: string, from: number, limit = Infinity): Promise<number> => {
    let fh: fs.promises.FileHandle;
    try {
      fh = await fs.promises.open(file, 'r');
    } catch {
      return from;
    }
    let pos = from;
    try {
      for (;;) {
        if (carried === buf.length) {
          const bigger = Buffer.allocUnsafe(buf.length * 2);
          buf.copy(bigger, 0, 0, carried);
          buf = bigger;
        }
        const want = Math.min(buf.length - carried, limit - pos);
        if (want <= 0) break;
        const { bytesRead } = await fh.read(buf, carried, want, pos);
        if (bytesRead === 0) break;
        pos += bytesRead;
        const data = buf.subarray(0, carried + bytesRead);
        let start = 0;
        // The carried bytes hold no newline: the search starts after them.
        for (let nl = data.indexOf(0x0a, carried); nl >= 0; nl = data.indexOf(0x0a, start)) {
          emit(data, start, nl);
          start = nl + 1;
        }
        carried = data.length - start;
        if (carried && start) buf.copyWithin(0, start, data.length);
        await flush();
        if (pastUntil || ctl.signal?.aborted) break;
      }
    } finally {
      await fh.close();
    }
    await flush();
    return pos;
  };

  let liveOffset = -1;
  for (; fileIndex < files.length; fileIndex++, offset = 0) {
    const end = await readFrom(files[fileIndex], offset, limits?.[fileIndex]);
    if (files[fileIndex] === logPath) liveOffset = end;
    carried = 0;
    if (pastUntil || ctl.signal?.aborted) return;
  }
  if (!opts.follow) return;
  // With tail 0 nothing was read: following starts at the live file's end.
  if (liveOffset < 0) liveOffset = files.includes(logPath) ? fs.statSync(logPath).size : 0;
  offset = liveOffset;

  // Follow the live file: re-read on change; on rotation (a new inode), finish the old one and start over.
  const current = logPath;
  let ino = (() => {
    try {
      return fs.statSync(current).ino;
    } catch {
      return 0;
    }
  })();
  let done = false;
  let wake: (() => void) | undefined;
  const watcher = (() => {
    try {
      return fs.watch(path.dirname(logPath), () => wake?.());
    } catch {
      return undefined;
    }
  })();
  ctl.stopped?.then(() => {
    done = true;
    wake?.();
  });
  ctl.signal?.addEventListener('abort', () => {
    done = true;
    wake?.();
  });
  try {
    for (;;) {
      const finishing = done;
      offset = await readFrom(current, offset);
      let st: fs.Stats | undefined;
      try {
        st = fs.statSync(current);
      } catch {
        /* rotated away for a moment */
      }
      if (st && st.ino !== ino) {
        // Rotated: the rest of the old file is in path.1 now.
        if (fs.existsSync(`${logPath}.1`)) await readFrom(`${logPath}.1`, offset);
        carried = 0;
        ino = st.ino;
        offset = 0;
        continue;
      }
      if (st && st.size < offset) {
        offset = 0;
        carried = 0;
        continue;
      } // truncated (max-file 1)
      if (finishing || pastUntil || ctl.signal?.aborted) return;
      // A timer as well as the watch: inotify can miss writes that race the read.
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, 1000).unref();
      });
      wake = undefined;
    }
  } finally {
    watcher?.close();
  }
}
