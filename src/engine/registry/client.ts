// Distribution API v2 client over undici: endpoints (mirrors, insecure registries, certs.d CAs), the
// WWW-Authenticate Bearer/Basic flows, manifests, blobs (streamed, redirects followed) and uploads.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { Agent, buildConnector, type Dispatcher, request } from 'undici';
import { isCidr, registryServiceConfig } from './config';
import { DEFAULT_DOMAIN } from './reference';

export interface Credentials {
  username?: string;
  password?: string;
  identityToken?: string;
  registryToken?: string;
}

export interface Endpoint {
  /** https://host[:port] or http://host[:port], no trailing slash */
  url: string;
  mirror: boolean;
  /** TLS without verification (insecure registries) */
  skipVerify: boolean;
  /** PEM from certs.d, if any */
  ca?: Buffer;
  /** Registry host[:port] the endpoint serves (for certs.d and messages). */
  host: string;
  /** Where loopback addresses are reached instead (a rootless engine's namespace reaches the host's there). */
  loopbackVia?: string;
}

export interface RegistrySettings {
  mirrors: string[];
  insecure: string[];
  /** `<config dir>/certs.d`, like /etc/docker/certs.d */
  certsDir: string;
  /** The address that stands for the host's loopback (rootless: slirp4netns's gateway); unset: loopback is here. */
  loopbackVia?: string;
}

export class RegistryError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code?: string,
    readonly detail?: string,
  ) {
    super(message);
  }
}

/** A network-level failure (refused, TLS, DNS): the next endpoint may work. */
export class EndpointError extends Error {}

export const MANIFEST_ACCEPT = [
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v1+prettyjws',
  'application/json',
];

const MAX_MANIFEST = 4 * 1024 * 1024;

/** The registry Docker Hub names resolve to; BERTH_DOCKER_IO_REGISTRY lets tests point it at a closed port. */
export function dockerHubRegistry(): string {
  return process.env.BERTH_DOCKER_IO_REGISTRY ?? 'https://registry-1.docker.io';
}

function ipInCidr(ip: string, cidr: string): boolean {
  const [base, bitsText] = cidr.split('/');
  if (net.isIPv4(ip) !== net.isIPv4(base)) return false;
  const bits = Number(bitsText);
  if (net.isIPv4(ip)) {
    const n = (a: string) => a.split('.').reduce((acc, x) => (acc << 8n) + BigInt(Number(x)), 0n);
    const mask = bits === 0 ? 0n : ((1n << 32n) - 1n) ^ ((1n << BigInt(32 - bits)) - 1n);
    return (n(ip) & mask) === (n(base) & mask);
  }
  return false;
}

export function isInsecure(host: string, insecure: string[]): boolean {
  const reg = registryServiceConfig([], insecure);
  if (reg.indexConfigs[host] && !reg.indexConfigs[host].secure) return true;
  let hostname = host.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  if (hostname === 'localhost') hostname = '127.0.0.1';
  if (!net.isIP(hostname)) return false;
  return reg.insecureCidrs.filter(isCidr).some((c) => ipInCidr(hostname, c));
}

function readCa(certsDir: string, host: string): Buffer | undefined {
  const dir = path.join(certsDir, host);
  try {
    const pems = fs
      .readdirSync(dir)
      .filter((f) => f.endsWith('.crt'))
      .map((f) => fs.readFileSync(path.join(dir, f)));
    return pems.length ? Buffer.concat(pems) : undefined;
  } catch {
    return undefined;
  }
}

/** Where to look for a repository, in order (Docker's LookupPullEndpoints). */
export function endpointsFor(domain: string, s: RegistrySettings, forPush = false): Endpoint[] {
  const out = lookupEndpoints(domain, s, forPush);
  return s.loopbackVia ? out.map((e) => ({ ...e, loopbackVia: s.loopbackVia })) : out;
}

function lookupEndpoints(domain: string, s: RegistrySettings, forPush: boolean): Endpoint[] {
  const out: Endpoint[] = [];
  if (domain === DEFAULT_DOMAIN) {
    if (!forPush) {
      for (const m of s.mirrors) {
        const u = new URL(m);
        out.push({
          url: `${u.protocol}//${u.host}`,
          mirror: true,
          skipVerify: isInsecure(u.host, s.insecure),
          ca: readCa(s.certsDir, u.host),
          host: u.host,
        });
      }
    }
    const hub = new URL(dockerHubRegistry());
    out.push({ url: `${hub.protocol}//${hub.host}`, mirror: false, skipVerify: false, host: hub.host });
    return out;
  }
  const ca = readCa(s.certsDir, domain);
  if (isInsecure(domain, s.insecure)) {
    out.push({ url: `https://${domain}`, mirror: false, skipVerify: true, ca, host: domain });
    out.push({ url: `http://${domain}`, mirror: false, skipVerify: true, host: domain });
  } else {
    out.push({ url: `https://${domain}`, mirror: false, skipVerify: false, ca, host: domain });
  }
  return out;
}

const isLoopback = (host: string) =>
  host === 'localhost' || host.endsWith('.localhost') || /^127\./.test(host) || host === '[::1]' || host === '::1';

/**
 * Dials `via` for loopback hosts: what the user means by localhost:5000 is the host's, which a rootless engine's
 * network namespace reaches at slirp4netns's gateway. The Host header and TLS name stay the registry's own.
 */
function viaForLoopback(connect: buildConnector.connector, via: string): buildConnector.connector {
  return (opts, callback) => connect(isLoopback(opts.hostname) ? { ...opts, hostname: via } : opts, callback);
}

const agents = new Map<string, Agent>();
function agentFor(e: Endpoint): Dispatcher {
  const key = `${e.url}|${e.skipVerify}|${e.ca?.toString('base64') ?? ''}|${e.loopbackVia ?? ''}`;
  let a = agents.get(key);
  if (!a) {
    const tls = { rejectUnauthorized: !e.skipVerify, ca: e.ca ? [e.ca.toString()] : undefined, timeout: 15_000 };
    a = new Agent({
      connect: e.loopbackVia ? viaForLoopback(buildConnector(tls), e.loopbackVia) : tls,
      keepAliveTimeout: 30_000,
      headersTimeout: 60_000,
      bodyTimeout: 120_000,
    });
    agents.set(key, a);
  }
  return a;
}

interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  const out: Challenge[] = [];
  for (const h of ([] as string[]).concat(header ?? [])) {
    const m = /^\s*(\w+)\s*(.*)$/.exec(h);
    if (!m) continue;
    const params: Record<string, string> = {};
    const re = /(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))/g;
    let p: RegExpExecArray | null;
    while ((p = re.exec(m[2]))) params[p[1].toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3];
    out.push({ scheme: m[1].toLowerCase(), params });
  }
  return out;
}

function registryErrorFrom(status: number, text: string, what: string): RegistryError {
  try {
    const body = JSON.parse(text);
    const e = body?.errors?.[0];
    if (e) {
      const code = String(e.code ?? '');
      const message = String(e.message ?? code.toLowerCase().replace(/_/g, ' '));
      return new RegistryError(
        `${code.toLowerCase().replace(/_/g, ' ')}: ${message}`.replace(/^: /, ''),
        status,
        code,
        e.detail ? JSON.stringify(e.detail) : undefined,
      );
    }
  } catch {
    /* not JSON */
  }
  const reason =
    status === 401 ? 'unauthorized: authentication required' : `unexpected status from ${what} request: ${status}`;
  return new RegistryError(reason, status);
}

export interface RepoSession {
  endpoint: Endpoint;
  getManifest(reference: string): Promise<{ mediaType: string; digest?: string; body: Buffer }>;
  getBlob(digest: string): Promise<{ body: Readable; size: number }>;
  hasBlob(digest: string): Promise<boolean>;
  pushBlob(digest: string, size: number, body: () => Readable): Promise<void>;
  putManifest(reference: string, mediaType: string, body: Buffer): Promise<string | undefined>;
}

type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH';

/** One repository on one endpoint, with its auth state (token cache) and scope. */
export function openRepo(
  endpoint: Endpoint,
  repoPath: string,
  creds: Credentials | undefined,
  actions: string[],
): RepoSession {
  const dispatcher = agentFor(endpoint);
  let authorization: string | undefined;
  const scope = `repository:${repoPath}:${actions.join(',')}`;

  const fetchToken = async (c: Challenge): Promise<string> => {
    const realm = c.params.realm;
    if (!realm) throw new RegistryError('bearer challenge without realm', 401);
    const u = new URL(realm);
    if (c.params.service) u.searchParams.set('service', c.params.service);
    u.searchParams.set('scope', c.params.scope && !actions.includes('push') ? c.params.scope : scope);
    const headers: Record<string, string> = {};
    if (creds?.username)
      headers.authorization = 'Basic ' + Buffer.from(`${creds.username}:${creds.password ?? ''}`).toString('base64');
    let res;
    try {
      res = await request(u, { dispatcher: agentFor({ ...endpoint, url: u.origin }), headers });
    } catch (err: any) {
      throw new EndpointError(`Get "${u.origin}${u.pathname}": ${err.message}`);
    }
    const text = await res.body.text();
    if (res.statusCode !== 200) throw registryErrorFrom(res.statusCode, text, 'token');
    const body = JSON.parse(text);
    const token = body.token ?? body.access_token;
    if (!token) throw new RegistryError('token server answered without a token', 401);
    return `Bearer ${token}`;
  };

  const authenticate = async (header: string | string[] | undefined): Promise<boolean> => {
    if (creds?.registryToken) {
      authorization = `Bearer ${creds.registryToken}`;
      return true;
    }
    for (const c of parseChallenges(header)) {
      if (c.scheme === 'bearer') {
        authorization = await fetchToken(c);
        return true;
      }
      if (c.scheme === 'basic' && creds?.username) {
        authorization = 'Basic ' + Buffer.from(`${creds.username}:${creds.password ?? ''}`).toString('base64');
        return true;
      }
    }
    return false;
  };

  /** One request with auth retry and redirects; returns the final response (body unread). */
  const call = async (
    method: Method,
    url: string,
    opts: { headers?: Record<string, string>; body?: () => Readable | Buffer | undefined } = {},
  ) => {
    let target = new URL(url);
    let authRetried = false;
    for (let hop = 0; hop < 10; hop++) {
      const sameHost = target.host === new URL(endpoint.url).host;
      const headers: Record<string, string> = { 'user-agent': 'berth/0.1 (docker-compatible)', ...opts.headers };
      if (authorization && sameHost) headers.authorization = authorization;
      let res: Dispatcher.ResponseData;
      try {
        res = await request(target, {
          method,
          headers,
          body: opts.body?.(),
          dispatcher: sameHost
            ? dispatcher
            : agentFor({ ...endpoint, url: target.origin, ca: undefined, skipVerify: false }),
        });
      } catch (err: any) {
        throw new EndpointError(
          `${method === 'GET' ? 'Get' : method === 'HEAD' ? 'Head' : method === 'PUT' ? 'Put' : method === 'PATCH' ? 'Patch' : 'Post'} "${target.href}": ${err.code ? `${err.code}: ` : ''}${err.message}`,
        );
      }
      if (res.statusCode === 401 && !authRetried && sameHost) {
        await res.body.dump();
        authRetried = true;
        if (await authenticate(res.headers['www-authenticate'])) continue;
        throw new RegistryError('unauthorized: authentication required', 401, 'UNAUTHORIZED');
      }
      if ([301, 302, 303, 307, 308].includes(res.statusCode) && res.headers.location) {
        await res.body.dump();
        target = new URL(String(res.headers.location), target);
        if (res.statusCode === 303) method = 'GET';
        continue;
      }
      return { res, url: target };
    }
    throw new RegistryError('too many redirects', 502);
  };

  const base = `${endpoint.url}/v2/${repoPath}`;
  return {
    endpoint,
    async getManifest(reference) {
      const { res } = await call('GET', `${base}/manifests/${reference}`, {
        headers: { accept: MANIFEST_ACCEPT.join(', ') },
      });
      if (res.statusCode !== 200) throw registryErrorFrom(res.statusCode, await res.body.text(), 'manifest');
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const c of res.body) {
        size += c.length;
        if (size > MAX_MANIFEST) {
          res.body.destroy();
          throw new RegistryError('manifest too large', 502);
        }
        chunks.push(c);
      }
      const body = Buffer.concat(chunks);
      let mediaType = String(res.headers['content-type'] ?? '')
        .split(';')[0]
        .trim();
      try {
        const parsed = JSON.parse(body.toString('utf8'));
        if (typeof parsed.mediaType === 'string') mediaType = parsed.mediaType;
        else if (parsed.schemaVersion === 1) mediaType = 'application/vnd.docker.distribution.manifest.v1+json';
        else if (Array.isArray(parsed.manifests)) mediaType ||= 'application/vnd.oci.image.index.v1+json';
        else if (parsed.config)
          mediaType =
            mediaType && mediaType !== 'application/json' ? mediaType : 'application/vnd.oci.image.manifest.v1+json';
      } catch {
        /* checked by the caller */
      }
      const digest = res.headers['docker-content-digest'];
      return { mediaType, digest: digest ? String(digest) : undefined, body };
    },
    async getBlob(digest) {
      const { res } = await call('GET', `${base}/blobs/${digest}`);
      if (res.statusCode !== 200) throw registryErrorFrom(res.statusCode, await res.body.text(), 'blob');
      return { body: res.body as unknown as Readable, size: Number(res.headers['content-length'] ?? -1) };
    },
    async hasBlob(digest) {
      const { res } = await call('HEAD', `${base}/blobs/${digest}`);
      await res.body.dump();
      if (res.statusCode === 200) return true;
      if (res.statusCode === 404) return false;
      throw registryErrorFrom(res.statusCode, '', 'blob');
    },
    async pushBlob(digest, size, body) {
      const { res: start } = await call('POST', `${base}/blobs/uploads/`);
      const text = await start.body.text();
      if (start.statusCode !== 202) throw registryErrorFrom(start.statusCode, text, 'upload');
      const location = new URL(String(start.headers.location), endpoint.url);
      location.searchParams.set('digest', digest);
      const { res } = await call('PUT', location.href, {
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
        body,
      });
      const putText = await res.body.text();
      if (res.statusCode !== 201) throw registryErrorFrom(res.statusCode, putText, 'upload');
    },
    async putManifest(reference, mediaType, body) {
      const { res } = await call('PUT', `${base}/manifests/${reference}`, {
        headers: { 'content-type': mediaType },
        body: () => body as any,
      });
      const text = await res.body.text();
      if (res.statusCode !== 201) throw registryErrorFrom(res.statusCode, text, 'manifest');
      const d = res.headers['docker-content-digest'];
      return d ? String(d) : undefined;
    },
  };
}

/** `docker login`: checks credentials against the registry's /v2/ (and its token server). */
export async function login(endpoints: Endpoint[], creds: Credentials): Promise<void> {
  let last: Error | undefined;
  for (const e of endpoints) {
    if (e.mirror) continue;
    try {
      const dispatcher = agentFor(e);
      const res = await request(`${e.url}/v2/`, { dispatcher });
      await res.body.dump();
      if (res.statusCode === 200) return;
      if (res.statusCode !== 401)
        throw new RegistryError(`login attempt to ${e.url}/v2/ failed with status: ${res.statusCode}`, res.statusCode);
      const challenges = parseChallenges(res.headers['www-authenticate']);
      const basic = 'Basic ' + Buffer.from(`${creds.username ?? ''}:${creds.password ?? ''}`).toString('base64');
      const bearer = challenges.find((c) => c.scheme === 'bearer');
      if (bearer?.params.realm) {
        const u = new URL(bearer.params.realm);
        if (bearer.params.service) u.searchParams.set('service', bearer.params.service);
        const t = await request(u, {
          dispatcher: agentFor({ ...e, url: u.origin }),
          headers: { authorization: basic },
        });
        await t.body.dump();
        if (t.statusCode === 200) return;
        throw new RegistryError(
          `login attempt to ${e.url}/v2/ failed with status: ${t.statusCode} ${t.statusCode === 401 ? 'Unauthorized' : ''}`.trim(),
          401,
        );
      }
      const again = await request(`${e.url}/v2/`, { dispatcher, headers: { authorization: basic } });
      await again.body.dump();
      if (again.statusCode === 200) return;
      throw new RegistryError(
        `login attempt to ${e.url}/v2/ failed with status: ${again.statusCode} ${again.statusCode === 401 ? 'Unauthorized' : ''}`.trim(),
        401,
      );
    } catch (err: any) {
      if (err instanceof RegistryError) throw err;
      last = new EndpointError(`Get "${e.url}/v2/": ${err.message}`);
    }
  }
  throw last ?? new EndpointError('no endpoint to log in to');
}
