// Cost as work grows (issue 21): the same API calls against berthd and the reference dockerd with N = 100, 500 and
// 2,000 containers, 100 and 500 images, an engine start with 100 and 500 running containers to recover, and 200
// container starts under 10, 50 and 200 /events subscribers. Calls go straight to the API (no docker CLI process per
// call): what grows here is the engine's cost, not the CLI's start-up. `scaleCurves` prints each as a curve, a
// markdown table per axis (`npm run bench -- scale`; DEVELOPERS.md holds one run's).
import * as http from 'node:http';
import * as os from 'node:os';
import * as tar from 'tar-stream';

export interface ScaleEngine {
  name: string;
  /** unix socket path of the engine's API */
  socket: string;
  /** Stops the engine (containers keep running: live-restore on both). */
  stop(): Promise<void>;
  /** Starts it again and resolves when it answers _ping. */
  start(): Promise<void>;
}

export interface ScaleRow {
  name: string;
  /** per engine name: the figure (ms) */
  figures: Record<string, number>;
  /** The curve it is a point of: its axis (what N counts), what is measured, and N. */
  curve: { axis: string; measure: string; n: number };
  /** per engine name: the machine's 1-minute load as its figure was taken */
  load: Record<string, number>;
}

const LABEL = 'berth.bench.scale';

function call(
  socket: string,
  method: string,
  path: string,
  body?: unknown,
  agent?: http.Agent,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = http.request(
      {
        socketPath: socket,
        method,
        path,
        agent,
        headers: data ? { 'Content-Type': 'application/json', 'Content-Length': data.length } : {},
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

async function must(socket: string, method: string, path: string, body?: unknown, agent?: http.Agent) {
  const r = await call(socket, method, path, body, agent);
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${r.body.slice(0, 200)}`);
  return r.body;
}

const now = () => Number(process.hrtime.bigint()) / 1e6;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

async function timeMedian(times: number, fn: () => Promise<unknown>): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < times; i++) {
    const t = now();
    await fn();
    xs.push(now() - t);
  }
  return median(xs);
}

async function removeAll(socket: string, agent: http.Agent) {
  const list = JSON.parse(
    await must(
      socket,
      'GET',
      `/containers/json?all=1&filters=${encodeURIComponent(JSON.stringify({ label: [LABEL] }))}`,
    ),
  );
  for (const c of list) await must(socket, 'DELETE', `/containers/${c.Id}?force=1`, undefined, agent);
}

/** N created containers: create each, list all, inspect one, remove all (ms per container / per call). */
async function containers(e: ScaleEngine, image: string, n: number): Promise<Record<string, number>> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    await removeAll(e.socket, agent);
    const body = { Image: image, Cmd: ['true'], Labels: { [LABEL]: '1' }, HostConfig: { NetworkMode: 'none' } };
    let t = now();
    const ids: string[] = [];
    for (let i = 0; i < n; i++)
      ids.push(JSON.parse(await must(e.socket, 'POST', '/containers/create', body, agent)).Id);
    const create = (now() - t) / n;
    const list = await timeMedian(5, () => must(e.socket, 'GET', '/containers/json?all=1', undefined, agent));
    const inspect = await timeMedian(20, () =>
      must(e.socket, 'GET', `/containers/${ids[n >> 1]}/json`, undefined, agent),
    );
    t = now();
    for (const id of ids) await must(e.socket, 'DELETE', `/containers/${id}`, undefined, agent);
    const rm = (now() - t) / n;
    return { create, list, inspect, rm };
  } finally {
    agent.destroy();
  }
}

/** A tar of one file whose content makes each imported image distinct. */
async function tarOf(name: string, content: string): Promise<Buffer> {
  const pack = tar.pack();
  pack.entry({ name, mode: 0o644 }, content);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function importImage(socket: string, repo: string, content: string): Promise<void> {
  const body = await tarOf('id.txt', content);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        socketPath: socket,
        method: 'POST',
        path: `/images/create?fromSrc=-&repo=${repo}&tag=latest`,
        headers: { 'Content-Type': 'application/x-tar', 'Content-Length': body.length },
      },
      (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () =>
          res.statusCode === 200 && !text.includes('"error"') ? resolve() : reject(new Error(`import: ${text}`)),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** N images: `docker images` (GET /images/json) and rmi of one. */
async function images(e: ScaleEngine, n: number, have: number): Promise<Record<string, number>> {
  for (let i = have; i < n; i++) await importImage(e.socket, `bench-scale-${i}`, `image ${i} ${e.name}\n`);
  const list = await timeMedian(5, () => must(e.socket, 'GET', '/images/json'));
  await importImage(e.socket, 'bench-scale-victim', `victim ${n}\n`);
  const t = now();
  await must(e.socket, 'DELETE', '/images/bench-scale-victim:latest');
  return { list, rmi: now() - t };
}

/** An engine start with N running containers to recover: to its first _ping, and to all N listed as running. */
async function recovery(e: ScaleEngine, image: string, n: number): Promise<Record<string, number>> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  await removeAll(e.socket, agent);
  const body = {
    Image: image,
    Cmd: ['sleep', '3600'],
    Labels: { [LABEL]: '1' },
    HostConfig: { NetworkMode: 'none' },
  };
  for (let i = 0; i < n; i++) {
    const id = JSON.parse(await must(e.socket, 'POST', '/containers/create', body, agent)).Id;
    await must(e.socket, 'POST', `/containers/${id}/start`, undefined, agent);
  }
  agent.destroy();
  await e.stop();
  const t = now();
  await e.start();
  const ping = now() - t;
  const filter = encodeURIComponent(JSON.stringify({ label: [LABEL], status: ['running'] }));
  for (;;) {
    const running = JSON.parse(await must(e.socket, 'GET', `/containers/json?filters=${filter}`)).length;
    if (running === n) break;
    if (now() - t > 300_000) throw new Error(`${e.name}: ${running} of ${n} running 5 min after the start`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const states = now() - t;
  const rmAgent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  await removeAll(e.socket, rmAgent);
  rmAgent.destroy();
  return { ping, states };
}

/** S /events subscribers while N containers start: the time per start, once every subscriber has seen every start. */
async function eventsUnderLoad(e: ScaleEngine, image: string, subscribers: number, n: number): Promise<number> {
  const since = Math.floor(Date.now() / 1000);
  const counts = new Array(subscribers).fill(0);
  const reqs: http.ClientRequest[] = [];
  const filter = encodeURIComponent(JSON.stringify({ event: ['start'], label: [LABEL] }));
  await Promise.all(
    counts.map(
      (_, i) =>
        new Promise<void>((resolve, reject) => {
          const req = http.request(
            { socketPath: e.socket, path: `/events?since=${since}&filters=${filter}` },
            (res) => {
              res.setEncoding('utf8');
              let rest = '';
              res.on('data', (d: string) => {
                const lines = (rest + d).split('\n');
                rest = lines.pop()!;
                counts[i] += lines.filter((l) => l.trim()).length;
              });
              res.on('error', () => {});
              resolve();
            },
          );
          req.on('error', reject);
          req.end();
          reqs.push(req);
        }),
    ),
  );
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const body = { Image: image, Cmd: ['true'], Labels: { [LABEL]: '1' }, HostConfig: { NetworkMode: 'none' } };
  const t = now();
  for (let i = 0; i < n; i++) {
    const id = JSON.parse(await must(e.socket, 'POST', '/containers/create', body, agent)).Id;
    await must(e.socket, 'POST', `/containers/${id}/start`, undefined, agent);
  }
  const took = now() - t;
  const deadline = now() + 30_000;
  while (counts.some((c) => c < n) && now() < deadline) await new Promise((r) => setTimeout(r, 50));
  for (const r of reqs) r.destroy();
  if (counts.some((c) => c !== n)) throw new Error(`${e.name}: subscribers saw ${counts.join(',')} of ${n} starts`);
  await removeAll(e.socket, agent);
  agent.destroy();
  return took / n;
}

/**
 * Every row of the scale bench. Engines take turns at each N (A B A B, as the rest of the bench): a machine whose
 * load changes during the run weighs on both sides of a ratio alike.
 */
export async function scaleRows(engines: ScaleEngine[], image: string, log: (s: string) => void): Promise<ScaleRow[]> {
  const rows = new Map<string, ScaleRow>();
  const put = (name: string, curve: ScaleRow['curve'], engine: string, v: number) => {
    if (!rows.has(name)) rows.set(name, { name, figures: {}, curve, load: {} });
    rows.get(name)!.figures[engine] = v;
    rows.get(name)!.load[engine] = os.loadavg()[0];
  };
  const CONTAINERS = 'created containers';
  const IMAGES = 'images';
  const RECOVERY = 'running containers at engine start';
  const SUBSCRIBERS = '/events subscribers, 200 containers started';
  for (const n of [100, 500, 2000])
    for (const e of engines) {
      const r = await containers(e, image, n);
      const at = (measure: string) => ({ axis: CONTAINERS, measure, n });
      put(`N=${n} created: create (per container)`, at('create (per container)'), e.name, r.create);
      put(`N=${n} created: list all`, at('list all'), e.name, r.list);
      put(`N=${n} created: inspect one`, at('inspect one'), e.name, r.inspect);
      put(`N=${n} created: rm (per container)`, at('rm (per container)'), e.name, r.rm);
      log(`${e.name} containers N=${n}: ${JSON.stringify(r)}`);
    }
  let have = 0;
  for (const n of [100, 500]) {
    for (const e of engines) {
      const r = await images(e, n, have);
      put(`N=${n} images: docker images`, { axis: IMAGES, measure: 'docker images', n }, e.name, r.list);
      put(`N=${n} images: rmi one`, { axis: IMAGES, measure: 'rmi one', n }, e.name, r.rmi);
      log(`${e.name} images N=${n}: ${JSON.stringify(r)}`);
    }
    have = n;
  }
  for (const e of engines) {
    const list = JSON.parse(await must(e.socket, 'GET', '/images/json'));
    for (const img of list)
      if ((img.RepoTags ?? []).some((t: string) => t.startsWith('bench-scale-')))
        await must(e.socket, 'DELETE', `/images/${img.Id}?force=1`);
  }
  for (const n of [100, 500])
    for (const e of engines) {
      const r = await recovery(e, image, n);
      const at = (measure: string) => ({ axis: RECOVERY, measure, n });
      put(`start with N=${n} running: first _ping`, at('first _ping'), e.name, r.ping);
      put(`start with N=${n} running: all states right`, at('all states right'), e.name, r.states);
      log(`${e.name} recovery N=${n}: ${JSON.stringify(r)}`);
    }
  for (const subscribers of [10, 50, 200])
    for (const e of engines) {
      const ev = await eventsUnderLoad(e, image, subscribers, 200);
      put(
        `200 starts under ${subscribers} /events subscribers (per start)`,
        { axis: SUBSCRIBERS, measure: 'per start', n: subscribers },
        e.name,
        ev,
      );
      log(`${e.name} events, ${subscribers} subscribers: ${ev}`);
    }
  return [...rows.values()];
}

/**
 * The rows as curves: one markdown table per axis, a line per measure, a column per engine and N, and how much the
 * figure grew from the first N to the last (linear growth of a whole-set call is the N ratio; of a per-item one, 1).
 */
export function scaleCurves(rows: ScaleRow[], engines: string[]): string[] {
  const fmt = (v?: number) => (v === undefined ? 'n/a' : v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0));
  const loads = rows.flatMap((r) => Object.values(r.load));
  const load = `load ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)} (1-minute, as the points were taken)`;
  const lines = [`Cost as work grows (ms), engines taking turns at each N, ${load} on ${os.cpus().length} cores:`, ''];
  for (const axis of [...new Set(rows.map((r) => r.curve.axis))]) {
    const ofAxis = rows.filter((r) => r.curve.axis === axis);
    const ns = [...new Set(ofAxis.map((r) => r.curve.n))].sort((a, b) => a - b);
    const span = `×${ns[ns.length - 1] / ns[0]} N`;
    const cols = engines.flatMap((e) => ns.map((n) => `${e} ${n.toLocaleString('en')}`));
    lines.push(
      `| ${axis} | ${cols.join(' | ')} | ${engines.map((e) => `${e} growth (${span})`).join(' | ')} |`,
      `|---|${[...cols, ...engines].map(() => '---:').join('|')}|`,
    );
    for (const measure of [...new Set(ofAxis.map((r) => r.curve.measure))]) {
      const at = (e: string, n: number) =>
        ofAxis.find((r) => r.curve.measure === measure && r.curve.n === n)?.figures[e];
      const growth = (e: string) => {
        const [a, b] = [at(e, ns[0]), at(e, ns[ns.length - 1])];
        return a && b !== undefined ? `×${(b / a).toFixed(1)}` : 'n/a';
      };
      lines.push(
        `| ${measure} | ${engines.flatMap((e) => ns.map((n) => fmt(at(e, n)))).join(' | ')} | ${engines.map(growth).join(' | ')} |`,
      );
    }
    lines.push('');
  }
  return lines;
}
