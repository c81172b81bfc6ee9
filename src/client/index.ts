// The one typed client of the engine API, shared by the extension and the CLI: undici over the unix socket
// (or TCP), Docker's paths, errors carrying Docker's message and status.
import type * as net from 'node:net';
import type { Duplex, Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { Agent, type Dispatcher, request } from 'undici';
import type * as T from './types';

export type * from './types';

export const API_VERSION = '1.45';

export class EngineApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'EngineApiError';
  }
}

export interface Endpoint {
  /** unix:///path, tcp://host:port */
  host: string;
  tls?: { ca?: string | Buffer; cert?: string | Buffer; key?: string | Buffer; verify?: boolean };
}

export function defaultSocket(): string {
  return process.getuid?.() === 0 || !process.env.XDG_RUNTIME_DIR
    ? 'unix:///run/berth/berth.sock'
    : `unix://${process.env.XDG_RUNTIME_DIR}/berth/berth.sock`;
}

/** `-H` flag, then BERTH_HOST, then DOCKER_HOST, then the bundled engine's socket. */
export function resolveHost(flag?: string): string {
  return flag || process.env.BERTH_HOST || process.env.DOCKER_HOST || defaultSocket();
}

type Query = Record<string, string | number | boolean | undefined | null | string[] | Record<string, unknown>>;

function encodeQuery(q?: Query): string {
  if (!q) return '';
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) {
    if (v === undefined || v === null) continue;
    if (typeof v === 'boolean') p.set(k, v ? '1' : '0');
    else if (typeof v === 'object') p.set(k, JSON.stringify(v));
    else p.set(k, String(v));
  }
  const s = p.toString();
  return s ? `?${s}` : '';
}

export interface RequestOptions {
  query?: Query;
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

export class EngineClient {
  readonly endpoint: Endpoint;
  private dispatcher: Dispatcher;
  private origin: string;
  private socketPath?: string;
  /** The API version in request paths: API_VERSION until negotiateApiVersion() lowers it for an older engine. */
  apiVersion = API_VERSION;

  constructor(endpoint: Endpoint | string) {
    this.endpoint = typeof endpoint === 'string' ? { host: endpoint } : endpoint;
    const h = this.endpoint.host;
    if (h.startsWith('unix://') || h.startsWith('/')) {
      this.socketPath = h.replace(/^unix:\/\//, '');
      this.origin = 'http://localhost';
      this.dispatcher = new Agent({
        connect: { socketPath: this.socketPath },
        keepAliveTimeout: 10_000,
        bodyTimeout: 0,
        headersTimeout: 0,
      });
    } else if (h.startsWith('tcp://') || h.startsWith('http://') || h.startsWith('https://')) {
      const useTls = !!this.endpoint.tls || h.startsWith('https://');
      this.origin = h.replace(/^tcp:\/\//, useTls ? 'https://' : 'http://');
      const t = this.endpoint.tls;
      this.dispatcher = new Agent({
        connect: useTls ? { ca: t?.ca, cert: t?.cert, key: t?.key, rejectUnauthorized: t?.verify !== false } : {},
        bodyTimeout: 0,
        headersTimeout: 0,
      });
    } else {
      throw new Error(`unsupported engine host "${h}": use unix:///path or tcp://host:port`);
    }
  }

  /** The versioned path for a Docker API route. */
  path(p: string, query?: Query): string {
    return `/v${this.apiVersion}${p}${encodeQuery(query)}`;
  }

  private async raw(method: string, p: string, opts: RequestOptions = {}) {
    const headers: Record<string, string> = { ...opts.headers };
    let body: any;
    if (opts.body !== undefined) {
      if (typeof (opts.body as any)?.pipe === 'function' || Buffer.isBuffer(opts.body)) {
        body = opts.body;
        headers['content-type'] ??= 'application/x-tar';
      } else {
        body = JSON.stringify(opts.body);
        headers['content-type'] = 'application/json';
      }
    }
    const res = await request(this.origin + this.path(p, opts.query), {
      method: method as any,
      headers,
      body,
      dispatcher: this.dispatcher,
      signal: opts.signal,
    });
    if (res.statusCode >= 400) {
      const text = await res.body.text();
      let message = text;
      try {
        message = JSON.parse(text).message ?? text;
      } catch {
        /* plain text error */
      }
      throw new EngineApiError(res.statusCode, message.trim() || `engine answered ${res.statusCode}`);
    }
    return res;
  }

  async json<T = any>(method: string, p: string, opts?: RequestOptions): Promise<T> {
    const res = await this.raw(method, p, opts);
    const text = await res.body.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** The response body as a stream, with the response headers. */
  async stream(
    method: string,
    p: string,
    opts?: RequestOptions,
  ): Promise<{ body: Readable; headers: Record<string, string | string[] | undefined> }> {
    const res = await this.raw(method, p, opts);
    return { body: res.body as unknown as Readable, headers: res.headers };
  }

  /** Streams a newline-delimited body line by line (the text itself, for callers that need its exact digits). */
  async *lines(method: string, p: string, opts?: RequestOptions): AsyncGenerator<string> {
    const { body } = await this.stream(method, p, opts);
    // A chunk may end inside a multi-byte character: the decoder holds its first bytes for the next chunk.
    const decoder = new StringDecoder('utf8');
    let buf = '';
    for await (const chunk of body as AsyncIterable<Buffer>) {
      buf += decoder.write(chunk);
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i).trim();
        buf = buf.slice(i + 1);
        if (line) yield line;
      }
    }
    buf += decoder.end();
    if (buf.trim()) yield buf.trim();
  }

  /** Streams newline-delimited JSON objects (pull progress, events). */
  async *jsonLines<T = any>(method: string, p: string, opts?: RequestOptions): AsyncGenerator<T> {
    for await (const line of this.lines(method, p, opts)) yield JSON.parse(line) as T;
  }

  /**
   * Docker's connection hijack (attach, exec start): the request with `Upgrade: tcp` through undici's upgrade
   * machinery (its HTTP parser finds the end of the 101 head; bytes after it stay on the socket), and the raw
   * socket for both directions, paused until the caller reads. An answer other than 101 is Docker's JSON error.
   */
  async hijack(method: string, p: string, body?: unknown, query?: Query): Promise<Duplex> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return await new Promise<Duplex>((resolve, reject) => {
      let status = 0;
      const chunks: Buffer[] = [];
      this.dispatcher.dispatch(
        {
          origin: this.origin,
          path: this.path(p, query),
          method: method as Dispatcher.HttpMethod,
          upgrade: 'tcp',
          headers: payload === undefined ? {} : { 'content-type': 'application/json' },
          body: payload,
        },
        {
          onConnect() {},
          onUpgrade(_statusCode: number, _headers: unknown, socket: Duplex) {
            (socket as net.Socket).setNoDelay?.(true);
            socket.pause();
            resolve(socket);
          },
          onHeaders(statusCode: number) {
            status = statusCode;
            return true;
          },
          onData(chunk: Buffer) {
            chunks.push(chunk);
            return true;
          },
          onComplete() {
            const text = Buffer.concat(chunks).toString('utf8');
            let message = text;
            try {
              message = JSON.parse(text).message ?? text;
            } catch {
              /* plain */
            }
            reject(new EngineApiError(status, message.trim() || `engine answered ${status}`));
          },
          onError(err: Error) {
            reject(err);
          },
        } as unknown as Dispatcher.DispatchHandler,
      );
    });
  }

  ping(signal?: AbortSignal): Promise<string> {
    return this.raw('GET', '/_ping', { signal }).then((r) => r.body.text());
  }
  version(): Promise<EngineVersion> {
    return this.json('GET', '/version');
  }
  info(): Promise<Record<string, any>> {
    return this.json('GET', '/info');
  }
  events(
    opts: { since?: string; until?: string; filters?: Record<string, string[]> } = {},
    signal?: AbortSignal,
  ): AsyncGenerator<EngineEventMessage> {
    return this.jsonLines('GET', '/events', {
      query: { since: opts.since, until: opts.until, filters: opts.filters },
      signal,
    });
  }

  /**
   * Like docker's client: asks /_ping (unversioned) for the engine's API version and uses the lower of it and
   * ours in paths, so an older Docker engine (the reference dockerd speaks 1.41) answers too.
   */
  async negotiateApiVersion(): Promise<string> {
    const res = await request(`${this.origin}/_ping`, { method: 'GET', dispatcher: this.dispatcher });
    await res.body.text();
    const server = String(res.headers['api-version'] ?? '');
    if (/^\d+\.\d+$/.test(server) && compareApiVersions(server, API_VERSION) < 0) this.apiVersion = server;
    return this.apiVersion;
  }

  // ---- containers (typed) ----
  listContainers(
    opts: { all?: boolean; size?: boolean; limit?: number; filters?: T.Filters } = {},
  ): Promise<T.ContainerSummary[]> {
    return this.json('GET', '/containers/json', {
      query: { all: opts.all, size: opts.size, limit: opts.limit, filters: nonEmpty(opts.filters) },
    });
  }
  inspectContainer(id: string, opts: { size?: boolean } = {}): Promise<T.ContainerInspect> {
    return this.json('GET', `/containers/${encodeURIComponent(id)}/json`, { query: { size: opts.size } });
  }
  createContainer(
    config: T.ContainerCreateConfig,
    opts: { name?: string; platform?: string } = {},
  ): Promise<{ Id: string; Warnings: string[] | null }> {
    return this.json('POST', '/containers/create', {
      query: { name: opts.name, platform: opts.platform },
      body: config,
    });
  }
  async startContainer(id: string, opts: { detachKeys?: string } = {}): Promise<void> {
    await this.json('POST', `/containers/${encodeURIComponent(id)}/start`, { query: { detachKeys: opts.detachKeys } });
  }
  async stopContainer(id: string, opts: { t?: number; signal?: string } = {}): Promise<void> {
    await this.json('POST', `/containers/${encodeURIComponent(id)}/stop`, {
      query: { t: opts.t, signal: opts.signal },
    });
  }
  async restartContainer(id: string, opts: { t?: number; signal?: string } = {}): Promise<void> {
    await this.json('POST', `/containers/${encodeURIComponent(id)}/restart`, {
      query: { t: opts.t, signal: opts.signal },
    });
  }
  async killContainer(id: string, signal?: string): Promise<void> {
    await this.json('POST', `/containers/${encodeURIComponent(id)}/kill`, { query: { signal } });
  }
  async removeContainer(id: string, opts: { force?: boolean; volumes?: boolean; link?: boolean } = {}): Promise<void> {
    await this.json('DELETE', `/containers/${encodeURIComponent(id)}`, {
      query: { force: opts.force, v: opts.volumes, link: opts.link },
    });
  }
  /** Blocks until the condition ("not-running", "next-exit", "removed") holds. */
  waitContainer(
    id: string,
    condition?: string,
    signal?: AbortSignal,
  ): Promise<{ StatusCode: number; Error?: { Message: string } | null }> {
    return this.json('POST', `/containers/${encodeURIComponent(id)}/wait`, { query: { condition }, signal });
  }
  /** Raw log bytes: Docker's multiplexed frames unless the container has a TTY. */
  async containerLogs(
    id: string,
    opts: {
      follow?: boolean;
      stdout?: boolean;
      stderr?: boolean;
      since?: string;
      until?: string;
      timestamps?: boolean;
      tail?: string;
      details?: boolean;
    },
    signal?: AbortSignal,
  ): Promise<Readable> {
    const { body } = await this.stream('GET', `/containers/${encodeURIComponent(id)}/logs`, {
      query: { ...opts },
      signal,
    });
    return body;
  }
  /** Attaches over a hijacked connection (both directions). */
  attachContainer(
    id: string,
    opts: {
      stream?: boolean;
      stdin?: boolean;
      stdout?: boolean;
      stderr?: boolean;
      logs?: boolean;
      detachKeys?: string;
    },
  ): Promise<Duplex> {
    return this.hijack('POST', `/containers/${encodeURIComponent(id)}/attach`, undefined, { ...opts });
  }
  async resizeContainer(id: string, height: number, width: number): Promise<void> {
    await this.json('POST', `/containers/${encodeURIComponent(id)}/resize`, { query: { h: height, w: width } });
  }
  async renameContainer(id: string, name: string): Promise<void> {
    await this.json('POST', `/containers/${encodeURIComponent(id)}/rename`, { query: { name } });
  }
  async pauseContainer(id: string): Promise<void> {
    await this.json('POST', `/containers/${encodeURIComponent(id)}/pause`);
  }
  async unpauseContainer(id: string): Promise<void> {
    await this.json('POST', `/containers/${encodeURIComponent(id)}/unpause`);
  }
  updateContainer(id: string, update: Record<string, unknown>): Promise<{ Warnings: string[] | null }> {
    return this.json('POST', `/containers/${encodeURIComponent(id)}/update`, { body: update });
  }
  topContainer(id: string, psArgs?: string): Promise<T.ContainerTop> {
    return this.json('GET', `/containers/${encodeURIComponent(id)}/top`, { query: { ps_args: psArgs } });
  }
  containerStatsOnce(id: string): Promise<T.ContainerStats> {
    return this.json('GET', `/containers/${encodeURIComponent(id)}/stats`, { query: { stream: false } });
  }
  containerStatsStream(id: string, signal?: AbortSignal): AsyncGenerator<T.ContainerStats> {
    return this.jsonLines('GET', `/containers/${encodeURIComponent(id)}/stats`, { query: { stream: true }, signal });
  }
  /** HEAD /archive: the stat of a path inside a container. */
  async statContainerPath(id: string, path: string): Promise<T.PathStat> {
    const res = await this.raw('HEAD', `/containers/${encodeURIComponent(id)}/archive`, { query: { path } });
    await res.body.text();
    return decodePathStat(res.headers['x-docker-container-path-stat']);
  }
  /** A tar of a path inside a container, with its stat. */
  async getArchive(id: string, path: string): Promise<{ tar: Readable; stat: T.PathStat }> {
    const { body, headers } = await this.stream('GET', `/containers/${encodeURIComponent(id)}/archive`, {
      query: { path },
    });
    return { tar: body, stat: decodePathStat(headers['x-docker-container-path-stat']) };
  }
  /**
   * Berth's GET /containers/{id}/files: one directory's entries with their stat (uid and gid too), without tarring
   * the subtree. Undefined when the engine has no such route (dockerd, Podman: 404 "page not found").
   */
  async listContainerDir(id: string, path: string): Promise<T.DirListing | undefined> {
    try {
      const res = await this.raw('GET', `/containers/${encodeURIComponent(id)}/files`, { query: { path } });
      const entries = (await res.body.json()) as T.DirEntryStat[];
      return { stat: decodePathStat(res.headers['x-docker-container-path-stat']), entries };
    } catch (err) {
      if (err instanceof EngineApiError && err.status === 404 && /page not found/i.test(err.message)) return undefined;
      throw err;
    }
  }
  /** Extracts a tar into a directory inside a container. */
  async putArchive(
    id: string,
    path: string,
    tar: Readable | Buffer,
    opts: { noOverwriteDirNonDir?: boolean; copyUIDGID?: boolean } = {},
  ): Promise<void> {
    await this.json('PUT', `/containers/${encodeURIComponent(id)}/archive`, {
      query: { path, noOverwriteDirNonDir: opts.noOverwriteDirNonDir, copyUIDGID: opts.copyUIDGID },
      body: tar,
    });
  }
  pruneContainers(filters?: T.Filters): Promise<T.PruneReport> {
    return this.json('POST', '/containers/prune', { query: { filters: nonEmpty(filters) } });
  }

  // ---- exec (typed) ----
  createExec(containerId: string, config: T.ExecCreateConfig): Promise<{ Id: string }> {
    return this.json('POST', `/containers/${encodeURIComponent(containerId)}/exec`, { body: config });
  }
  /** Starts an exec over a hijacked connection; with Detach the engine answers at once. */
  startExecHijacked(execId: string, opts: { Tty?: boolean; ConsoleSize?: [number, number] }): Promise<Duplex> {
    return this.hijack('POST', `/exec/${encodeURIComponent(execId)}/start`, {
      Detach: false,
      Tty: !!opts.Tty,
      ConsoleSize: opts.ConsoleSize,
    });
  }
  async startExecDetached(execId: string, opts: { Tty?: boolean } = {}): Promise<void> {
    await this.json('POST', `/exec/${encodeURIComponent(execId)}/start`, { body: { Detach: true, Tty: !!opts.Tty } });
  }
  async resizeExec(execId: string, height: number, width: number): Promise<void> {
    await this.json('POST', `/exec/${encodeURIComponent(execId)}/resize`, { query: { h: height, w: width } });
  }
  inspectExec(execId: string): Promise<T.ExecInspect> {
    return this.json('GET', `/exec/${encodeURIComponent(execId)}/json`);
  }

  // ---- images (typed) ----
  listImages(opts: { all?: boolean; digests?: boolean; filters?: T.Filters } = {}): Promise<T.ImageSummary[]> {
    return this.json('GET', '/images/json', {
      query: { all: opts.all, digests: opts.digests, filters: nonEmpty(opts.filters) },
    });
  }
  inspectImage(name: string): Promise<T.ImageInspect> {
    return this.json('GET', `/images/${name}/json`);
  }
  /** Pull progress as Docker's JSON messages; errors arrive as messages with `error`. */
  pullImage(
    fromImage: string,
    tag: string | undefined,
    opts: { auth?: T.AuthConfig; platform?: string; signal?: AbortSignal } = {},
  ): AsyncGenerator<T.JSONMessage> {
    return this.jsonLines('POST', '/images/create', {
      query: { fromImage, tag, platform: opts.platform },
      headers: authHeader(opts.auth),
      signal: opts.signal,
    });
  }
  pushImage(name: string, tag: string | undefined, opts: { auth?: T.AuthConfig } = {}): AsyncGenerator<T.JSONMessage> {
    // Docker requires the header even when anonymous.
    return this.jsonLines('POST', `/images/${name}/push`, { query: { tag }, headers: authHeader(opts.auth ?? {}) });
  }
  async tagImage(source: string, repo: string, tag?: string): Promise<void> {
    await this.json('POST', `/images/${source}/tag`, { query: { repo, tag } });
  }
  removeImage(
    name: string,
    opts: { force?: boolean; noprune?: boolean } = {},
  ): Promise<{ Untagged?: string; Deleted?: string }[]> {
    return this.json('DELETE', `/images/${name}`, { query: { force: opts.force, noprune: opts.noprune } });
  }
  /** A docker-save tarball of the named images. */
  async saveImages(names: string[]): Promise<Readable> {
    const p = new URLSearchParams();
    for (const n of names) p.append('names', n);
    const { body } = await this.stream('GET', `/images/get?${p}`);
    return body;
  }
  loadImages(tar: Readable | Buffer, opts: { quiet?: boolean } = {}): AsyncGenerator<T.JSONMessage> {
    return this.jsonLines('POST', '/images/load', { query: { quiet: opts.quiet }, body: tar });
  }
  /**
   * POST /build (the classic builder): the context tar streams up, the build's JSON messages stream back
   * ({stream}, {aux: {ID}}, pull progress; a failure as a message with `error`/`errorDetail.code`).
   */
  buildImage(context: Readable | Buffer, opts: T.BuildImageOptions = {}): AsyncGenerator<T.JSONMessage> {
    const p = new URLSearchParams();
    const set = (k: string, v: string | number | boolean | undefined) => {
      if (v === undefined || v === '') return;
      p.set(k, typeof v === 'boolean' ? (v ? '1' : '0') : String(v));
    };
    set('dockerfile', opts.dockerfile);
    for (const t of opts.tags ?? []) p.append('t', t);
    for (const h of opts.extraHosts ?? []) p.append('extrahosts', h);
    if (opts.buildArgs && Object.keys(opts.buildArgs).length) p.set('buildargs', JSON.stringify(opts.buildArgs));
    if (opts.labels && Object.keys(opts.labels).length) p.set('labels', JSON.stringify(opts.labels));
    if (opts.cacheFrom?.length) p.set('cachefrom', JSON.stringify(opts.cacheFrom));
    set('target', opts.target);
    set('nocache', opts.noCache);
    set('pull', opts.pull);
    set('rm', opts.remove);
    set('forcerm', opts.forceRemove);
    set('q', opts.quiet);
    set('networkmode', opts.networkMode);
    set('shmsize', opts.shmSize);
    set('platform', opts.platform);
    const headers: Record<string, string> = { 'content-type': 'application/x-tar' };
    if (opts.registryConfig && Object.keys(opts.registryConfig).length)
      headers['x-registry-config'] = Buffer.from(JSON.stringify(opts.registryConfig)).toString('base64url');
    const qs = p.toString();
    return this.jsonLines('POST', `/build${qs ? `?${qs}` : ''}`, { body: context, headers, signal: opts.signal });
  }
  /** docker commit: the new image's ID. */
  commitContainer(
    container: string,
    opts: { repo?: string; tag?: string; comment?: string; author?: string; changes?: string[]; pause?: boolean } = {},
  ): Promise<{ Id: string }> {
    const p = new URLSearchParams({ container });
    for (const [k, v] of Object.entries({ repo: opts.repo, tag: opts.tag, comment: opts.comment, author: opts.author }))
      if (v) p.set(k, v);
    if (opts.pause === false) p.set('pause', '0');
    for (const c of opts.changes ?? []) p.append('changes', c);
    return this.json('POST', `/commit?${p}`, { body: {} });
  }
  /** docker import from a tar stream: JSON messages whose last status is the image ID. */
  importImage(
    source: Readable | Buffer,
    opts: { repo?: string; tag?: string; message?: string; changes?: string[]; platform?: string } = {},
  ): AsyncGenerator<T.JSONMessage> {
    const p = new URLSearchParams({ fromSrc: '-' });
    for (const [k, v] of Object.entries({
      repo: opts.repo,
      tag: opts.tag,
      message: opts.message,
      platform: opts.platform,
    }))
      if (v) p.set(k, v);
    for (const c of opts.changes ?? []) p.append('changes', c);
    return this.jsonLines('POST', `/images/create?${p}`, { body: source });
  }
  pruneImages(filters?: T.Filters): Promise<T.PruneReport> {
    return this.json('POST', '/images/prune', { query: { filters: nonEmpty(filters) } });
  }
  /** Checks credentials with the registry (POST /auth). */
  checkAuth(auth: T.AuthConfig): Promise<{ Status: string; IdentityToken?: string }> {
    return this.json('POST', '/auth', { body: auth });
  }

  // ---- volumes (typed) ----
  listVolumes(filters?: T.Filters): Promise<{ Volumes: T.Volume[] | null; Warnings: string[] | null }> {
    return this.json('GET', '/volumes', { query: { filters: nonEmpty(filters) } });
  }
  createVolume(opts: {
    Name?: string;
    Driver?: string;
    DriverOpts?: Record<string, string>;
    Labels?: Record<string, string>;
  }): Promise<T.Volume> {
    return this.json('POST', '/volumes/create', { body: opts });
  }
  inspectVolume(name: string): Promise<T.Volume> {
    return this.json('GET', `/volumes/${encodeURIComponent(name)}`);
  }
  async removeVolume(name: string, force?: boolean): Promise<void> {
    await this.json('DELETE', `/volumes/${encodeURIComponent(name)}`, { query: { force } });
  }
  pruneVolumes(filters?: T.Filters): Promise<T.PruneReport> {
    return this.json('POST', '/volumes/prune', { query: { filters: nonEmpty(filters) } });
  }

  // ---- networks (typed) ----
  listNetworks(filters?: T.Filters): Promise<T.Network[]> {
    return this.json('GET', '/networks', { query: { filters: nonEmpty(filters) } });
  }
  inspectNetwork(id: string): Promise<T.Network> {
    return this.json('GET', `/networks/${encodeURIComponent(id)}`);
  }
  createNetwork(body: Record<string, unknown>): Promise<{ Id: string; Warning?: string }> {
    return this.json('POST', '/networks/create', { body });
  }
  async removeNetwork(id: string): Promise<void> {
    await this.json('DELETE', `/networks/${encodeURIComponent(id)}`);
  }
  async connectNetwork(id: string, container: string, endpointConfig?: Record<string, unknown>): Promise<void> {
    await this.json('POST', `/networks/${encodeURIComponent(id)}/connect`, {
      body: { Container: container, EndpointConfig: endpointConfig },
    });
  }
  async disconnectNetwork(id: string, container: string, force?: boolean): Promise<void> {
    await this.json('POST', `/networks/${encodeURIComponent(id)}/disconnect`, {
      body: { Container: container, Force: !!force },
    });
  }
  pruneNetworks(filters?: T.Filters): Promise<T.PruneReport> {
    return this.json('POST', '/networks/prune', { query: { filters: nonEmpty(filters) } });
  }

  // ---- system (typed) ----
  systemDf(): Promise<T.SystemDf> {
    return this.json('GET', '/system/df');
  }
  /** POST /build/prune: the builder's cache (docker builder prune). */
  pruneBuildCache(filters?: T.Filters, opts: { all?: boolean } = {}): Promise<T.PruneReport> {
    return this.json('POST', '/build/prune', { query: { all: opts.all, filters: nonEmpty(filters) } });
  }

  close(): Promise<void> {
    return this.dispatcher.close();
  }
}

export interface EngineVersion {
  Platform: { Name: string };
  Components: { Name: string; Version: string; Details?: Record<string, string> }[];
  Version: string;
  ApiVersion: string;
  MinAPIVersion: string;
  Os: string;
  Arch: string;
  KernelVersion: string;
}

export interface EngineEventMessage {
  Type: string;
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: string;
  time: number;
  timeNano: number;
}

function compareApiVersions(a: string, b: string): number {
  const [am, an] = a.split('.').map(Number);
  const [bm, bn] = b.split('.').map(Number);
  return am !== bm ? am - bm : an - bn;
}

/** Drops empty filter maps so the query stays as docker's client sends it. */
function nonEmpty(filters?: T.Filters): T.Filters | undefined {
  return filters && Object.keys(filters).length ? filters : undefined;
}

/** Docker's X-Registry-Auth: URL-safe base64 of the JSON auth config, padded (Go's base64.URLEncoding). */
export function encodeAuthHeader(auth: T.AuthConfig): string {
  return Buffer.from(JSON.stringify(auth)).toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
}

function authHeader(auth?: T.AuthConfig): Record<string, string> | undefined {
  return auth ? { 'X-Registry-Auth': encodeAuthHeader(auth) } : undefined;
}

function decodePathStat(header: string | string[] | undefined): T.PathStat {
  const h = Array.isArray(header) ? header[0] : header;
  if (!h) return { name: '', size: 0, mode: 0, mtime: '', linkTarget: '' };
  return JSON.parse(Buffer.from(h, 'base64').toString('utf8'));
}
