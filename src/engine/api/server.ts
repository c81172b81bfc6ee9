// HTTP plumbing: listeners from `-H` (unix, tcp, tcp+TLS), one request path for normal and Upgrade requests,
// and the one place engine errors become Docker's `{"message": …}` responses.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import type * as net from 'node:net';
import { Duplex, PassThrough, type Readable } from 'node:stream';
import { type EngineError, invalidParameter, toEngineError } from '../errdefs';
import { log } from '../log';
import {
  applyTcpTimeouts,
  TCP_TIMEOUTS,
  type TcpTimeouts,
  tcpServerOptions,
  checkCaller,
  checkForJson,
  HostNames,
  listenUnix,
  removeUnixSocket,
  tcpTlsOptions,
} from './guard';
import { type RequestContext, type Router, API_VERSION } from './router';

export const MAX_JSON_BODY = 10 * 1024 * 1024;

const STATUS_TEXT = http.STATUS_CODES;

export interface ListenOptions {
  hosts: string[];
  tls?: { verify: boolean; ca?: string; cert?: string; key?: string };
  socketGroup?: string;
  /** TCP listeners' bounds (tests shorten them); dockerd-like defaults otherwise. */
  tcpTimeouts?: Partial<TcpTimeouts>;
  /** The unix socket's mode: 0660 with the group (a root engine), 0600 for a user's own (rootless) engine. */
  socketMode?: number;
}

export interface ApiServer {
  addresses(): string[];
  /**
   * Stops listening, ends the long-lived responses (event streams, log follows, attaches, waits, pull progress)
   * at once, lets other requests in flight finish for up to graceMs, then cuts every connection still open and
   * removes the socket files. Bounded: nothing a client holds open keeps it waiting longer.
   */
  close(graceMs?: number): Promise<void>;
  /** Removes the socket files and drops every connection now, synchronously (a forced exit). */
  closeNow(): void;
}

/** Connections and requests in flight, so that shutdown can end them (node's server.close() waits for them). */
class Tracker {
  readonly sockets = new Set<net.Socket>();
  /** Sockets whose response is a stream (or a hijacked connection): open for as long as the client likes. */
  readonly longLived = new WeakSet<net.Socket>();
  /** One entry per request in flight; each settles when its handler returns or its client is gone. */
  readonly requests = new Set<Promise<void>>();
  closing = false;

  socket(s: net.Socket) {
    if (this.sockets.has(s)) return;
    this.sockets.add(s);
    s.once('close', () => this.sockets.delete(s));
    if (this.closing) s.destroy();
  }

  request(done: Promise<void>) {
    const settled = done.finally(() => this.requests.delete(settled));
    this.requests.add(settled);
  }

  cutLongLived() {
    for (const s of this.sockets) if (this.longLived.has(s)) s.destroy();
  }

  cutAll() {
    for (const s of this.sockets) s.destroy();
  }
}

export function parseHost(
  h: string,
): { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number } | { kind: 'fd' } {
  if (h.startsWith('unix://')) return { kind: 'unix', path: h.slice('unix://'.length) };
  if (h.startsWith('/')) return { kind: 'unix', path: h };
  if (h.startsWith('tcp://')) {
    const u = new URL(h.replace(/^tcp:/, 'http:'));
    const host = u.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1';
    const port = u.port ? Number(u.port) : 2375;
    return { kind: 'tcp', host, port };
  }
  if (h.startsWith('fd://')) return { kind: 'fd' };
  throw invalidParameter(`invalid host: ${h}: unsupported protocol`);
}

function groupId(name: string): number | undefined {
  try {
    for (const line of fs.readFileSync('/etc/group', 'utf8').split('\n')) {
      const [n, , gid] = line.split(':');
      if (n === name) return Number(gid);
    }
  } catch {
    /* no /etc/group: no group */
  }
  return undefined;
}

export async function listen(router: Router, opts: ListenOptions): Promise<ApiServer> {
  const servers: { server: net.Server; address: string; cleanup?: () => void }[] = [];
  const tracker = new Tracker();
  try {
    for (const h of opts.hosts) {
      const target = parseHost(h);
      if (target.kind === 'fd')
        throw invalidParameter('fd:// hosts (systemd socket activation) are not supported; use unix://');
      let server: http.Server | https.Server;
      let names: HostNames;
      if (target.kind === 'tcp') {
        const tlsOptions = tcpTlsOptions(h, target.host, opts.tls);
        const timeouts = { ...TCP_TIMEOUTS, ...opts.tcpTimeouts };
        server = tlsOptions
          ? https.createServer({ ...tlsOptions, ...tcpServerOptions(timeouts) })
          : http.createServer(tcpServerOptions(timeouts));
        names = new HostNames(target.host, tlsOptions?.cert as Buffer | undefined);
        applyTcpTimeouts(server, timeouts);
      } else {
        server = http.createServer();
        names = new HostNames();
        server.keepAliveTimeout = 0;
        server.requestTimeout = 0; // long pulls, follows and attaches
        server.headersTimeout = 60_000;
      }
      server.on('connection', (socket: net.Socket) => tracker.socket(socket));
      server.on('request', (req, res) => handle(router, req, { res }, tracker, names));
      server.on('upgrade', (req, socket: net.Socket, head) => handle(router, req, { socket, head }, tracker, names));
      server.on('clientError', (err: NodeJS.ErrnoException, socket: net.Socket) => answerClientError(err, socket));
      if (target.kind === 'unix') {
        await listenUnix(
          server,
          target.path,
          opts.socketMode ?? 0o660,
          opts.socketGroup ? groupId(opts.socketGroup) : undefined,
        );
        servers.push({
          server,
          address: `unix://${target.path}`,
          cleanup: () => removeUnixSocket(target.path),
        });
      } else {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(target.port, target.host, () => resolve());
        });
        const a = server.address() as net.AddressInfo;
        servers.push({
          server,
          address: `tcp://${target.host.includes(':') ? `[${target.host}]` : target.host}:${a.port}`,
        });
      }
    }
  } catch (err) {
    for (const s of servers) {
      s.server.close();
      s.cleanup?.();
    }
    throw err;
  }
  return {
    addresses: () => servers.map((s) => s.address),
    async close(graceMs = 1000) {
      tracker.closing = true;
      for (const s of servers) {
        s.server.close(); // no callback: it would wait for every connection, and cutAll() below ends them anyway
        (s.server as http.Server).closeIdleConnections?.();
      }
      tracker.cutLongLived();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.all([...tracker.requests]),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, graceMs);
        }),
      ]);
      clearTimeout(timer);
      tracker.cutAll();
      for (const s of servers) s.cleanup?.();
    },
    closeNow() {
      tracker.closing = true;
      for (const s of servers) {
        s.server.close();
        s.cleanup?.();
      }
      tracker.cutAll();
    },
  };
}

/** Go's decoder refuses JSON nested deeper than 10,000 levels (JavaScript's parser goes on): the bracket that goes
 * past it, or undefined. */
function pastGoMaxDepth(text: string): string | undefined {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > 10_000) return text[i];
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return undefined;
}

/** Connections answered after a parse error: the parser reports again on what still arrives. */
const answeredClientErrors = new WeakSet<net.Socket>();

/** A request node's parser refused (bytes no HTTP allows, headers too large, too slow): an answer, as Go's server
 * gives, then the connection closed — not a silent reset. */
function answerClientError(err: NodeJS.ErrnoException, socket: net.Socket): void {
  if (answeredClientErrors.has(socket)) return;
  if (!socket.writable || socket.bytesWritten > 0 || err.code === 'ECONNRESET') {
    socket.destroy();
    return;
  }
  answeredClientErrors.add(socket);
  const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
  const text = `${status} ${STATUS_TEXT[status]}`;
  socket.end(
    `HTTP/1.1 ${text}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${text.length}\r\nConnection: close\r\n\r\n${text}`,
  );
  // Go's lingering close: what the client is still sending (the rest of a 10 MB request line) is read and dropped
  // for a moment, so it reads the answer instead of meeting a reset mid-write. Bounded: it is cut anyway.
  socket.resume();
  socket.once('end', () => socket.destroy());
  setTimeout(() => socket.destroy(), 2000).unref();
}

function errorBody(err: EngineError): string {
  return JSON.stringify({ message: err.message });
}

interface Transport {
  res?: http.ServerResponse;
  socket?: net.Socket;
  head?: Buffer;
}

function handle(router: Router, req: http.IncomingMessage, t: Transport, tracker: Tracker, names: HostNames): void {
  const socket = t.socket ?? req.socket;
  tracker.socket(socket);
  const closed = new Promise<void>((resolve) => {
    if (t.res) t.res.once('close', () => resolve());
    socket.once('close', () => resolve());
  });
  // For shutdown a request is over when its handler is done or its client has gone.
  const served = serve(router, req, t, socket, closed, tracker, names).catch((err) => {
    log.error('request failed', { method: req.method, path: req.url, error: err?.message ?? String(err) });
    socket.destroy();
  });
  tracker.request(Promise.race([served, closed]));
}

async function serve(
  router: Router,
  req: http.IncomingMessage,
  t: Transport,
  socket: net.Socket,
  closed: Promise<void>,
  tracker: Tracker,
  names: HostNames,
): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://berth');
  let responded = false;
  let streaming = false;
  const upgrade = !!t.socket;

  // With Upgrade, node leaves the body unread on the socket: the bytes after the headers are `head` + socket.
  let upgradeBody: Readable | undefined;
  if (upgrade) {
    // Paused until the route reads: input that arrives before it is ready (stdin) must wait, not be dropped.
    socket.pause();
    const length = Number(req.headers['content-length'] ?? 0);
    const pass = new PassThrough();
    let remaining = length;
    const take = (chunk: Buffer) => {
      if (remaining <= 0) return chunk;
      const part = chunk.subarray(0, remaining);
      remaining -= part.length;
      pass.write(part);
      if (remaining <= 0) pass.end();
      return chunk.subarray(part.length);
    };
    if (length === 0) pass.end();
    let rest = take(t.head ?? Buffer.alloc(0));
    if (remaining > 0) {
      const onData = (chunk: Buffer) => {
        const left = take(chunk);
        if (remaining <= 0) {
          socket.off('data', onData);
          socket.pause();
          if (left.length) socket.unshift(left);
        }
      };
      socket.on('data', onData);
      socket.resume();
    } else if (rest.length) {
      socket.unshift(rest);
      rest = Buffer.alloc(0);
    }
    upgradeBody = pass;
  }

  const writeRaw = (status: number, headers: Record<string, string>, body?: string) => {
    let head = `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? ''}\r\n`;
    for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
    if (body !== undefined) head += `Content-Length: ${Buffer.byteLength(body)}\r\n`;
    head += 'Connection: close\r\n\r\n';
    socket.end(body === undefined ? head : head + body);
  };

  const baseHeaders = (): Record<string, string> => ({
    'Api-Version': API_VERSION,
    Server: `Berth/${process.env.BERTH_VERSION ?? '0.1.0'} (linux)`,
    Ostype: 'linux',
  });

  const ctx: RequestContext = {
    req,
    params: {},
    query: url.searchParams,
    apiVersion: API_VERSION,
    wantsUpgrade: upgrade,
    closed,
    body: () => upgradeBody ?? req,
    async json<T>() {
      checkForJson(req);
      const stream = upgradeBody ?? req;
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > MAX_JSON_BODY) throw invalidParameter(`request body is larger than ${MAX_JSON_BODY} bytes`);
        chunks.push(chunk);
      }
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.trim() === '') return undefined;
      const tooDeep = pastGoMaxDepth(text);
      if (tooDeep) throw invalidParameter(`invalid JSON: invalid character '${tooDeep}' exceeded max depth`);
      try {
        return JSON.parse(text) as T;
      } catch (err: any) {
        throw invalidParameter(`invalid JSON: ${err.message}`);
      }
    },
    send(status, body, headers = {}) {
      if (responded) return;
      responded = true;
      const h = { ...baseHeaders(), ...headers };
      let text: string | undefined;
      if (body !== undefined && status !== 204 && status !== 304) {
        if (typeof body === 'string' || Buffer.isBuffer(body)) {
          text = body.toString();
          h['Content-Type'] ??= 'text/plain; charset=utf-8';
        } else {
          text = JSON.stringify(body) + '\n';
          h['Content-Type'] = 'application/json';
        }
      }
      if (t.res) {
        if (text !== undefined) h['Content-Length'] = String(Buffer.byteLength(text));
        t.res.writeHead(status, h);
        t.res.end(req.method === 'HEAD' ? undefined : text);
      } else {
        writeRaw(status, h, text ?? '');
      }
    },
    stream(status, headers) {
      responded = true;
      streaming = true;
      tracker.longLived.add(socket);
      if (t.res) {
        t.res.writeHead(status, { ...baseHeaders(), ...headers });
        t.res.flushHeaders();
        return t.res;
      }
      let head = `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? ''}\r\n`;
      for (const [k, v] of Object.entries({ ...baseHeaders(), ...headers })) head += `${k}: ${v}\r\n`;
      socket.write(head + 'Connection: close\r\n\r\n');
      return socket;
    },
    takeSocket() {
      if (!upgrade) throw invalidParameter('this endpoint needs an Upgrade request');
      responded = true;
      streaming = true;
      tracker.longLived.add(socket);
      socket.resume();
      return socket;
    },
    hijack(contentType = 'application/vnd.docker.raw-stream') {
      responded = true;
      streaming = true;
      tracker.longLived.add(socket);
      if (upgrade) {
        socket.write(
          `HTTP/1.1 101 UPGRADED\r\nContent-Type: ${contentType}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n` +
            Object.entries(baseHeaders())
              .map(([k, v]) => `${k}: ${v}\r\n`)
              .join('') +
            '\r\n',
        );
        socket.setNoDelay(true);
        // Left paused: the route's 'data' listener starts the flow, so no early input (stdin) is dropped.
        return socket;
      }
      const res = t.res!;
      res.writeHead(200, { ...baseHeaders(), 'Content-Type': contentType });
      res.flushHeaders();
      res.socket?.setNoDelay(true);
      return Duplex.from({ readable: req, writable: res }) as Duplex;
    },
  };

  try {
    checkCaller(req, names);
    const { handler, params, apiVersion } = router.match(req.method ?? 'GET', url.pathname);
    ctx.params = params;
    ctx.apiVersion = apiVersion;
    await handler(ctx);
  } catch (e) {
    const err = toEngineError(e);
    if (err.kind === 'System')
      log.error('handler failed', { method: req.method, path: url.pathname, error: err.message });
    else
      log.debug('request refused', { method: req.method, path: url.pathname, status: err.status, error: err.message });
    if (!responded) {
      ctx.send(err.status, err.status === 304 ? undefined : errorBody(err), { 'Content-Type': 'application/json' });
    } else if (streaming) {
      // Headers went out already: the only honest thing left is to cut the stream.
      (t.res ?? socket).destroy();
    }
  }
}
