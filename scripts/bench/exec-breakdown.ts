// Where `docker exec CTR true` spends its time, berthd vs the reference dockerd: the requests the docker CLI makes
// (HEAD /_ping, inspect, exec create, exec start with its hijack — the 101, then the stream's end — and the exec
// inspect for the exit code), sent as the CLI sends them — on a fresh connection per exec, the start on a second
// one — over plain sockets so that the client's own cost is next to nothing; and berthd's own exec phases from its
// debug log ("exec phases"). Then the docker CLI itself on each engine and on a floor: a server that answers those
// requests at once, so that what remains is the CLI's own start-up and work, common to both engines.
// `npm run bench -- exec-breakdown` (the bench starts both engines).
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

export interface ExecBreakdownEngine {
  name: string;
  socket: string;
  /** berthd's log (started with -D): its phase lines are read from it. */
  logFile?: string;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN;
};

/** A whole chunked body at the start of `b`: its bytes and how many of `b` it took; undefined if not all in yet. */
function dechunk(b: Buffer): { data: Buffer; used: number } | undefined {
  const parts: Buffer[] = [];
  let off = 0;
  for (;;) {
    const nl = b.indexOf('\r\n', off);
    if (nl < 0) return undefined;
    const size = Number.parseInt(b.subarray(off, nl).toString(), 16);
    if (b.length < nl + 2 + size + 2) return undefined;
    if (size === 0) return { data: Buffer.concat(parts), used: nl + 4 };
    parts.push(b.subarray(nl + 2, nl + 2 + size));
    off = nl + 2 + size + 2;
  }
}

/** One HTTP/1.1 connection, requests one after another, as the CLI's keep-alive connection. */
class Conn {
  private buf = Buffer.alloc(0);
  private waiter?: () => void;
  private ended = false;
  private constructor(readonly sock: net.Socket) {
    sock.on('data', (d) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.waiter?.();
    });
    sock.on('end', () => {
      this.ended = true;
      this.waiter?.();
    });
    sock.on('error', () => {});
  }

  static open(path: string): Promise<Conn> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ path }, () => resolve(new Conn(s)));
      s.once('error', reject);
    });
  }

  private wait(): Promise<void> {
    return new Promise((r) => (this.waiter = r));
  }

  /** Sends a request; resolves with the status and body once the whole response is in (or the 101's head). */
  async request(
    method: string,
    path: string,
    body?: unknown,
    upgrade = false,
  ): Promise<{ status: number; body: string; head: string }> {
    const data = body === undefined ? '' : JSON.stringify(body);
    const head = [
      `${method} ${path} HTTP/1.1`,
      'Host: api.moby.localhost',
      'User-Agent: Docker-Client/berth-bench (linux)',
      ...(data ? [`Content-Length: ${Buffer.byteLength(data)}`, 'Content-Type: application/json'] : []),
      ...(upgrade ? ['Connection: Upgrade', 'Upgrade: tcp'] : []),
    ];
    this.sock.write(`${head.join('\r\n')}\r\n\r\n${data}`);
    for (;;) {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end >= 0) {
        const head = this.buf.subarray(0, end).toString();
        const status = Number(head.split(' ')[1]);
        const chunked = /^transfer-encoding:\s*chunked/im.test(head);
        if (chunked) {
          // Go's server sends a body larger than its buffer in chunks (dockerd's inspect).
          const body = dechunk(this.buf.subarray(end + 4));
          if (body) {
            this.buf = this.buf.subarray(end + 4 + body.used);
            return { status, body: body.data.toString(), head };
          }
        }
        const len = Number(/^content-length:\s*(\d+)/im.exec(head)?.[1] ?? 0);
        if (!chunked && (status === 101 || method === 'HEAD' || this.buf.length >= end + 4 + len)) {
          const rest = this.buf.subarray(end + 4);
          const bodyLen = status === 101 || method === 'HEAD' ? 0 : len;
          this.buf = rest.subarray(bodyLen);
          return { status, body: rest.subarray(0, bodyLen).toString(), head };
        }
      }
      if (this.ended) throw new Error(`${method} ${path}: connection closed`);
      await this.wait();
    }
  }

  /** After a 101: reads the stream until the engine closes it; the bytes. */
  async drain(): Promise<Buffer> {
    while (!this.ended) await this.wait();
    const out = this.buf;
    this.buf = Buffer.alloc(0);
    return out;
  }

  close() {
    this.sock.destroy();
  }
}

async function oneExec(socket: string, container: string): Promise<Record<string, number>> {
  const t = () => performance.now();
  const ms: Record<string, number> = {};
  const t0 = t();
  let t1 = t0;
  const lap = (k: string) => {
    const now = t();
    ms[k] = now - t1;
    t1 = now;
  };
  const must = (r: { status: number; body: string }, ok: number, what: string) => {
    if (r.status !== ok) throw new Error(`${what}: ${r.status} ${r.body}`);
    return r.body;
  };
  const a = await Conn.open(socket);
  const ping = await a.request('HEAD', '/_ping');
  must(ping, 200, 'ping');
  // The CLI's negotiation: the engine's version when it is older than the CLI's (the reference is 1.41).
  const engineVersion = /^api-version:\s*([\d.]+)/im.exec(ping.head)?.[1] ?? '1.45';
  const v = `/v${Number(engineVersion.split('.')[1]) < 45 ? engineVersion : '1.45'}`;
  lap('connect + HEAD /_ping');
  must(await a.request('GET', `${v}/containers/${container}/json`), 200, 'inspect');
  lap('GET /containers/{id}/json');
  // The body the CLI sends for `docker exec CTR true`.
  const created = must(
    await a.request('POST', `${v}/containers/${container}/exec`, {
      User: '',
      Privileged: false,
      Tty: false,
      ConsoleSize: [0, 0],
      AttachStdin: false,
      AttachStderr: true,
      AttachStdout: true,
      Detach: false,
      DetachKeys: '',
      Env: null,
      WorkingDir: '',
      Cmd: ['true'],
    }),
    201,
    'exec create',
  );
  const id = JSON.parse(created).Id as string;
  lap('POST /containers/{id}/exec');
  const b = await Conn.open(socket);
  must(
    await b.request('POST', `${v}/exec/${id}/start`, { Detach: false, Tty: false, ConsoleSize: [0, 0] }, true),
    101,
    'start',
  );
  lap('exec start: connect + 101');
  await b.drain();
  lap('exec start: 101 → stream end');
  b.close();
  const inspect = JSON.parse(must(await a.request('GET', `${v}/exec/${id}/json`), 200, 'exec inspect'));
  if (inspect.ExitCode !== 0 || inspect.Running) throw new Error(`exec inspect: ${JSON.stringify(inspect)}`);
  lap('GET /exec/{id}/json');
  a.close();
  ms.total = t() - t0;
  return ms;
}

/**
 * The floor: a unix socket that answers what `docker exec CTR true` asks at once and as an engine would (API
 * 1.45, exit code 0), with no work behind it.
 */
function floorServer(): Promise<{ socket: string; close(): void }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-exec-floor-'));
  const socket = path.join(dir, 'floor.sock');
  const head = (status: string, extra: string[]) =>
    `${[`HTTP/1.1 ${status}`, 'Api-Version: 1.45', 'Ostype: linux', 'Server: floor', ...extra].join('\r\n')}\r\n\r\n`;
  const json = (status: string, body: string) =>
    head(status, ['Content-Type: application/json', `Content-Length: ${Buffer.byteLength(body)}`]) + body;
  const server = net.createServer((c) => {
    let buf = Buffer.alloc(0);
    c.on('error', () => {});
    c.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const h = buf.subarray(0, end).toString();
        const len = Number(/^content-length:\s*(\d+)/im.exec(h)?.[1] ?? 0);
        if (buf.length < end + 4 + len) return;
        buf = buf.subarray(end + 4 + len);
        const [method, p] = h.split(' ');
        if (method === 'HEAD') c.write(head('200 OK', ['Content-Length: 0']));
        else if (p.endsWith('/start')) {
          // a process with no output that exits 0: the stream ends at once
          c.end(
            head('101 UPGRADED', [
              'Content-Type: application/vnd.docker.multiplexed-stream',
              'Connection: Upgrade',
              'Upgrade: tcp',
            ]),
          );
          return;
        } else if (method === 'GET' && p.includes('/containers/'))
          c.write(json('200 OK', '{"Id":"floor","State":{"Running":true}}'));
        else if (p.endsWith('/exec')) c.write(json('201 Created', '{"Id":"floor-exec"}'));
        else if (p.includes('/exec/')) c.write(json('200 OK', '{"ID":"floor-exec","Running":false,"ExitCode":0}'));
        else c.write(json('404 Not Found', '{"message":"not the floor\'s"}'));
      }
    });
  });
  return new Promise((resolve) =>
    server.listen(socket, () =>
      resolve({
        socket,
        close: () => {
          server.close();
          fs.rmSync(dir, { recursive: true, force: true });
        },
      }),
    ),
  );
}

/** One `docker exec CTR true` with the real CLI, timed (ms). */
function cliExec(socket: string, container: string, configDir: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    execFile(
      'docker',
      ['-H', `unix://${socket}`, 'exec', container, 'true'],
      { env: { ...process.env, DOCKER_CONFIG: configDir } },
      (err, _out, stderr) =>
        err ? reject(new Error(`docker exec: ${stderr || err.message}`)) : resolve(performance.now() - t0),
    );
  });
}

/** berthd's debug lines written since `from` (bytes): per-phase figures keyed by phase name. */
function berthPhases(logFile: string, from: number): Record<string, number[]> {
  const text = fs.readFileSync(logFile, 'utf8').slice(from);
  const out: Record<string, number[]> = {};
  for (const line of text.split('\n')) {
    // "exec phases" (the start request, from its body to the stream's end) and, inside its start, "exec start
    // phases" (the process files, then the shim's answer — connection and request included — once the process runs).
    const kind = /msg="(exec phases|exec start phases)"/.exec(line)?.[1];
    if (!kind) continue;
    for (const [, k, v] of line.matchAll(/ (\w+)=([\d.]+)/g))
      if (k !== 'exec') (out[kind === 'exec phases' ? k : `  start: ${k}`] ??= []).push(+v);
  }
  return out;
}

/** `container` runs (sleeping) on every engine under that name. */
export async function execBreakdown(engines: ExecBreakdownEngine[], container: string, runs = 20): Promise<string[]> {
  const figures: Record<string, Record<string, number>> = {};
  const all: Record<string, Record<string, number[]>> = {};
  const inner: Record<string, number[]> = {};
  const marks = engines.map((e) => (e.logFile ? fs.statSync(e.logFile).size : 0));
  for (const e of engines) await oneExec(e.socket, container); // warm-up, not counted
  // Alternating, so that a busy moment of the machine is shared.
  for (let i = 0; i < runs; i++)
    for (const e of engines)
      for (const [k, v] of Object.entries(await oneExec(e.socket, container))) ((all[e.name] ??= {})[k] ??= []).push(v);
  engines.forEach((e, i) => {
    figures[e.name] = Object.fromEntries(Object.entries(all[e.name]).map(([k, v]) => [k, median(v)]));
    if (e.logFile) Object.assign(inner, berthPhases(e.logFile, marks[i]));
  });
  const names = engines.map((e) => e.name);
  const lines = [`docker exec CTR true, the CLI's requests: median of ${runs} (ms)`];
  lines.push(`| request | ${names.join(' | ')} |`, `|---|${names.map(() => '---:').join('|')}|`);
  for (const k of Object.keys(figures[names[0]]))
    lines.push(`| ${k} | ${names.map((n) => figures[n]?.[k]?.toFixed(2) ?? 'n/a').join(' | ')} |`);
  for (const [k, v] of Object.entries(inner))
    lines.push(`| berthd ${k} | ${names.map((n) => (n === 'berthd' ? median(v).toFixed(2) : '')).join(' | ')} |`);
  lines.push('');

  // The docker CLI itself, on each engine and on the floor, alternating.
  const floor = await floorServer();
  const configDir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-exec-cli-'));
  try {
    const targets = [
      ...engines.map((e) => ({ name: e.name, socket: e.socket })),
      { name: 'floor', socket: floor.socket },
    ];
    const cli: Record<string, number[]> = {};
    for (const e of targets) await cliExec(e.socket, container, configDir); // warm-up
    for (let i = 0; i < runs; i++)
      for (const e of targets) (cli[e.name] ??= []).push(await cliExec(e.socket, container, configDir));
    const m = Object.fromEntries(Object.entries(cli).map(([k, v]) => [k, median(v)]));
    const cols = targets.map((e) => e.name);
    lines.push(
      `docker exec CTR true with the docker CLI: median of ${runs} (ms); floor = the CLI against a server answering at once`,
      `| | ${cols.join(' | ')} |`,
      `|---|${cols.map(() => '---:').join('|')}|`,
      `| docker exec CTR true | ${cols.map((n) => m[n].toFixed(1)).join(' | ')} |`,
      `| the engine's part (minus the floor) | ${cols.map((n) => (n === 'floor' ? '' : (m[n] - m.floor).toFixed(1))).join(' | ')} |`,
      '',
    );
  } finally {
    floor.close();
    fs.rmSync(configDir, { recursive: true, force: true });
  }
  return lines;
}
