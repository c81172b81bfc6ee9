// Docker's image API: pull (/images/create) with streamed progress, list, inspect, history, tag, remove,
// prune, save/load, push, /distribution/{name}/json and /auth. Only this file knows Docker's JSON shapes.
import { Readable } from 'node:stream';
import type { EngineServices } from '../services';
import { EngineError, invalidParameter, toEngineError, unavailable } from '../../errdefs';
import { type Image, type Progress, throttled } from '../../images';
import { type Credentials, isDigest, loginDomain, parseReference } from '../../registry';
import { filterBool, humanSize, matchLabels, pathMatch, queryBool } from '../../../common/docker';
import { parseFilters, parseTimestampNano, pruneUntil } from '../filters';
import { compareVersions, type RequestContext, type Router } from '../router';
import { AUTH_CONFIG } from '../bodies';
import { decodeGoJson } from '../gojson';

/** JSONProgress.String() of Docker (a 200-column terminal: bar and numbers). */
export function progressBar(current: number, total: number): string {
  if (current <= 0 && total <= 0) return '';
  if (total <= 0) return humanSize(current).padStart(8);
  const pct = Math.min(50, Math.floor(Math.floor((current / total) * 100) / 2));
  const bar = `[${'='.repeat(pct)}>${' '.repeat(Math.max(0, 50 - pct))}] `;
  const numbers =
    current > total ? humanSize(current).padStart(8) : `${humanSize(current).padStart(8)}/${humanSize(total)}`;
  return bar + numbers;
}

export function renderProgress(p: Progress): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (p.status || !p.aux) out.status = p.status;
  if (p.layer || p.current !== undefined) {
    out.progressDetail = p.current !== undefined ? { current: p.current, total: p.total } : {};
    if (p.current !== undefined) out.progress = progressBar(p.current, p.total ?? 0);
  }
  if (p.id !== undefined) out.id = p.id;
  if (p.aux) out.aux = p.aux;
  return out;
}

/** X-Registry-Auth: base64url JSON of {username, password, serveraddress, identitytoken, registrytoken}. */
export function registryAuth(header: string | string[] | undefined): Credentials | undefined {
  const raw = Array.isArray(header) ? header[0] : header;
  if (!raw) return undefined;
  try {
    const text = Buffer.from(raw.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8');
    const j = JSON.parse(text);
    if (!j || typeof j !== 'object') return undefined;
    const creds: Credentials = {
      username: j.username || undefined,
      password: j.password || undefined,
      identityToken: j.identitytoken || undefined,
      registryToken: j.registrytoken || undefined,
    };
    if (!creds.username && j.auth) {
      const [u, ...p] = Buffer.from(String(j.auth), 'base64').toString('utf8').split(':');
      creds.username = u;
      creds.password = p.join(':');
    }
    return creds.username || creds.identityToken || creds.registryToken ? creds : undefined;
  } catch {
    return undefined; // Docker ignores an unreadable auth header and pulls anonymously
  }
}

/**
 * A JSON-lines progress stream that starts the HTTP response only with its first line, so errors before any
 * progress are plain HTTP errors (as dockerd answers "manifest unknown" with 404) and later ones go in-stream.
 */
function progressStream(ctx: RequestContext) {
  let out: NodeJS.WritableStream | undefined;
  const start = () => (out ??= ctx.stream(200, { 'Content-Type': 'application/json' }));
  return {
    write(p: Progress) {
      start().write(JSON.stringify(renderProgress(p)) + '\n');
    },
    started: () => out !== undefined,
    fail(err: EngineError) {
      start().write(JSON.stringify({ errorDetail: { message: err.message }, error: err.message }) + '\n');
    },
    end() {
      start().end();
    },
  };
}

async function sendTar(ctx: RequestContext, tar: NodeJS.ReadableStream): Promise<void> {
  const out = ctx.stream(200, { 'Content-Type': 'application/x-tar' });
  const { pipeline } = await import('node:stream/promises');
  await pipeline(tar as any, out as any);
}

function unixSeconds(iso: string): number {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? 0 : Math.floor(t / 1000);
}

function containerConfig(img: Image): Record<string, unknown> {
  const c = img.config.config ?? {};
  return {
    Hostname: '',
    Domainname: '',
    User: c.User ?? '',
    AttachStdin: false,
    AttachStdout: false,
    AttachStderr: false,
    ...(c.ExposedPorts ? { ExposedPorts: c.ExposedPorts } : {}),
    Tty: false,
    OpenStdin: false,
    StdinOnce: false,
    Env: c.Env ?? null,
    Cmd: c.Cmd ?? null,
    Image: '',
    Volumes: c.Volumes ?? null,
    WorkingDir: c.WorkingDir ?? '',
    Entrypoint: c.Entrypoint ?? null,
    OnBuild: (c as any).OnBuild ?? null,
    Labels: c.Labels ?? null,
    ...(c.StopSignal ? { StopSignal: c.StopSignal } : {}),
    ...((c as any).Healthcheck ? { Healthcheck: (c as any).Healthcheck } : {}),
    ...((c as any).Shell ? { Shell: (c as any).Shell } : {}),
  };
}

export function inspectImage(img: Image, dirs: string[]): Record<string, unknown> {
  return {
    Id: img.id,
    RepoTags: img.repoTags,
    RepoDigests: img.repoDigests,
    Parent: img.parent ?? '',
    Comment: (img.config as any).comment ?? '',
    Created: img.created,
    DockerVersion: (img.config as any).docker_version ?? '',
    Author: img.config.author ?? '',
    Config: containerConfig(img),
    Architecture: img.config.architecture ?? '',
    ...(img.config.variant ? { Variant: img.config.variant } : {}),
    Os: img.config.os ?? '',
    Size: img.size,
    GraphDriver: {
      Data: dirs.length ? { LowerDir: dirs.slice(1).join(':') || undefined, UpperDir: dirs[0] } : null,
      Name: 'overlay2',
    },
    RootFS: { Type: 'layers', Layers: img.config.rootfs?.diff_ids ?? [] },
    Metadata: { LastTagTime: '0001-01-01T00:00:00Z' },
  };
}

/** Docker's `reference` filter: path.Match on the familiar name or name:tag; lists only the tags that match. */
function referenceMatcher(pattern: string): (ref: string) => boolean {
  return (ref) => pathMatch(pattern, ref) || pathMatch(pattern, ref.replace(/[:@][^:@/]*$/, '').replace(/@.*$/, ''));
}

const LIST_FILTERS = ['dangling', 'label', 'before', 'since', 'reference', 'until'] as const;

export function registerImageRoutes(router: Router, s: EngineServices): void {
  const images = () => s.images;

  router.post('/images/create', async (ctx) => {
    const q = ctx.query;
    const fromSrc = q.get('fromSrc');
    if (fromSrc) {
      let source: NodeJS.ReadableStream;
      if (fromSrc === '-') source = ctx.body();
      else if (/^https?:\/\//.test(fromSrc)) {
        const res = await fetch(fromSrc).catch((err) => {
          throw invalidParameter(`error downloading ${fromSrc}: ${err.message}`);
        });
        if (!res.ok || !res.body) throw invalidParameter(`error downloading ${fromSrc}: status ${res.status}`);
        source = Readable.fromWeb(res.body as any);
      } else throw invalidParameter(`fromSrc must be "-" or an http(s) URL, not ${JSON.stringify(fromSrc)}`);
      const id = await s.build.importImage(source as any, {
        repo: q.get('repo') || undefined,
        tag: q.get('tag') || undefined,
        message: q.get('message') || undefined,
        changes: q
          .getAll('changes')
          .flatMap((c) => c.split('\n'))
          .filter((c) => c.trim() !== ''),
        platform: q.get('platform') || undefined,
        source: fromSrc,
      });
      const out = ctx.stream(200, { 'Content-Type': 'application/json' });
      out.end(`${JSON.stringify({ status: id })}\r\n`);
      return;
    }
    const fromImage = q.get('fromImage');
    if (!fromImage) throw invalidParameter('"fromImage" or "fromSrc" is required');
    let refText = fromImage;
    const tag = q.get('tag');
    if (tag) {
      if (isDigest(tag)) refText = `${fromImage}@${tag}`;
      else if (/^[a-z0-9]+:/.test(tag) && tag.includes(':')) refText = `${fromImage}@${tag}`;
      else refText = `${fromImage}:${tag}`;
    }
    parseReference(refText); // 400 before anything starts
    const creds = registryAuth(ctx.req.headers['x-registry-auth']);
    const out = progressStream(ctx);
    try {
      await images().pull(refText, {
        platform: q.get('platform') || undefined,
        creds,
        progress: throttled((p) => out.write(p)),
      });
    } catch (e) {
      const err = toEngineError(e);
      if (!out.started()) throw err;
      out.fail(err);
    }
    out.end();
  });

  router.get('/images/json', async (ctx) => {
    const filters = parseFilters(ctx.query.get('filters'), LIST_FILTERS);
    let list = await images().list();
    const all = ['1', 'true'].includes(ctx.query.get('all') ?? '');
    // Untagged images with children are a build's intermediate steps: listed only with all=1, never dangling.
    const untagged = (i: Image) => !i.repoTags.length && !i.repoDigests.length;
    const intermediate = (i: Image) => untagged(i) && images().children(i.id).length > 0;
    if (!all) list = list.filter((i) => !intermediate(i));
    const dangling = filters.get('dangling');
    if (dangling) {
      const want = filterBool(dangling);
      if (want === undefined) throw invalidParameter(`invalid filter 'dangling=${dangling[0]}'`);
      list = list.filter((i) => (i.repoTags.length === 0 && !intermediate(i)) === want);
    }
    const labels = filters.get('label');
    if (labels) list = list.filter((i) => matchLabels(labels, i.config.config?.Labels));
    const refs = filters.get('reference');
    if (refs) {
      const matchers = refs.map(referenceMatcher);
      const keep = (r: string) => matchers.some((m) => m(r));
      list = list
        .map((i) => ({ ...i, repoTags: i.repoTags.filter(keep), repoDigests: i.repoDigests.filter(keep) }))
        .filter((i) => i.repoTags.length || i.repoDigests.length);
    }
    for (const key of ['before', 'since'] as const) {
      const v = filters.get(key);
      if (!v) continue;
      const pivot = await images().get(v[0]);
      const t = Date.parse(pivot.created);
      list = list.filter((i) => (key === 'before' ? Date.parse(i.created) < t : Date.parse(i.created) > t));
    }
    const until = filters.get('until');
    if (until) {
      const ns = parseTimestampNano(until[0])!;
      list = list.filter((i) => BigInt(Date.parse(i.created)) * 1_000_000n < ns);
    }
    list.sort((a, b) => Date.parse(b.created) - Date.parse(a.created));
    const legacy = compareVersions(ctx.apiVersion, '1.44') < 0;
    ctx.send(
      200,
      list.map((i) => ({
        Containers: -1,
        Created: unixSeconds(i.created),
        Id: i.id,
        Labels: i.config.config?.Labels ?? null,
        ParentId: i.parent ?? '',
        RepoDigests: legacy && !i.repoDigests.length ? ['<none>@<none>'] : i.repoDigests,
        RepoTags: legacy && !i.repoTags.length ? ['<none>:<none>'] : i.repoTags,
        SharedSize: -1,
        Size: i.size,
        ...(legacy ? { VirtualSize: i.size } : {}),
      })),
    );
  });

  router.post('/images/prune', async (ctx) => {
    const filters = parseFilters(ctx.query.get('filters'), ['dangling', 'label', 'label!', 'until']);
    const dangling = filters.get('dangling');
    const all = dangling !== undefined && filterBool(dangling) === false;
    const labels = filters.get('label');
    const notLabels = filters.get('label!');
    const until = pruneUntil(filters);
    const res = await images().prune({
      all,
      keep: (img) => {
        const l = img.config.config?.Labels ?? {};
        if (labels && !matchLabels(labels, l)) return false;
        if (notLabels && notLabels.some((f) => matchLabels([f], l))) return false;
        if (until !== undefined && BigInt(Date.parse(img.created)) * 1_000_000n >= until) return false;
        return true;
      },
    });
    ctx.send(200, {
      ImagesDeleted: res.deleted.length
        ? res.deleted.map((d) => (d.untagged ? { Untagged: d.untagged } : { Deleted: d.deleted }))
        : null,
      SpaceReclaimed: res.spaceReclaimed,
    });
  });

  router.get('/images/get', async (ctx) => {
    const tar = await images().save(ctx.query.getAll('names'));
    await sendTar(ctx, tar);
  });

  router.get('/images/:name*/get', async (ctx) => {
    const tar = await images().save([ctx.params.name]);
    await sendTar(ctx, tar);
  });

  router.post('/images/load', async (ctx) => {
    const quiet = queryBool(ctx.query.get('quiet'));
    let out: NodeJS.WritableStream | undefined;
    const start = () => (out ??= ctx.stream(200, { 'Content-Type': 'application/json' }));
    try {
      const res = await images().load(ctx.body() as any, (line) => {
        if (!quiet)
          start().write(
            JSON.stringify({
              status: line.replace(/ [a-f0-9]{12}$/, ''),
              progressDetail: {},
              id: line.split(' ').pop(),
            }) + '\n',
          );
      });
      for (const line of res.loaded) start().write(JSON.stringify({ stream: `${line}\n` }) + '\n');
    } catch (e) {
      // dockerd answers 200 and puts any load error in the stream (docker-py raises ImageLoadError from it).
      const err = toEngineError(e);
      start().write(JSON.stringify({ errorDetail: { message: err.message }, error: err.message }) + '\n');
    }
    start().end();
  });

  router.post('/images/:name*/push', async (ctx) => {
    const creds = registryAuth(ctx.req.headers['x-registry-auth']);
    const out = progressStream(ctx);
    try {
      await images().push(
        ctx.params.name,
        ctx.query.get('tag') || undefined,
        creds,
        throttled((p) => out.write(p)),
      );
    } catch (e) {
      const err = toEngineError(e);
      if (!out.started()) throw err;
      out.fail(err);
    }
    out.end();
  });

  router.get('/images/:name*/json', async (ctx) => {
    const img = await images().get(ctx.params.name);
    ctx.send(200, inspectImage(img, images().layerDirs(img)));
  });

  router.get('/images/:name*/history', async (ctx) => {
    const img = await images().get(ctx.params.name);
    const history = img.config.history ?? [];
    const diffIds = img.config.rootfs?.diff_ids ?? [];
    let layer = 0;
    const rows = history.map((h) => {
      let size = 0;
      if (!h.empty_layer) {
        const chain = img.chainIds[layer++];
        try {
          size = chain ? images().layerSize(chain) : 0;
        } catch {
          size = 0;
        }
      }
      return {
        Id: '<missing>',
        Created: unixSeconds(h.created ?? ''),
        CreatedBy: h.created_by ?? '',
        Tags: null as string[] | null,
        Size: size,
        Comment: h.comment ?? '',
      };
    });
    if (!rows.length) {
      for (let i = 0; i < diffIds.length; i++)
        rows.push({
          Id: '<missing>',
          Created: unixSeconds(img.created),
          CreatedBy: '',
          Tags: null,
          Size: 0,
          Comment: '',
        });
    }
    rows.reverse();
    // The newest entries are the image and its parents (one history entry per commit), as far as they are here.
    let cur: Image | undefined = img;
    for (const row of rows) {
      if (!cur) break;
      row.Id = cur.id;
      row.Tags = cur.repoTags.length ? cur.repoTags : null;
      cur = cur.parent
        ? await images()
            .get(cur.parent)
            .catch(() => undefined)
        : undefined;
    }
    ctx.send(200, rows);
  });

  router.post('/images/:name*/tag', async (ctx) => {
    const repo = ctx.query.get('repo');
    if (!repo) throw invalidParameter('repository name must have at least one component');
    const tag = ctx.query.get('tag');
    await images().tag(ctx.params.name, tag ? `${repo}:${tag}` : repo);
    ctx.send(201);
  });

  router.delete('/images/:name*', async (ctx) => {
    const res = await images().remove(ctx.params.name, {
      force: queryBool(ctx.query.get('force')),
      noprune: queryBool(ctx.query.get('noprune')),
    });
    ctx.send(
      200,
      res.map((d) => (d.untagged ? { Untagged: d.untagged } : { Deleted: d.deleted })),
    );
  });

  router.get('/distribution/:name*/json', async (ctx) => {
    const creds = registryAuth(ctx.req.headers['x-registry-auth']);
    const info = await images().inspectDistribution(ctx.params.name, creds);
    ctx.send(200, { Descriptor: info.descriptor, Platforms: info.platforms });
  });

  router.post('/auth', async (ctx) => {
    const body = decodeGoJson<Record<string, string>>(await ctx.json(), AUTH_CONFIG);
    const creds: Credentials = {
      username: body.username,
      password: body.password,
      identityToken: body.identitytoken || undefined,
    };
    try {
      await images().login(body.serveraddress ?? '', creds);
    } catch (e: any) {
      if (e instanceof EngineError) throw e;
      if (e?.status === 401 || /unauthorized|401/i.test(String(e?.message))) {
        throw new EngineError(
          'Forbidden',
          `login attempt to ${loginUrl(body.serveraddress)} failed with status: 401 Unauthorized`,
        );
      }
      throw unavailable(e?.message ?? String(e));
    }
    ctx.send(200, { Status: 'Login Succeeded', IdentityToken: '' });
  });
}

function loginUrl(server: string | undefined): string {
  const d = loginDomain(server);
  return d === 'docker.io' ? 'https://registry-1.docker.io/v2/' : `https://${d}/v2/`;
}
