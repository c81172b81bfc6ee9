// A small router: Docker's paths, with `:name` (one segment) and `:name*` (greedy, for image names that
// contain slashes) parameters, and the version prefix `/v1.xx` stripped and checked.
import type * as http from 'node:http';
import type { Duplex } from 'node:stream';
import { invalidParameter, notFound } from '../errdefs';

export const API_VERSION = '1.45';
export const MIN_API_VERSION = '1.24';

export interface RequestContext {
  req: http.IncomingMessage;
  params: Record<string, string>;
  query: URLSearchParams;
  /** The API version the client asked for (or the current one for unversioned paths). */
  apiVersion: string;
  /** The request body as JSON (bounded); `undefined` for an empty body. */
  json<T = any>(): Promise<T | undefined>;
  /** The request body as a byte stream (tar archives, image loads). */
  body(): NodeJS.ReadableStream;
  /** Whether the client asked to hijack the connection (Upgrade: tcp). */
  wantsUpgrade: boolean;
  send(status: number, body?: unknown, headers?: Record<string, string>): void;
  /** Starts a streamed response (JSON lines, logs, tar) and returns the writable side. */
  stream(status: number, headers: Record<string, string>): NodeJS.WritableStream & { destroyed?: boolean };
  /**
   * Takes over the connection: with Upgrade, answers 101 and returns the raw socket; without, answers 200 with
   * Docker's raw-stream content type and returns a duplex over the request/response.
   */
  hijack(contentType?: string): Duplex;
  /** With Upgrade: the raw socket, nothing written yet (for protocols other than Docker's `tcp`, e.g. WebSocket). */
  takeSocket(): import('node:net').Socket;
  /** Resolves when the client goes away. */
  closed: Promise<void>;
}

export type Handler = (ctx: RequestContext) => Promise<void> | void;

interface Route {
  method: string;
  path: string;
  pattern: RegExp;
  names: string[];
  handler: Handler;
}

export function compareVersions(a: string, b: string): number {
  const [am, an] = a.split('.').map(Number);
  const [bm, bn] = b.split('.').map(Number);
  return am !== bm ? am - bm : an - bn;
}

export class Router {
  private routes: Route[] = [];

  add(method: string, path: string, handler: Handler): void {
    const names: string[] = [];
    const source = path
      .split('/')
      .map((seg) => {
        const m = /^:(\w+)(\*)?$/.exec(seg);
        if (!m) return seg.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
        names.push(m[1]);
        return m[2] ? '(.+?)' : '([^/]+)';
      })
      .join('/');
    this.routes.push({ method, path, pattern: new RegExp(`^${source}/?$`), names, handler });
  }

  /** The table: every method and path as registered (`:name` parameters unfilled). */
  list(): { method: string; path: string }[] {
    return this.routes.map(({ method, path }) => ({ method, path }));
  }

  get(path: string, h: Handler) {
    this.add('GET', path, h);
  }
  head(path: string, h: Handler) {
    this.add('HEAD', path, h);
  }
  post(path: string, h: Handler) {
    this.add('POST', path, h);
  }
  put(path: string, h: Handler) {
    this.add('PUT', path, h);
  }
  delete(path: string, h: Handler) {
    this.add('DELETE', path, h);
  }

  /** Splits the version prefix off and finds the route; throws Docker's errors for bad versions and paths. */
  match(method: string, rawPath: string): { handler: Handler; params: Record<string, string>; apiVersion: string } {
    let path = rawPath;
    let apiVersion = API_VERSION;
    const v = /^\/v(\d+\.\d+)(\/.*)$/.exec(path);
    if (v) {
      apiVersion = v[1];
      path = v[2];
      if (compareVersions(apiVersion, API_VERSION) > 0) {
        throw invalidParameter(
          `client version ${apiVersion} is too new. Maximum supported API version is ${API_VERSION}`,
        );
      }
      if (compareVersions(apiVersion, MIN_API_VERSION) < 0) {
        throw invalidParameter(
          `client version ${apiVersion} is too old. Minimum supported API version is ${MIN_API_VERSION}, please upgrade your client to a newer version`,
        );
      }
    }
    let decoded: string;
    try {
      decoded = decodeURIComponent(path);
    } catch {
      throw invalidParameter(`invalid path: ${path}`);
    }
    for (const r of this.routes) {
      const m = r.pattern.exec(decoded);
      if (!m) continue;
      if (r.method !== method && !(method === 'HEAD' && r.method === 'GET')) continue;
      const params: Record<string, string> = {};
      r.names.forEach((n, i) => (params[n] = m[i + 1]));
      return { handler: r.handler, params, apiVersion };
    }
    // dockerd answers unknown routes (and known paths with the wrong method) with 404 "page not found".
    throw notFound('page not found');
  }
}
