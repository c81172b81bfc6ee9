// A registry's own API (distribution v2) for the Registries view: `_catalog` and `tags/list`, with Docker's two auth
// schemes (Basic, and Bearer tokens from the realm the 401 names, asked with the stored credentials). Free of
// `vscode`; the extension's pulls and pushes go through the engine, only listing talks to the registry directly.
import { Agent, request } from 'undici';
import type { AuthConfig } from '../../client/types';

/** docker.io's names: the index a user types, the API host, and the short repository form. */
export const DOCKER_HUB = 'docker.io';
const HUB_API = 'https://registry-1.docker.io';
const HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'https://index.docker.io/v1/']);

/** A registry address as the user typed it, made canonical: host[:port] (scheme kept only when http:// forced). */
export function normalizeAddress(input: string): string {
  const t = input.trim().replace(/\/+$/, '');
  if (HUB_ALIASES.has(t) || HUB_ALIASES.has(`${t}/`)) return DOCKER_HUB;
  return t.replace(/^https:\/\//, '').replace(/\/v2$/, '');
}

/** Docker treats loopback registries as insecure (plain HTTP) by default. */
function isLoopback(host: string): boolean {
  return /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])(:\d+)?$/.test(host);
}

export function baseUrl(address: string): string {
  const a = normalizeAddress(address);
  if (a === DOCKER_HUB) return HUB_API;
  if (a.startsWith('http://')) return a;
  return isLoopback(a) ? `http://${a}` : `https://${a}`;
}

/** The registry an image reference lives in (docker.io when its first part is not a host). */
export function registryOfReference(ref: string): string {
  const slash = ref.indexOf('/');
  if (slash < 0) return DOCKER_HUB;
  const first = ref.slice(0, slash);
  return /[.:]/.test(first) || first === 'localhost' ? normalizeAddress(first) : DOCKER_HUB;
}

/** The reference to pull a registry's repository:tag by. */
export function referenceIn(address: string, repository: string, tag: string): string {
  const a = normalizeAddress(address).replace(/^http:\/\//, '');
  if (a === DOCKER_HUB) return `${repository.replace(/^library\//, '')}:${tag}`;
  return `${a}/${repository}:${tag}`;
}

export class RegistryApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function parseChallenge(header: string): { scheme: string; params: Record<string, string> } {
  const scheme = header.split(' ')[0].toLowerCase();
  const params: Record<string, string> = {};
  for (const m of header.slice(scheme.length).matchAll(/(\w+)="([^"]*)"/g)) params[m[1]] = m[2];
  return { scheme, params };
}

export class RegistryApi {
  private readonly base: string;
  private readonly dispatcher: Agent;
  private authorization?: string;

  constructor(
    readonly address: string,
    private readonly auth?: AuthConfig,
    opts: { ca?: string | Buffer } = {},
  ) {
    this.base = baseUrl(address);
    this.dispatcher = new Agent({
      connect: opts.ca ? { ca: opts.ca } : {},
      headersTimeout: 15_000,
      bodyTimeout: 30_000,
    });
  }

  private basic(): string | undefined {
    if (this.auth?.username === undefined || this.auth.password === undefined) return undefined;
    return `Basic ${Buffer.from(`${this.auth.username}:${this.auth.password}`).toString('base64')}`;
  }

  private async send(path: string, authorization?: string) {
    return request(`${this.base}${path}`, {
      method: 'GET',
      dispatcher: this.dispatcher,
      headers: { accept: 'application/json', ...(authorization ? { authorization } : {}) },
    });
  }

  /** GET with the auth dance: a 401 names Basic or a Bearer realm; the answer is retried once with it. */
  private async get(path: string, scope: string): Promise<{ body: any; link?: string }> {
    let res = await this.send(path, this.authorization);
    if (res.statusCode === 401) {
      const challenge = parseChallenge(String(res.headers['www-authenticate'] ?? ''));
      await res.body.dump();
      if (challenge.scheme === 'basic') this.authorization = this.basic();
      else if (challenge.scheme === 'bearer') this.authorization = await this.token(challenge.params, scope);
      if (!this.authorization)
        throw new RegistryApiError(401, `${this.address}: authentication required (log in first)`);
      res = await this.send(path, this.authorization);
    }
    if (res.statusCode >= 400) {
      const text = await res.body.text();
      let message = text;
      try {
        const j = JSON.parse(text);
        message = j.errors?.map((e: { message: string }) => e.message).join('; ') || text;
      } catch {
        /* plain text */
      }
      throw new RegistryApiError(res.statusCode, `${this.address}: ${message.trim() || `answered ${res.statusCode}`}`);
    }
    return { body: await res.body.json(), link: res.headers.link as string | undefined };
  }

  private async token(params: Record<string, string>, scope: string): Promise<string | undefined> {
    if (!params.realm) return undefined;
    const u = new URL(params.realm);
    if (params.service) u.searchParams.set('service', params.service);
    u.searchParams.set('scope', params.scope ?? scope);
    if (this.auth?.identitytoken) u.searchParams.set('refresh_token', this.auth.identitytoken);
    const res = await request(u.toString(), {
      method: 'GET',
      dispatcher: this.dispatcher,
      headers: this.basic() ? { authorization: this.basic()! } : {},
    });
    if (res.statusCode >= 400) {
      await res.body.dump();
      throw new RegistryApiError(res.statusCode, `${this.address}: the token service refused the credentials`);
    }
    const j = (await res.body.json()) as { token?: string; access_token?: string };
    const t = j.token ?? j.access_token;
    return t ? `Bearer ${t}` : undefined;
  }

  /** The registry's repositories (`_catalog`, following its `Link` pages, at most `limit`). */
  async repositories(limit = 1000): Promise<string[]> {
    const out: string[] = [];
    let path: string | undefined = '/v2/_catalog?n=100';
    while (path && out.length < limit) {
      const { body, link } = await this.get(path, 'registry:catalog:*');
      out.push(...((body?.repositories as string[]) ?? []));
      path = /<([^>]+)>;\s*rel="next"/.exec(link ?? '')?.[1];
    }
    return out.slice(0, limit);
  }

  /** A repository's tags (`tags/list`), sorted. */
  async tags(repository: string): Promise<string[]> {
    const { body } = await this.get(`/v2/${repository}/tags/list`, `repository:${repository}:pull`);
    return ((body?.tags as string[] | null) ?? []).sort();
  }

  close(): Promise<void> {
    return this.dispatcher.close();
  }
}
