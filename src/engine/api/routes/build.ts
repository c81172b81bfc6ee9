// POST /build (the classic builder's API, what `DOCKER_BUILDKIT=0 docker build`, docker-py, dockerode and
// docker-compose 1.x send), POST /build/prune and POST /commit. The build's output is dockerd's JSON stream:
// {"stream": …} lines (stderr wrapped in the red escape codes dockerd adds), {"aux":{"ID":…}} per stage, pull
// progress for FROM images, and a failure as {"errorDetail":{"code":…,"message":…},"error":…}. With `q` the
// output is held back: only the image ID goes out, or, on failure, everything with the error. Lines end in
// CRLF, as dockerd's stream formatter writes them.
import type { EngineServices } from '../services';
import type { BuildOptions } from '../../build';
import { StepFailed } from '../../build';
import { type EngineError, invalidParameter, toEngineError } from '../../errdefs';
import type { Credentials } from '../../registry';
import { goDurationNano, parseFilters } from '../filters';
import { type RequestContext, type Router, compareVersions } from '../router';
import { renderProgress } from './images';
import { COMMIT_CONFIG } from '../bodies';
import { decodeGoJson } from '../gojson';

/** JSON as Go's encoder writes it: `<`, `>`, `&` and the JS line separators escaped. */
export function goJson(v: unknown): string {
  return JSON.stringify(v).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

const truthy = (v: string | null) => v !== null && v !== '' && v !== '0' && v.toLowerCase() !== 'false';

/** What Go's decoder calls a JSON value in its errors. */
const goKind = (v: unknown) =>
  Array.isArray(v) ? 'array' : v === null ? 'null' : typeof v === 'boolean' ? 'bool' : typeof v;

/**
 * A JSON query parameter decoded as dockerd decodes it into `goType` (map[string]*string, map[string]string or
 * []string): a value of the wrong JSON type is a 400 with Go's text after `what`; null leaves Go's zero value.
 */
function jsonParam<T>(ctx: RequestContext, name: string, what: string, goType: string): T | undefined {
  const raw = ctx.query.get(name);
  if (!raw) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch (err: any) {
    throw invalidParameter(`${what}: ${err.message}`);
  }
  const wrong = (value: unknown, type: string) =>
    invalidParameter(`${what}: json: cannot unmarshal ${goKind(value)} into Go value of type ${type}`);
  if (v === null) return undefined;
  const isSlice = goType.startsWith('[]');
  if (isSlice ? !Array.isArray(v) : goKind(v) !== 'object') throw wrong(v, goType);
  const nullable = goType.endsWith('*string');
  const items = isSlice ? (v as unknown[]) : Object.values(v as object);
  for (const item of items) if (typeof item !== 'string' && !(item === null)) throw wrong(item, 'string');
  if (isSlice) return (v as (string | null)[]).map((x) => x ?? '') as T;
  const out: Record<string, string | null> = {};
  for (const [k, x] of Object.entries(v as Record<string, string | null>)) out[k] = x === null && !nullable ? '' : x;
  return out as T;
}

/** X-Registry-Config: base64url JSON of {registry: {username, password, auth, identitytoken}}. */
function registryConfig(header: string | string[] | undefined): (domain: string) => Credentials | undefined {
  const raw = Array.isArray(header) ? header[0] : header;
  let configs: Record<string, any> = {};
  if (raw) {
    try {
      configs = JSON.parse(Buffer.from(raw.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8')) ?? {};
    } catch {
      configs = {};
    }
  }
  return (domain) => {
    const keys = [domain, `https://${domain}`, `http://${domain}`];
    if (domain === 'docker.io') keys.push('https://index.docker.io/v1/', 'index.docker.io');
    const c = keys.map((k) => configs[k]).find(Boolean);
    if (!c) return undefined;
    let { username, password } = c;
    if (!username && c.auth)
      [username, password] = Buffer.from(String(c.auth), 'base64').toString('utf8').split(/:(.*)/s);
    return {
      username,
      password,
      identityToken: c.identitytoken || undefined,
      registryToken: c.registrytoken || undefined,
    };
  };
}

export function parseBuildOptions(ctx: RequestContext): BuildOptions & { quiet: boolean } {
  const q = ctx.query;
  const old = compareVersions(ctx.apiVersion, '1.12') < 0;
  const remove = truthy(q.get('forcerm')) || (q.get('rm') === null && !old) || truthy(q.get('rm'));
  const shm = q.get('shmsize');
  if (shm && !/^\d+$/.test(shm))
    throw invalidParameter(`strconv.ParseInt: parsing ${JSON.stringify(shm)}: invalid syntax`);
  if (q.get('remote'))
    throw invalidParameter(
      'remote build contexts (git and URLs) are not supported; send the context as the request body',
    );
  if (q.get('version') === '2')
    throw invalidParameter(
      'BuildKit (version=2) is not supported by this engine; use the classic builder (DOCKER_BUILDKIT=0)',
    );
  const buildArgs =
    jsonParam<Record<string, string | null>>(ctx, 'buildargs', 'error reading build args', 'map[string]*string') ?? {};
  const labels = jsonParam<Record<string, string>>(ctx, 'labels', 'error reading labels', 'map[string]string') ?? {};
  const cacheFrom = jsonParam<string[]>(ctx, 'cachefrom', 'error reading cache-from', '[]string') ?? [];
  return {
    dockerfile: q.get('dockerfile') ?? '',
    tags: q.getAll('t').filter(Boolean),
    buildArgs,
    target: q.get('target') ?? '',
    labels,
    noCache: truthy(q.get('nocache')),
    pull: truthy(q.get('pull')),
    remove,
    forceRemove: truthy(q.get('forcerm')),
    quiet: truthy(q.get('q')),
    networkMode: q.get('networkmode') ?? '',
    // Docker takes repeated `extrahosts`; docker-py and dockerode also send one comma-separated value.
    extraHosts: q
      .getAll('extrahosts')
      .flatMap((h) => h.split(','))
      .filter(Boolean),
    shmSize: shm ? Number(shm) : undefined,
    cacheFrom,
    platform: q.get('platform') || undefined,
    auth: registryConfig(ctx.req.headers['x-registry-config']),
  };
}

export function registerBuildRoutes(router: Router, s: EngineServices): void {
  router.post('/build', async (ctx) => {
    const opts = parseBuildOptions(ctx);
    const wantAux = compareVersions(ctx.apiVersion, '1.30') >= 0;
    let out: NodeJS.WritableStream | undefined;
    const start = () => (out ??= ctx.stream(200, { 'Content-Type': 'application/json' }));
    const held: string[] = [];
    const write = (v: unknown) => {
      const line = `${goJson(v)}\r\n`;
      if (opts.quiet) held.push(line);
      else start().write(line);
    };
    const abort = new AbortController();
    ctx.closed.then(() => abort.abort());
    try {
      const { id } = await s.build.build(
        ctx.body() as any,
        opts,
        {
          stdout: (text) => write({ stream: text }),
          stderr: (text) => write({ stream: `\u001b[91m${text}\u001b[0m` }),
          aux: (imageId) => {
            if (wantAux) write({ aux: { ID: imageId } });
          },
          progress: (p) => write(renderProgress(p)),
        },
        abort.signal,
      );
      if (opts.quiet) start().write(`${goJson({ stream: `${id}\n` })}\r\n`);
    } catch (e) {
      const err = toEngineError(e);
      if (opts.quiet && held.length) for (const line of held) start().write(line);
      if (!out) throw err;
      out.write(`${goJson(errorMessage(err))}\r\n`);
    }
    start().end();
  });

  router.post('/build/prune', async (ctx) => {
    // BuildKit's filter names are accepted (the docker CLI sends them); the cache here is images, pruned whole.
    const filters = parseFilters(ctx.query.get('filters'), [
      'until',
      'id',
      'parent',
      'type',
      'description',
      'inuse',
      'shared',
      'private',
      'unused-for',
      'unused_for',
    ]);
    // BuildKit's checks (dockerd answers them with a 500; they are the client's mistakes).
    for (const key of ['until', 'unused-for', 'unused_for']) {
      const values = filters.get(key) ?? [];
      if (values.length > 1) throw invalidParameter('failed to prune build cache: filters expect only one value');
      if (values.length && goDurationNano(values[0]) === undefined)
        throw invalidParameter(
          `failed to prune build cache: "${key}" filter expects a duration (e.g., '24h'): time: invalid duration ${JSON.stringify(values[0])}`,
        );
    }
    const ks = ctx.query.get('keep-storage') ?? '0';
    if (!/^\d+$/.test(ks) || !Number.isSafeInteger(Number(ks)))
      throw invalidParameter(
        `keep-storage is in bytes and expects an integer, got ${ks}: strconv.Atoi: parsing ${JSON.stringify(ks)}: ${/^\d+$/.test(ks) ? 'value out of range' : 'invalid syntax'}`,
      );
    const res = await s.build.prune();
    ctx.send(200, { CachesDeleted: res.deleted.length ? res.deleted : null, SpaceReclaimed: res.spaceReclaimed });
  });

  router.post('/build/cancel', async (ctx) => {
    if (!ctx.query.get('id')) throw invalidParameter('build ID not provided');
    ctx.send(200);
  });

  router.post('/commit', async (ctx) => {
    const q = ctx.query;
    const container = q.get('container');
    if (!container) throw invalidParameter('No container name or ID supplied');
    const raw = await ctx.json<Record<string, unknown>>().catch((err) => {
      throw invalidParameter(`Decoding request body: ${err.message}`);
    });
    const body = raw === undefined ? undefined : decodeGoJson<Record<string, unknown>>(raw, COMMIT_CONFIG);
    const id = await s.build.commit(container, {
      repo: q.get('repo') || undefined,
      tag: q.get('tag') || undefined,
      comment: q.get('comment') || undefined,
      author: q.get('author') || undefined,
      changes: q
        .getAll('changes')
        .flatMap((c) => c.split('\n'))
        .filter((c) => c.trim() !== ''),
      pause: q.get('pause') === null || q.get('pause') === '' ? true : truthy(q.get('pause')),
      config: body && Object.keys(body).length ? body : undefined,
    });
    ctx.send(201, { Id: id });
  });
}

/** dockerd's JSONError: a failed RUN carries its exit code. */
function errorMessage(err: EngineError): Record<string, unknown> {
  const detail: Record<string, unknown> = {};
  if (err instanceof StepFailed) detail.code = err.code;
  detail.message = err.message;
  return { errorDetail: detail, error: err.message };
}
