// Malformed requests against every POST and PUT route of the router's own table (a new route fails the first test
// until it has a spec here): bodies of the wrong shape or type (generated from the very Go types the engine decodes
// them into, nested fields included), broken JSON, NUL bytes, huge numbers, deep nesting, hostile path parameters
// and query values, and a 10 MB string in each route's body and query. Every case comes from a seeded generator
// (BERTH_FUZZ_SEED, printed), so a failure names a case that reproduces. The engine answers each with a 4xx (or,
// where dockerd streams its errors, a 200 whose stream carries the error), stays up, changes nothing, gives back
// every file descriptor, and its heap after a full GC stays within a stated bound.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import WebSocket from 'ws';
import { createRouter } from '../../../src/engine/api';
import * as bodies from '../../../src/engine/api/bodies';
import type { GoType } from '../../../src/engine/api/gojson';
import { type MirroredEngine, startMirroredEngine } from '../../helpers/mirrored-engine';

/** Cases per route (BERTH_FUZZ_CASES); with ~55 routes the default keeps the run near a minute on 2 busy cores. */
const CASES = Number(process.env.BERTH_FUZZ_CASES ?? 600);
const SEED = Number(process.env.BERTH_FUZZ_SEED ?? Date.now() % 1_000_000);
/** The heap a full GC leaves may grow by this much over tens of thousands of refused requests. */
const HEAP_BOUND_MB = 8;
const MB10 = 10 * 1024 * 1024;

/** A deterministic generator (mulberry32). */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (n: number) => Math.floor(next() * n),
    pick: <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)],
  };
}
type Rng = ReturnType<typeof rng>;

const deep = (n: number, open: string, close: string) => open.repeat(n) + close.repeat(n);
const deepObject = (n: number) => `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`;
const HUGE = 'x'.repeat(MB10);

/** Bodies that are not a JSON object, or not JSON at all. */
const NOT_OBJECTS = [
  '1',
  '"a string"',
  'true',
  '[]',
  '[{"Image":"busybox"}]',
  '{',
  '{"a":}',
  '{"a":1,}',
  "{'a':1}",
  '{"a":"\u0000"',
  '\ufeff{}x',
  deep(50_000, '[', ']'),
  deepObject(50_000),
];

/** Random bytes, percent-encoded for a path or query. */
const junkEncoded = (r: Rng, max = 40) =>
  Array.from({ length: 1 + r.int(max) }, () => `%${r.int(256).toString(16).padStart(2, '0')}`).join('');

/** Random bytes with a NUL after them: no name, reference, tag or key is valid then. */
const junkInvalid = (r: Rng, max = 40) => `${junkEncoded(r, max)}%00`;

/** Hostile path parameters: none names an object here (nor prefixes an ID). */
const hostileParam = (r: Rng): string =>
  r.pick([
    () => '%00',
    () => `a%00${r.int(1000)}`,
    () => '..%2f..%2fetc',
    () => `${'a'.repeat(r.int(4000))}z`, // not hex: no ID prefix
    () => '%ff%fe',
    () => '%25',
    () => 'ÿ%C3%BF',
    () => '-1',
    () => '9'.repeat(30),
    () => junkInvalid(r),
  ])();

/** A JSON value of the wrong type for `t` (inside containers too: a map with one wrong value, a struct with one
 * wrong field), or undefined when every JSON value is acceptable there. */
function wrongValue(t: GoType, r: Rng, depth = 0): unknown {
  const others = (...not: string[]) =>
    r.pick(
      (
        [
          ['number', () => r.pick([1, -1, 0.5, 1e308])],
          ['bool', () => r.next() < 0.5],
          ['string', () => r.pick(['x', '', 'nul\u0000byte', 'y'.repeat(1 + r.int(5000))])],
          ['array', () => r.pick([[], [1, 'a'], [[[]]], JSON.parse(deep(200, '[', ']'))])],
          ['object', () => r.pick([{}, { a: { b: { c: [] } } }, JSON.parse(deepObject(200))])],
        ] as [string, () => unknown][]
      )
        .filter(([k]) => !not.includes(k))
        .map(([, f]) => f),
    )();
  if (typeof t === 'string') {
    switch (t) {
      case 'string':
        return others('string');
      case 'bool':
        return others('bool');
      case 'float64':
        return others('number');
      case 'int64':
      case 'int':
        return r.next() < 0.5 ? others('number') : r.pick([0.5, 2 ** 64, -(2 ** 64), 1e308, -1e308]);
      case 'uint16':
        return r.next() < 0.5 ? others('number') : r.pick([-1, 65536, 0.5, 2 ** 64]);
      case 'uint64':
        return r.next() < 0.5 ? others('number') : r.pick([-1, 2 ** 65, 0.5]);
      case 'strslice':
        return r.next() < 0.5 ? others('string', 'array') : r.pick([[1], ['a', {}], [null, true]]);
      case 'any':
        return undefined;
    }
  }
  if ('map' in t) {
    const inner = depth < 6 ? wrongValue(t.map, r, depth + 1) : undefined;
    return inner === undefined || r.next() < 0.4 ? others('object') : { [`k${r.int(9)}`]: inner };
  }
  if ('slice' in t) {
    const inner = depth < 6 ? wrongValue(t.slice, r, depth + 1) : undefined;
    return inner === undefined || r.next() < 0.4 ? others('array') : [inner];
  }
  const fields = Object.entries(t.fields);
  const [name, ft] = r.pick(fields);
  const inner = depth < 6 ? wrongValue(ft, r, depth + 1) : undefined;
  return inner === undefined || r.next() < 0.3 ? others('object') : { [name]: inner };
}

/** The first string field of a struct (for the 10 MB string). */
const stringField = (t: Extract<GoType, { struct: string }>) =>
  Object.entries(t.fields).find(([, ft]) => ft === 'string')?.[0] ?? 'Name';

interface Spec {
  /** Path parameters naming the fixtures the route acts on (hostile ones are generated too). */
  params?: Record<string, string>;
  /** Query every case carries, valid, so that what a case breaks is what is tested. */
  base?: Record<string, string>;
  /** Bad values of query parameters (each case sets one of them). */
  query?: Record<string, (r: Rng) => string>;
  /** The JSON body's Go type; 'raw' for a byte stream (a tar, a context); none: the route reads no body. */
  body?: Extract<GoType, { struct: string }> | 'raw';
  /** String fields whose value is checked (names, references): a NUL byte or a 10 MB value is refused. */
  checked?: string[];
  /** A JSON body shorter than this is taken as no body (start: dockerd's 7 bytes). */
  minBody?: number;
  /** Other statuses dockerd answers here whatever the request (swarm: 503, plugins: 501). */
  also?: number[];
  /** dockerd answers 200 and streams the error (load, build): that counts as refused. */
  streamsErrors?: boolean;
}

/** Signals ParseSignal refuses (a number past SIGRTMAX is refused by kill only: stop falls back to SIGKILL). */
const signalBad = (r: Rng) => r.pick(['SIGNOPE', 'NOPE', '%00', '0', 'SIG', '-1', `SIG${'A'.repeat(r.int(3000))}`]);
const intBad = (r: Rng) =>
  r.pick(['abc', '1.5', '1e3', '0x10', '99999999999999999999999', '-99999999999999999999', '--1', '%2B%2B1', '1%00']);
const refBad = (r: Rng) =>
  r.pick([
    'UPPER',
    'a::b',
    '%00',
    ':',
    '@',
    'a@sha256:zz',
    'a/b:',
    `a${'b'.repeat(300)}/${'c'.repeat(300)}`,
    '-lead',
    'a//b',
    `x:${'t'.repeat(200)}`,
    junkInvalid(r, 10),
  ]);
const tagBad = (r: Rng) => r.pick(['bad tag', '-x', '.x', 't'.repeat(129), '%00', 'a:b', junkInvalid(r, 5)]);
const filtersBad = (r: Rng) =>
  encodeURIComponent(
    r.pick([
      '{',
      '[]',
      '"s"',
      '{"nope":["x"]}',
      '{"label":1}',
      '{"label":[1]}',
      '{"label":{"a":"x"}}',
      '{"until":["not a time"]}',
      '{"until":["1","2"]}',
      `{"label":${deep(300, '[', ']')}}`,
      '\u0000',
      `{"until":["${'9'.repeat(400)}"]}`,
    ]),
  );
const nameBad = (r: Rng) => r.pick(['/', 'a b', '%00', '-x', '.x', 'a', 'a/b', '..', 'ÿÿ', junkInvalid(r, 8)]);
const jsonParamBad = (r: Rng) => encodeURIComponent(r.pick(['{', '[1]', '{"a":1}', '"s"', '1', '{"a":[]}', '[{}]']));

/** One spec per POST/PUT route of the router (`METHOD path` as registered). */
const SPECS: Record<string, Spec> = {
  'POST /containers/create': {
    body: bodies.CONTAINER_CREATE,
    checked: ['Image'],
    query: { name: nameBad, platform: (r) => r.pick(['a b/c', '%00', 'linux/amd64/v9/x', '/', 'linux//']) },
  },
  'POST /containers/:id/start': { params: { id: 'fz' }, body: 'raw', minBody: 8 },
  'POST /containers/:id/stop': { params: { id: 'fzrun' }, query: { t: intBad, signal: signalBad } },
  'POST /containers/:id/restart': { params: { id: 'fzrun' }, query: { t: intBad, signal: signalBad } },
  'POST /containers/:id/kill': {
    params: { id: 'fzrun' },
    query: { signal: (r) => (r.next() < 0.3 ? r.pick(['65', '999', '4294967297']) : signalBad(r)) },
  },
  'POST /containers/:id/pause': {},
  'POST /containers/:id/unpause': {},
  'POST /containers/:id/wait': {
    params: { id: 'fz' },
    query: { condition: (r) => r.pick(['bogus', 'NOT-RUNNING', '%00', 'removed%00', junkInvalid(r, 6)]) },
  },
  'POST /containers/:id/rename': { params: { id: 'fz' }, query: { name: nameBad } },
  'POST /containers/:id/update': { params: { id: 'fz' }, body: bodies.CONTAINER_UPDATE },
  'POST /containers/prune': { query: { filters: filtersBad } },
  'POST /containers/:id/exec': { params: { id: 'fzrun' }, body: bodies.EXEC_CREATE },
  'POST /exec/:id/start': { params: { id: 'EXEC' }, body: bodies.EXEC_START },
  'POST /exec/:id/resize': { params: { id: 'EXEC' }, base: { h: '10', w: '10' }, query: { h: intBad, w: intBad } },
  'POST /containers/:id/resize': {
    params: { id: 'fzrun' },
    base: { h: '10', w: '10' },
    query: { h: intBad, w: intBad },
  },
  'POST /containers/:id/attach': {
    params: { id: 'fzrun' },
    base: { stream: '1', stdout: '1' },
    query: { detachKeys: (r) => r.pick(['ctrl-', 'ctrl-ab', 'x-y', ',', 'ctrl-1', `ctrl-zz${junkEncoded(r, 6)}`]) },
  },
  'PUT /containers/:id/archive': {
    params: { id: 'fz' },
    base: { path: '/' },
    query: { path: (r) => r.pick(['', 'relative', '/no/such/dir', '%00', '/etc/passwd/x', junkInvalid(r, 8)]) },
    body: 'raw',
  },
  'POST /images/create': {
    base: { fromImage: 'fzmissing' },
    query: {
      fromImage: refBad,
      tag: tagBad,
      fromSrc: (r) => r.pick(['nope', 'ftp://x', '%00', 'file:///etc/passwd']),
      platform: (r) => r.pick(['a b/c', '%00', 'linux/amd64/v9/x', '/', 'linux/ä']),
    },
  },
  'POST /images/prune': { query: { filters: filtersBad } },
  'POST /images/load': { body: 'raw', streamsErrors: true },
  'POST /images/:name*/push': { params: { name: 'fzmissing' }, query: { tag: tagBad } },
  'POST /images/:name*/tag': {
    params: { name: 'busybox' },
    base: { repo: 'fzrepo' },
    query: { repo: refBad, tag: tagBad },
  },
  'POST /auth': { body: bodies.AUTH_CONFIG },
  'POST /networks/create': { body: bodies.NETWORK_CREATE, checked: ['Name', 'Driver'] },
  'POST /networks/:id/connect': { params: { id: 'fznet' }, body: bodies.NETWORK_CONNECT, checked: ['Container'] },
  'POST /networks/:id/disconnect': {
    params: { id: 'fznet' },
    body: bodies.NETWORK_DISCONNECT,
    checked: ['Container'],
  },
  'POST /networks/prune': { query: { filters: filtersBad } },
  'POST /volumes/create': { body: bodies.VOLUME_CREATE, checked: ['Name', 'Driver'] },
  'POST /volumes/prune': { query: { filters: filtersBad } },
  'POST /build': {
    body: 'raw',
    streamsErrors: true,
    query: {
      shmsize: intBad,
      buildargs: jsonParamBad,
      labels: jsonParamBad,
      cachefrom: (r) => encodeURIComponent(r.pick(['{', '{}', '[1]', '"s"'])),
      t: refBad,
      remote: (r) => r.pick(['https://example.invalid/x.git', 'git@x:y']),
      version: () => '2',
    },
  },
  'POST /build/prune': { query: { filters: filtersBad, 'keep-storage': intBad } },
  'POST /build/cancel': { query: { id: () => '' } },
  'POST /commit': {
    // A tag without a repository is ignored (RepoTagReference): the bad tags go with a repository.
    base: { container: 'fz', repo: 'fzrepo' },
    body: bodies.COMMIT_CONFIG,
    query: { container: (r) => r.pick(['', 'fzmissing', '%00', junkInvalid(r, 8)]), repo: refBad, tag: tagBad },
  },
  // Berth runs no swarm: it cannot initialize or join one (501); the rest answers as dockerd outside a swarm (503).
  'POST /swarm/init': { also: [501] },
  'POST /swarm/join': { also: [501] },
  'POST /swarm/leave': { also: [503] },
  'POST /swarm/unlock': { also: [503] },
  'POST /swarm/update': { also: [503] },
  'POST /services/create': { also: [503] },
  'POST /secrets/create': { also: [503] },
  'POST /configs/create': { also: [503] },
  'POST /nodes/:id/update': { also: [503] },
  'POST /services/:id/update': { also: [503] },
  'POST /secrets/:id/update': { also: [503] },
  'POST /configs/:id/update': { also: [503] },
  'POST /plugins/:name*/enable': {},
  'POST /plugins/:name*/disable': {},
  'POST /plugins/:name*/push': {},
  'POST /plugins/:name*/set': {},
  'POST /plugins/:name*/upgrade': {},
  'POST /plugins/pull': { also: [501] },
  'POST /plugins/create': { also: [501] },
};

interface Case {
  method: string;
  path: string;
  body?: string | Buffer;
  headers?: Record<string, string>;
}

/** The route's path with its parameters filled (fixtures, or one hostile value). */
function fill(route: string, spec: Spec, fixtures: Record<string, string>, hostile?: string): string {
  return route.replace(/:(\w+)\*?/g, (_, name: string) => {
    if (hostile !== undefined) return hostile;
    const v = spec.params?.[name] ?? 'fzmissing';
    return fixtures[v] ?? v;
  });
}

/** Query values are written raw by the generators; what HTTP does not allow in a request line is encoded (a `%`
 * stays, so generated percent-escapes reach the engine as they are). */
const encodeQueryValue = (v: string) => v.replace(/[^\x21-\x7e]|[#&+]/g, (c) => encodeURIComponent(c));

function queryString(q: Record<string, string>): string {
  const parts = Object.entries(q).map(([k, v]) => `${encodeURIComponent(k)}=${encodeQueryValue(v)}`);
  return parts.length ? `?${parts.join('&')}` : '';
}

/** The i-th generated case of a route (deterministic in the seed, the route and i). */
function generate(route: string, spec: Spec, fixtures: Record<string, string>, r: Rng, i: number): Case {
  const [method, pattern] = route.split(' ');
  const base = spec.base ?? {};
  const hasParams = pattern.includes(':');
  const jsonBody = spec.body && spec.body !== 'raw' ? spec.body : undefined;
  // Noise that must not turn a refusal into an action: unknown query parameters.
  const noise = (q: Record<string, string>) => {
    if (r.next() < 0.3) q[`zz${r.int(99)}`] = junkEncoded(r, 6);
    return q;
  };
  const kinds: string[] = [];
  if (hasParams) kinds.push('param');
  if (spec.query) kinds.push('query', 'query');
  if (jsonBody) kinds.push('field', 'field', 'field', 'notObject', 'contentType', 'checked');
  if (spec.body === 'raw') kinds.push('raw');
  // Routes whose only input is the path (or that refuse everything): hostile parameters and bodies.
  if (!kinds.length || (!spec.query && !jsonBody && spec.body !== 'raw')) kinds.push('bodyAnyway');
  // The first cases are the 10 MB ones: a 10 MB string in the body, and in the query.
  const kind = i === 0 ? 'huge' : i === 1 ? 'hugeQuery' : r.pick(kinds);
  const path = (q: Record<string, string>, hostile?: string) =>
    fill(pattern, spec, fixtures, hostile) + queryString(noise({ ...base, ...q }));
  const badQuery = (): Record<string, string> => {
    if (!spec.query) return {};
    const [name, gen] = r.pick(Object.entries(spec.query));
    return { [name]: gen(r) };
  };
  /** A request that is refused whatever its body: bad query or (for routes with params) a missing object. */
  const refusedPath = () => (spec.query ? path(badQuery()) : hasParams ? path({}, `fzmissing${r.int(9)}`) : path({}));
  switch (kind) {
    case 'huge':
      if (jsonBody) {
        const field = spec.checked?.[0] ?? stringField(jsonBody);
        const body: Record<string, unknown> = { [field]: HUGE };
        // A field Go refuses too, unless the 10 MB value is refused by itself.
        if (!spec.checked?.includes(field)) {
          const [other, t] = r.pick(Object.entries(jsonBody.fields).filter(([k, t]) => k !== field && t !== 'any'));
          body[other] = wrongValue(t, r);
        }
        return { method, path: path({}), body: JSON.stringify(body) };
      }
      return { method, path: refusedPath(), body: JSON.stringify({ Name: HUGE }) };
    case 'hugeQuery':
      // Past any header limit: refused before routing (431).
      return { method, path: path({ [Object.keys(spec.query ?? { q: '' })[0]]: HUGE }) };
    case 'param':
      return { method, path: path({}, hostileParam(r)) };
    case 'query':
      return { method, path: path(badQuery()) };
    case 'notObject': {
      const body = r.pick(NOT_OBJECTS);
      return { method, path: path({}), body };
    }
    case 'contentType':
      return {
        method,
        path: path({}),
        body: '{}',
        headers: { 'Content-Type': r.pick(['text/plain', 'application/x-www-form-urlencoded', 'application/jsonx']) },
      };
    case 'checked': {
      if (!jsonBody) break;
      const field = r.pick(spec.checked ?? [stringField(jsonBody)]);
      const value = spec.checked
        ? r.pick([`a\u0000b`, '\u0000', `${'z'.repeat(r.int(300))}\u0000`, 'UP/../per', '::'])
        : r.pick(['\u0000']);
      const body: Record<string, unknown> = { [field]: value };
      if (!spec.checked) {
        const [other, t] = r.pick(Object.entries(jsonBody.fields).filter(([k, t]) => k !== field && t !== 'any'));
        body[other] = wrongValue(t, r);
      }
      return { method, path: path({}), body: JSON.stringify(body) };
    }
    case 'field': {
      if (!jsonBody) break;
      const fields = Object.entries(jsonBody.fields).filter(([, t]) => t !== 'any');
      const [name, t] = r.pick(fields);
      const body: Record<string, unknown> = { [name]: wrongValue(t, r) };
      if (jsonBody === bodies.CONTAINER_CREATE && name !== 'Image') body.Image = 'busybox';
      return { method, path: path({}), body: JSON.stringify(body) };
    }
    case 'raw': {
      const n = r.pick([0, 1, 7, 511, 512, 513, 4096, 65536]);
      const bytes = Buffer.alloc(n);
      for (let k = 0; k < n; k++) bytes[k] = r.int(256);
      if (n >= 512 && r.next() < 0.5) bytes.write('ustar\u000000', 257, 'latin1'); // a tar magic, garbage around it
      if (spec.minBody && n < spec.minBody) return { method, path: path({}, `fzmissing${r.int(9)}`), body: bytes };
      return {
        method,
        path: spec.query && !spec.streamsErrors ? path(badQuery()) : path({}),
        body: bytes,
        headers: { 'Content-Type': r.pick(['application/x-tar', 'application/octet-stream']) },
      };
    }
  }
  // bodyAnyway
  return { method, path: refusedPath(), body: r.pick(NOT_OBJECTS) };
}

function request(socketPath: string, agent: http.Agent, c: Case): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        socketPath,
        agent,
        method: c.method,
        path: c.path,
        headers: {
          Host: 'localhost',
          ...(c.body === undefined ? {} : { 'Content-Type': 'application/json' }),
          ...c.headers,
        },
        signal: AbortSignal.timeout(30_000),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d) => chunks.push(d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(c.body);
  });
}

/** A request line past any header limit, over a socket of its own, written in pieces until the engine answers
 * (431: writing on past it only fills buffers). */
function oversizedRequest(socketPath: string, c: Case): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(socketPath);
    let got = '';
    let closed = false;
    s.on('data', (d) => (got += d.toString('latin1')));
    s.on('error', () => {});
    s.setTimeout(30_000, () => s.destroy());
    s.on('close', () => {
      closed = true;
      const m = /^HTTP\/1\.1 (\d{3})/.exec(got);
      if (m) resolve({ status: Number(m[1]), text: got.slice(0, 300) });
      else reject(new Error(`no answer (${JSON.stringify(got.slice(0, 80))})`));
    });
    const line = Buffer.from(`${c.method} ${c.path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
    s.once('connect', async () => {
      for (let off = 0; off < line.length && !got && !closed; off += 65_536) {
        if (!s.write(line.subarray(off, off + 65_536))) await new Promise((r) => s.once('drain', r).once('close', r));
        // A pause for the answer to be read before the next write could meet the closed end.
        await new Promise((r) => setTimeout(r, 2));
      }
    });
  });
}

function openFds(pid: number): number {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}

/** The engine's V8 heap after a full GC, through the inspector it was started with (no hook in the product). */
async function heapAfterGc(log: () => string): Promise<number> {
  const url = /Debugger listening on (ws:\/\/\S+)/.exec(log())?.[1];
  assert.ok(url, 'the engine did not start its inspector');
  const ws = new WebSocket(url);
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  let id = 0;
  const call = (method: string) =>
    new Promise<any>((resolve) => {
      const mine = ++id;
      const onMessage = (data: WebSocket.RawData) => {
        const m = JSON.parse(data.toString());
        if (m.id !== mine) return;
        ws.off('message', onMessage);
        resolve(m.result);
      };
      ws.on('message', onMessage);
      ws.send(JSON.stringify({ id: mine, method }));
    });
  await call('HeapProfiler.collectGarbage');
  await call('HeapProfiler.collectGarbage');
  const usage = await call('Runtime.getHeapUsage');
  ws.close();
  return usage.usedSize as number;
}

describe('engine API: fuzzed requests', function () {
  this.timeout(900_000);
  let target: MirroredEngine;
  let socket: string;
  const fixtures: Record<string, string> = {};

  it('has a spec for every POST and PUT route of the router (a new route is fuzzed once it has one)', () => {
    const routes = createRouter({} as any)
      .list()
      .filter((r) => r.method === 'POST' || r.method === 'PUT')
      .map((r) => `${r.method} ${r.path}`);
    assert.deepEqual(
      routes.filter((r) => !SPECS[r]),
      [],
      'routes without a fuzz spec',
    );
    assert.deepEqual(
      Object.keys(SPECS).filter((k) => !routes.includes(k)),
      [],
      'specs of routes that do not exist',
    );
  });

  describe('against a running engine', () => {
    before(async () => {
      // The inspector on a free loopback port, for a full GC before each heap measurement.
      target = await startMirroredEngine({ env: { NODE_OPTIONS: '--inspect=127.0.0.1:0' } });
      socket = target.engine.socket;
      const c = target.engine.client;
      fixtures.fz = (
        await c.json('POST', '/containers/create', { query: { name: 'fz' }, body: { Image: 'busybox' } })
      ).Id;
      fixtures.fzrun = (
        await c.json('POST', '/containers/create', {
          query: { name: 'fzrun' },
          body: { Image: 'busybox', Cmd: ['sleep', '100000'] },
        })
      ).Id;
      await c.json('POST', `/containers/${fixtures.fzrun}/start`);
      fixtures.EXEC = (await c.json('POST', `/containers/${fixtures.fzrun}/exec`, { body: { Cmd: ['true'] } })).Id;
      await c.json('POST', '/networks/create', { body: { Name: 'fznet' } });
      await c.json('POST', '/volumes/create', { body: { Name: 'fzvol' } });
    });
    after(async () => {
      await target?.cleanup();
    });

    /** What exists, and the fixtures' states: a refused request changes none of it. */
    const census = async () => {
      const c = target.engine.client;
      const [containers, networks, volumes, images, run, exec] = await Promise.all([
        c.json('GET', '/containers/json', { query: { all: '1' } }),
        c.json('GET', '/networks'),
        c.json('GET', '/volumes'),
        c.json('GET', '/images/json', { query: { all: '1' } }),
        c.json('GET', `/containers/${fixtures.fzrun}/json`),
        c.json('GET', `/exec/${fixtures.EXEC}/json`).catch((err) => ({ gone: err.message })),
      ]);
      return {
        containers: containers.map((x: any) => `${x.Names[0]} ${x.State}`).sort(),
        networks: networks.map((x: any) => x.Name).sort(),
        volumes: volumes.Volumes.map((x: any) => x.Name).sort(),
        images: images.map((x: any) => `${x.Id} ${x.RepoTags}`).sort(),
        fzrunStarted: run.State.StartedAt,
        fzrunPaused: run.State.Paused,
        exec: exec.gone ?? `${exec.Running} ${exec.ExitCode}`,
      };
    };

    it(`answers ${CASES} malformed requests per route with a 4xx, changes nothing, leaks nothing`, async () => {
      const pid = target.engine.process().pid!;
      const failures: string[] = [];
      const before = await census();
      const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
      const fresh = new http.Agent({ keepAlive: false, maxSockets: 8 });
      let sent = 0;

      const send = async (route: string, i: number, c: Case, spec: Spec) => {
        sent++;
        let res: { status: number; text: string };
        try {
          // Bytes no HTTP allows get their 400 on a connection of their own (the answer closes it), as do bodies
          // the route never reads.
          const plain = /^[\x21-\x7e]*$/.test(c.path) && c.path.length < 8192 && (c.body?.length ?? 0) < 1 << 20;
          // A request line HTTP refuses is answered before any body: none is sent (the answer would cut it short).
          if (!/^[\x21-\x7e]*$/.test(c.path)) c = { ...c, body: undefined };
          res =
            c.path.length > 1 << 20
              ? await oversizedRequest(socket, c)
              : await request(socket, plain ? agent : fresh, c);
        } catch (err: any) {
          failures.push(`${route} #${i} ${c.path.slice(0, 80)}: connection ${err.code ?? err.message}`);
          return;
        }
        const refused =
          (res.status >= 400 && res.status <= 499) ||
          spec.also?.includes(res.status) ||
          (spec.streamsErrors && res.status === 200 && /"error(Detail)?":/.test(res.text));
        if (!refused)
          failures.push(
            `${route} #${i} ${c.path.slice(0, 100)} ${String(c.body ?? '').slice(0, 100)}: ${res.status} ${res.text.slice(0, 160)}`,
          );
      };

      // Warm up (the first requests allocate caches), then measure.
      for (let i = 0; i < 200; i++)
        await send('warm-up', i, { method: 'POST', path: '/volumes/create', body: '1' }, {});
      const fds0 = openFds(pid);
      const heap0 = await heapAfterGc(target.engine.log);
      const t0 = Date.now();

      for (const [route, spec] of Object.entries(SPECS)) {
        // One generator per route: a failing case reproduces with the same seed whatever the other routes do.
        const r = rng(SEED ^ [...route].reduce((h, ch) => Math.imul(h, 31) + ch.charCodeAt(0), 7));
        let next = 0;
        const worker = async () => {
          while (next < CASES) {
            const i = next++;
            await send(route, i, generate(route, spec, fixtures, r, i), spec);
          }
        };
        const t = Date.now();
        await Promise.all(Array.from({ length: 8 }, worker));
        if (process.env.BERTH_FUZZ_VERBOSE) console.log(`      ${route}: ${Date.now() - t} ms`);
      }

      const seconds = (Date.now() - t0) / 1000;
      agent.destroy();
      fresh.destroy();
      const after = await census();
      const fds1 = openFds(pid);
      const heap1 = await heapAfterGc(target.engine.log);
      console.log(
        `      seed ${SEED}: ${sent} requests (${CASES} per route, ${Object.keys(SPECS).length} routes) in ${seconds.toFixed(0)} s; ` +
          `fds ${fds0} → ${fds1}; heap after GC ${(heap0 / 1e6).toFixed(1)} → ${(heap1 / 1e6).toFixed(1)} MB`,
      );
      if (process.env.BERTH_FUZZ_FAILURES) fs.writeFileSync(process.env.BERTH_FUZZ_FAILURES, failures.join('\n'));
      assert.deepEqual(
        failures.slice(0, 40),
        [],
        `seed ${SEED}: ${failures.length} of ${sent} requests were not refused`,
      );
      assert.deepEqual(after, before, 'a malformed request changed what exists');
      assert.ok(fds1 <= fds0, `open files: ${fds0} before, ${fds1} after`);
      assert.ok(heap1 - heap0 < HEAP_BOUND_MB * 1e6, `heap after GC grew by ${((heap1 - heap0) / 1e6).toFixed(1)} MB`);
      const ping = await request(socket, new http.Agent(), { method: 'GET', path: '/_ping' });
      assert.equal(ping.status, 200, 'the engine answers after the run');
    });
  });
});
