// The json-file reader: parsing (fast path and escapes), tail across rotated files, since/until, framing,
// timestamps, follow until the container stops; and log-opts validation.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fixedTime, logLimits, parseLine, readLogs, type ReadOptions } from '../../../src/engine/logs';

function line(log: string, stream: string, time: string) {
  return JSON.stringify({ log, stream, time }) + '\n';
}

function collect() {
  const chunks: Buffer[] = [];
  return {
    sink: {
      write: (b: Buffer) => {
        chunks.push(Buffer.from(b));
        return true;
      },
      once: () => undefined,
    },
    frames(): [number, string][] {
      const all = Buffer.concat(chunks);
      const out: [number, string][] = [];
      for (let i = 0; i < all.length; ) {
        const n = all.readUInt32BE(i + 4);
        out.push([all[i], all.subarray(i + 8, i + 8 + n).toString()]);
        i += 8 + n;
      }
      return out;
    },
    raw: () => Buffer.concat(chunks).toString(),
    chunks,
  };
}

const all: ReadOptions = { stdout: true, stderr: true, timestamps: false, follow: false };

describe('logs: json-file reader', () => {
  let dir: string;
  let log: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-logs-'));
    log = path.join(dir, 'c-json.log');
    // Rotated: .2 is oldest, then .1, then the live file.
    fs.writeFileSync(
      `${log}.2`,
      line('a1\n', 'stdout', '2024-01-01T00:00:01Z') + line('a2\n', 'stderr', '2024-01-01T00:00:02.5Z'),
    );
    fs.writeFileSync(`${log}.1`, line('b1\n', 'stdout', '2024-01-01T00:00:03.000000001Z'));
    fs.writeFileSync(
      log,
      line('c1 "q" \\ <&>\n', 'stdout', '2024-01-01T00:00:04Z') + line('partial', 'stderr', '2024-01-01T00:00:05Z'),
    );
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("parses the shim's lines, with escapes, and anything JSON", () => {
    assert.deepEqual(parseLine(Buffer.from('{"log":"hi\\n","stream":"stdout","time":"2024-01-01T00:00:00Z"}')), {
      stream: 1,
      text: Buffer.from('hi\n'),
      time: '2024-01-01T00:00:00Z',
    });
    assert.equal(
      parseLine(Buffer.from('{"log":"a\\u003cb\\t\\"c\\"\\n","stream":"stderr","time":"t"}'))!.text.toString(),
      'a<b\t"c"\n',
    );
    assert.equal(parseLine(Buffer.from('{"time":"t","stream":"stderr","log":"x"}'))!.stream, 2);
    assert.equal(parseLine(Buffer.from('garbage')), undefined);
  });

  it('reads every rotated file in order, framed by stream', async () => {
    const c = collect();
    await readLogs(log, all, c.sink);
    assert.deepEqual(c.frames(), [
      [1, 'a1\n'],
      [2, 'a2\n'],
      [1, 'b1\n'],
      [1, 'c1 "q" \\ <&>\n'],
      [2, 'partial'],
    ]);
  });

  it('tail counts lines from the end across files; stream selection; raw mode for TTYs', async () => {
    let c = collect();
    await readLogs(log, { ...all, tail: 3 }, c.sink);
    assert.deepEqual(
      c.frames().map((f) => f[1]),
      ['b1\n', 'c1 "q" \\ <&>\n', 'partial'],
    );
    c = collect();
    await readLogs(log, { ...all, tail: 0 }, c.sink);
    assert.deepEqual(c.frames(), []);
    c = collect();
    await readLogs(log, { ...all, stdout: false }, c.sink);
    assert.deepEqual(
      c.frames().map((f) => f[1]),
      ['a2\n', 'partial'],
    );
    c = collect();
    await readLogs(log, { ...all, stderr: false }, c.sink, { raw: true });
    assert.equal(c.raw(), 'a1\nb1\nc1 "q" \\ <&>\n');
  });

  it('without follow reads the log as it was asked for: lines appended meanwhile are not added to a tail', async () => {
    const chunks: Buffer[] = [];
    // The container keeps writing while the reader streams (each write the reader makes appends another line).
    const sink = {
      write: (b: Buffer) => {
        chunks.push(Buffer.from(b));
        fs.appendFileSync(log, line('late\n', 'stdout', '2024-01-01T00:00:09Z'));
        return true;
      },
      once: () => undefined,
    };
    await readLogs(log, { ...all, tail: 2 }, sink);
    const text = Buffer.concat(chunks).toString();
    assert.ok(!text.includes('late'), text);
    assert.ok(text.includes('c1') && text.includes('partial'), text);
  });

  it('since/until select by time; timestamps use nine fraction digits', async () => {
    const ns = (iso: string) => BigInt(Date.parse(iso)) * 1_000_000n;
    const c = collect();
    await readLogs(
      log,
      { ...all, since: ns('2024-01-01T00:00:02Z'), until: ns('2024-01-01T00:00:04Z'), timestamps: true },
      c.sink,
    );
    assert.deepEqual(
      c.frames().map((f) => f[1]),
      [
        '2024-01-01T00:00:02.500000000Z a2\n',
        '2024-01-01T00:00:03.000000001Z b1\n',
        '2024-01-01T00:00:04.000000000Z c1 "q" \\ <&>\n',
      ],
    );
    assert.equal(fixedTime('2024-01-01T00:00:04.12Z'), '2024-01-01T00:00:04.120000000Z');
  });

  it('follows appended lines and a rotation until the container stops', async () => {
    const c = collect();
    let stop!: () => void;
    const stopped = new Promise<void>((r) => (stop = r));
    const reading = readLogs(log, { ...all, tail: 0, follow: true }, c.sink, { stopped });
    const seen = async (text: string) => {
      const deadline = Date.now() + 10_000;
      while (!c.frames().some((f) => f[1] === text)) {
        assert.ok(Date.now() < deadline, `never followed ${JSON.stringify(text)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    // Following (from the live file's end: tail 0) once a line appended now comes through.
    for (let following = false; !following; following = c.frames().length > 0) {
      fs.appendFileSync(log, line('probe\n', 'stdout', '2024-01-01T00:00:05.5Z'));
      await new Promise((r) => setTimeout(r, 20));
    }
    fs.appendFileSync(log, line('d1\n', 'stdout', '2024-01-01T00:00:06Z'));
    await seen('d1\n');
    // Rotate as the shim does: rename, then a new file.
    fs.renameSync(`${log}.1`, `${log}.2`);
    fs.appendFileSync(log, line('d2\n', 'stdout', '2024-01-01T00:00:07Z'));
    fs.renameSync(log, `${log}.1`);
    fs.writeFileSync(log, line('e1\n', 'stderr', '2024-01-01T00:00:08Z'));
    await seen('e1\n');
    fs.appendFileSync(log, line('e2\n', 'stdout', '2024-01-01T00:00:09Z'));
    await seen('e2\n');
    stop();
    await reading;
    // Lines of one stream that come together may share a frame (the probes, a last probe and d1).
    assert.equal(
      c
        .frames()
        .map((f) => f[1])
        .join('')
        .replace(/^(probe\n)+/, ''),
      'd1\nd2\ne1\ne2\n',
    );
    assert.deepEqual(c.frames().find((f) => f[1] === 'e1\n')?.[0], 2, 'e1 came on stderr');
  });

  it('reuses its output buffers only once the sink has written them: a chunk held is never overwritten', async () => {
    // ~12 MB of lines of many lengths (they cross every 1 MiB read), escapes now and then (the slow path), both
    // streams, and last one of 3 MiB (longer than the read buffer).
    const lines: string[] = [];
    let text = '';
    const add = (t: string, stream: string) => {
      lines.push(line(`${t}\n`, stream, '2024-01-01T00:00:01Z'));
      text += `${t}\n`;
    };
    for (let i = 0; text.length < 12_000_000; i++)
      add(`line ${i} ${'x'.repeat((i * 7919) % 3000)}${i % 13 ? '' : ' "q"\t'}`, i % 5 ? 'stdout' : 'stderr');
    add('L'.repeat(3 << 20), 'stdout');
    for (const rotated of [`${log}.1`, `${log}.2`]) fs.rmSync(rotated);
    fs.writeFileSync(log, lines.join(''));
    const copied = collect();
    await readLogs(log, all, copied.sink);
    // A sink like a socket: it keeps what it was handed until written (20 ms later), in order.
    const handed: { chunk: Buffer; copy: Buffer }[] = [];
    const buffers = new Set<ArrayBufferLike>();
    let overwritten = 0;
    let pending = 0;
    let maxPending = 0;
    let drained: (() => void) | undefined;
    const sink = {
      write: (chunk: Buffer, written?: (err?: Error | null) => void) => {
        const copy = Buffer.from(chunk);
        handed.push({ chunk, copy });
        buffers.add(chunk.buffer);
        pending++;
        maxPending = Math.max(maxPending, pending);
        setTimeout(() => {
          if (!chunk.equals(copy)) overwritten++;
          pending--;
          written?.();
          if (pending < 2) drained?.();
        }, 20);
        return pending < 4;
      },
      once: (_: 'drain', fn: () => void) => {
        drained = () => {
          drained = undefined;
          fn();
        };
      },
    };
    await readLogs(log, all, sink);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(overwritten, 0, 'chunks changed while the sink still held them');
    assert.ok(Buffer.concat(handed.map((h) => h.copy)).equals(Buffer.concat(copied.chunks)), 'the same output');
    const payload = copied
      .frames()
      .map(([, t]) => t)
      .join('');
    assert.ok(payload === text, `the lines as written (${payload.length} of ${text.length} characters)`);
    // As many buffers as the sink held at once, the one being filled and the one grown for the long line.
    assert.ok(
      buffers.size <= maxPending + 2 && buffers.size < handed.length,
      `${buffers.size} buffers for ${handed.length} chunks, at most ${maxPending} held at once: not reused`,
    );
  });

  it('validates log-opts like Docker (decimal sizes)', () => {
    assert.deepEqual(logLimits({}), { maxSize: 0, maxFile: 1 });
    assert.deepEqual(logLimits({ 'max-size': '10k', 'max-file': '3' }), { maxSize: 10000, maxFile: 3 });
    assert.deepEqual(logLimits({ 'max-size': '2m' }), { maxSize: 2_000_000, maxFile: 1 });
    // dockerd accepts max-file alone (nothing rotates without max-size).
    assert.deepEqual(logLimits({ 'max-file': '3' }), { maxSize: 0, maxFile: 3 });
    assert.throws(() => logLimits({ 'max-file': '0' }), /max-file cannot be less than 1/);
    assert.throws(() => logLimits({ 'max-size': 'big' }), /invalid size/);
    assert.throws(() => logLimits({ colour: 'red' }), /unknown log opt 'colour' for json-file log driver/);
  });
});
