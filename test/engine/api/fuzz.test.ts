// Thousands of malformed requests — bodies of the wrong shape or type, broken JSON, NUL bytes, huge numbers, deep
// nesting, 10 MB strings, hostile queries and paths — against every route that reads a body or a parameter. The
// engine answers each with a 4xx (never a 5xx or a dropped connection), stays up, and keeps its open files and
// memory within a bound.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import { type MirroredEngine, startMirroredEngine } from '../../helpers/mirrored-engine';

/** A deterministic generator (mulberry32), so a failure names a reproducible case. */
function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const deep = (n: number, open: string, close: string) => open.repeat(n) + close.repeat(n);

/** The JSON shape dockerd's Go type gives a field: string, bool, integer, []string, StrSlice, object. */
type Kind = 's' | 'b' | 'i' | 'l' | 'lo' | 'ss' | 'o';

/** Values no field of that kind accepts: every other JSON type, integers too big or fractional, bad elements. */
function wrongValues(kind: Kind, r: () => number): unknown[] {
  const long = 'x'.repeat(1 + Math.floor(r() * 5000));
  const scalars: Record<string, unknown[]> = {
    number: [1, -1, 1e308, 0.5],
    bool: [true, false],
    string: ['x', '', 'nul\u0000byte', long],
    array: [[], [1, 'a'], [[[]]]],
    object: [{}, { a: { b: { c: [] } } }],
  };
  const pick = (...kinds: string[]) => kinds.flatMap((k) => scalars[k]);
  switch (kind) {
    case 's':
      return pick('number', 'bool', 'array', 'object');
    case 'b':
      return pick('number', 'string', 'array', 'object');
    case 'i':
      return [...pick('string', 'bool', 'array', 'object'), 0.5, 1e308, 2 ** 64, -(2 ** 64)];
    case 'l':
      return [...pick('number', 'bool', 'string', 'object'), [1], [{}], ['a', true]];
    case 'lo':
      return [...pick('number', 'bool', 'string', 'object'), [1], ['a'], [[]]];
    case 'ss':
      return [...pick('number', 'bool', 'object'), [1], [{}], ['a', []]];
    case 'o':
      return pick('number', 'bool', 'string', 'array');
  }
}

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
  '\u0000',
  '{"a":"\u0000"',
  '\ufeff{}x',
  deep(50_000, '[', ']'),
  deep(50_000, '{"a":', '}').replace(/}$/, '1}'),
];

interface Target {
  path: string;
  fields: Record<string, Kind>;
  /** The fields are those of this member of the body (HostConfig). */
  nested?: string;
  /** Statuses dockerd answers here whatever the body (swarm routes: 503 "not a swarm manager"). */
  also?: number[];
}

function request(
  socketPath: string,
  agent: http.Agent,
  method: string,
  path: string,
  body?: string | Buffer,
  headers: Record<string, string> = {},
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        socketPath,
        agent,
        method,
        path,
        headers: {
          Host: 'localhost',
          ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
          ...headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function openFds(pid: number): number {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}
function rssKb(pid: number): number {
  return Number(/^VmRSS:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
}

describe('engine API: fuzzed requests', function () {
  this.timeout(600_000);
  let target: MirroredEngine;
  let socket: string;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  const fresh = new http.Agent({ keepAlive: false });
  let containerId: string;

  before(async () => {
    target = await startMirroredEngine();
    socket = target.engine.socket;
    const c = target.engine.client;
    containerId = (await c.json('POST', '/containers/create', { query: { name: 'fz' }, body: { Image: 'busybox' } }))
      .Id;
    await c.json('POST', '/networks/create', { body: { Name: 'fznet' } });
    await c.json('POST', '/volumes/create', { body: { Name: 'fzvol' } });
  });
  after(async () => {
    agent.destroy();
    await target?.cleanup();
  });

  const targets = (): Target[] => [
    {
      path: '/containers/create',
      fields: {
        Image: 's',
        Cmd: 'ss',
        Entrypoint: 'ss',
        Env: 'l',
        Labels: 'o',
        ExposedPorts: 'o',
        Volumes: 'o',
        WorkingDir: 's',
        User: 's',
        Tty: 'b',
        OpenStdin: 'b',
        StopSignal: 's',
        StopTimeout: 'i',
        Healthcheck: 'o',
        HostConfig: 'o',
        NetworkingConfig: 'o',
      },
    },
    {
      path: '/containers/create?name=fz2',
      nested: 'HostConfig',
      fields: {
        Binds: 'l',
        Memory: 'i',
        NanoCpus: 'i',
        CpuShares: 'i',
        Privileged: 'b',
        CapAdd: 'ss',
        NetworkMode: 's',
        PortBindings: 'o',
        RestartPolicy: 'o',
        Mounts: 'lo',
        Dns: 'l',
        ShmSize: 'i',
        Sysctls: 'o',
        SecurityOpt: 'l',
        PidsLimit: 'i',
        Ulimits: 'lo',
        AutoRemove: 'b',
        Init: 'b',
      },
    },
    {
      path: `/containers/${containerId}/update`,
      fields: { Memory: 'i', CpuShares: 'i', RestartPolicy: 'o', PidsLimit: 'i' },
    },
    {
      path: `/containers/${containerId}/exec`,
      fields: { Cmd: 'ss', Env: 'l', AttachStdout: 'b', Tty: 'b', User: 's', WorkingDir: 's', Privileged: 'b' },
    },
    { path: '/exec/0123456789abcdef/start', fields: { Detach: 'b', Tty: 'b', ConsoleSize: 'l' } },
    {
      path: '/networks/create',
      fields: {
        Name: 's',
        Driver: 's',
        Internal: 'b',
        Attachable: 'b',
        IPAM: 'o',
        Options: 'o',
        Labels: 'o',
        EnableIPv6: 'b',
      },
    },
    { path: '/networks/fznet/connect', fields: { Container: 's', EndpointConfig: 'o' } },
    { path: '/networks/fznet/disconnect', fields: { Container: 's', Force: 'b' } },
    { path: '/volumes/create', fields: { Name: 's', Driver: 's', DriverOpts: 'o', Labels: 'o' } },
    { path: '/auth', fields: { username: 's', password: 's', serveraddress: 's', identitytoken: 's' } },
    { path: `/commit?container=${containerId}`, fields: { Cmd: 'ss', Env: 'l', Labels: 'o', Entrypoint: 'ss' } },
  ];

  /** Objects in the engine: a malformed request must add none. */
  const census = async () => {
    const c = target.engine.client;
    const [containers, networks, volumes, images] = await Promise.all([
      c.json('GET', '/containers/json', { query: { all: '1' } }),
      c.json('GET', '/networks'),
      c.json('GET', '/volumes'),
      c.json('GET', '/images/json', { query: { all: '1' } }),
    ]);
    return {
      containers: containers.length,
      networks: networks.length,
      volumes: volumes.Volumes.length,
      images: images.length,
    };
  };

  it('answers every malformed body, query and path with a 4xx, creates nothing, leaks nothing', async () => {
    const pid = target.engine.process().pid!;
    const r = rng(18);
    const failures: string[] = [];
    const before = await census();
    let sent = 0;

    const check = async (
      method: string,
      path: string,
      body?: string | Buffer,
      headers?: Record<string, string>,
      also: number[] = [],
    ) => {
      sent++;
      let res: { status: number; text: string };
      try {
        // Bytes no HTTP allows get their 400 on a connection of their own (the answer closes it).
        res = await request(socket, /^[\x21-\x7e]*$/.test(path) ? agent : fresh, method, path, body, headers);
      } catch (err: any) {
        failures.push(`${method} ${path} ${String(body).slice(0, 80)}: connection ${err.code ?? err.message}`);
        return;
      }
      if ((res.status < 400 || res.status > 499) && !also.includes(res.status))
        failures.push(
          `${method} ${path.slice(0, 80)} ${String(body).slice(0, 120)}: ${res.status} ${res.text.slice(0, 160)}`,
        );
    };

    // Warm up (first requests allocate caches), then measure.
    for (let i = 0; i < 50; i++) await check('POST', '/volumes/create', '1');
    const fds0 = openFds(pid);
    const rss0 = rssKb(pid);

    for (const t of targets()) {
      for (const body of NOT_OBJECTS) await check('POST', t.path, body, undefined, t.also);
      // The right shape under the wrong Content-Type (moby's CheckForJSON).
      await check('POST', t.path, '{}', { 'Content-Type': 'text/plain' }, t.also);
      await check('POST', t.path, '{}', { 'Content-Type': 'application/x-www-form-urlencoded' }, t.also);
      for (const [field, kind] of Object.entries(t.fields)) {
        for (const v of wrongValues(kind, r)) {
          let body: Record<string, unknown> = { [field]: v };
          if (t.nested) body = { [t.nested]: body };
          if (t.path.startsWith('/containers/create') && field !== 'Image') body.Image = 'busybox';
          await check('POST', t.path, JSON.stringify(body), undefined, t.also);
        }
      }
    }
    // Routes that take no JSON body, or answer as dockerd does without a swarm (503): never a 500.
    for (const [path, also] of [
      [`/containers/${containerId}/start`, []],
      [`/containers/${containerId}/resize?h=1&w=1`, [200]],
      ['/swarm/init', [501, 503]],
      ['/swarm/join', [501, 503]],
      ['/swarm/update', [503]],
      ['/services/create', [503]],
      ['/secrets/create', [503]],
      ['/configs/create', [503]],
      ['/plugins/pull?remote=x', [501]], // no plugins here: not implemented
    ] as [string, number[]][]) {
      // dockerd starts a container whose body is at most 7 bytes ("a JSON object is at least 7 characters").
      for (const body of NOT_OBJECTS)
        await check(
          'POST',
          path,
          body,
          undefined,
          path.endsWith('/start') && Buffer.byteLength(body) <= 7 ? [204, 304] : also,
        );
    }
    // A 10 MB string where a name goes, and a body past the bound.
    await check('POST', '/volumes/create', JSON.stringify({ Name: 'v'.repeat(10 * 1024 * 1024) }));
    await check('POST', '/networks/create', JSON.stringify({ Name: 'n'.repeat(10 * 1024 * 1024) }));
    await check('POST', '/containers/create', Buffer.alloc(11 * 1024 * 1024, 0x20));

    // Queries and paths: NUL bytes, encoded slashes and dots, huge numbers, hostile filters.
    const hostile = [
      '%00',
      '..%2f..%2fetc',
      'a'.repeat(4000),
      '-1',
      '99999999999999999999999',
      '%ff%fe',
      '%',
      '{"',
      'ÿ',
    ];
    for (const h of hostile) {
      await check('GET', `/containers/${h}/json`);
      await check('GET', `/images/${h}/json`);
      await check('GET', `/volumes/${h}`);
      await check('GET', `/networks/${h}`);
      await check('DELETE', `/containers/${h}`);
      await check('POST', `/containers/${containerId}/kill?signal=${h}`);
      await check('POST', `/containers/${containerId}/resize?h=${h}&w=${h}`);
      await check('GET', `/containers/json?filters=${h}`);
      await check('GET', `/containers/json?filters=${encodeURIComponent(JSON.stringify({ label: h }))}`);
      await check('GET', `/volumes?filters=${encodeURIComponent(JSON.stringify({ label: [1] }))}`);
      await check('GET', `/images/json?filters=${encodeURIComponent(JSON.stringify({ reference: [1, h] }))}`);
      await check('GET', `/containers/${containerId}/logs?tail=${h}&since=${h}`);
      if (!/^-?\d+$/.test(h)) await check('GET', `/events?since=${h}&until=${h}`);
      await check('POST', `/images/${h}/tag?repo=${h}`);
    }
    for (let i = 0; i < 700; i++) {
      const bytes = Array.from(
        { length: 1 + Math.floor(r() * 40) },
        () =>
          `%${Math.floor(r() * 256)
            .toString(16)
            .padStart(2, '0')}`,
      ).join('');
      await check('GET', `/containers/${bytes}/json`);
      await check('POST', `/volumes/create`, `{"Name":"${bytes}"}`);
    }

    const fds1 = openFds(pid);
    const rss1 = rssKb(pid);
    const after = await census();
    assert.deepEqual(failures.slice(0, 80), [], `${failures.length} of ${sent} requests were not answered with a 4xx`);
    assert.deepEqual(after, before, 'a malformed request changed what exists');
    assert.ok(fds1 - fds0 <= 8, `open files grew from ${fds0} to ${fds1}`);
    assert.ok(rss1 - rss0 < 150 * 1024, `RSS grew from ${rss0} kB to ${rss1} kB`);
    const ping = await request(socket, agent, 'GET', '/_ping');
    assert.equal(ping.status, 200);
    console.log(`      ${sent} requests; fds ${fds0} → ${fds1}; RSS ${rss0} → ${rss1} kB`);
  });
});
