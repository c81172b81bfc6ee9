// What stands between berthd (root) and whoever can reach a listener: which requests are refused before any route
// sees them (a browser's cross-site request, a DNS-rebound Host, a JSON body under another Content-Type), the TLS
// rules for TCP, the timeouts of a TCP listener, and how the unix socket comes into being and goes away.
import { X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';
import type * as http from 'node:http';
import type * as https from 'node:https';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { forbidden, invalidParameter } from '../errdefs';

export interface TlsSettings {
  verify: boolean;
  ca?: string;
  cert?: string;
  key?: string;
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\./.test(host);
}

// --- Requests ----------------------------------------------------------------------------------------------------

/**
 * The Host names a listener answers to. A browser tricked by DNS rebinding sends the attacker's domain: a name with
 * dots that public DNS resolves. So IP literals pass, and so do single-label names (real clients send "docker" —
 * Go's client before 23 —, "localhost" — docker-py, dockerode, undici —, and curl users anything from "d" to
 * "dummy"), *.localhost (Go's client since 23: "api.moby.localhost"), this machine's name, the listener's own name
 * and, on TLS, the names its certificate is for. Any other dotted name is refused.
 */
export class HostNames {
  private readonly exact = new Set<string>();
  private readonly suffixes: string[] = ['.localhost'];

  constructor(listenerHost?: string, certPem?: Buffer) {
    this.exact.add(os.hostname().toLowerCase());
    if (listenerHost && !net.isIP(listenerHost)) this.exact.add(listenerHost.toLowerCase());
    if (certPem) {
      const cert = new X509Certificate(certPem);
      const names = (cert.subjectAltName ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s.startsWith('DNS:'))
        .map((s) => s.slice(4).toLowerCase());
      const cn = /(?:^|\n)CN=([^\n]+)/.exec(cert.subject)?.[1];
      if (cn) names.push(cn.toLowerCase());
      for (const n of names) {
        if (n.startsWith('*.')) this.suffixes.push(n.slice(1));
        else this.exact.add(n);
      }
    }
  }

  allows(hostHeader: string | undefined): boolean {
    if (hostHeader === undefined || hostHeader === '') return true; // HTTP/1.0 clients; browsers always send one
    const host = hostOf(hostHeader);
    if (host === undefined) return false;
    if (net.isIP(host) || !host.includes('.')) return true;
    return this.exact.has(host) || this.suffixes.some((s) => host.endsWith(s));
  }
}

/** The host part of a Host header ("[::1]:2375" → "::1", "Docker:80" → "docker"); undefined when malformed. */
function hostOf(header: string): string | undefined {
  const h = header.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    if (end < 0) return undefined;
    const rest = h.slice(end + 1);
    if (rest !== '' && !/^:\d{1,5}$/.test(rest)) return undefined;
    return h.slice(1, end);
  }
  const m = /^([^:]*)(?::(\d{1,5}))?$/.exec(h);
  return m ? m[1].replace(/\.$/, '') : undefined;
}

/**
 * Refuses what a web page in the user's browser could send: any request with an Origin header (Docker's API has no
 * browser clients; a page's fetch or WebSocket always carries one), and a Host this listener is not known by.
 */
export function checkCaller(req: http.IncomingMessage, names: HostNames): void {
  const origin = req.headers.origin;
  if (origin !== undefined) {
    throw forbidden(
      `request refused: it carries an Origin header (${String(origin).slice(0, 200)}), so it comes from a web page; the Engine API does not serve browsers`,
    );
  }
  if (!names.allows(req.headers.host)) {
    throw forbidden(
      `request refused: Host "${String(req.headers.host).slice(0, 200)}" is not a name of this engine (a browser sends a foreign Host after DNS rebinding)`,
    );
  }
}

/**
 * moby's CheckForJSON: a request body read as JSON must say so in its Content-Type (an HTML form or a "simple"
 * cross-site fetch can only send text/plain, urlencoded or multipart). No Content-Type is fine only without a body.
 */
export function checkForJson(req: http.IncomingMessage): void {
  const ct = req.headers['content-type'];
  const length = req.headers['content-length'];
  const hasBody = length === undefined ? req.headers['transfer-encoding'] !== undefined : Number(length) !== 0;
  if ((ct === undefined || ct === '') && !hasBody) return;
  const type = ct ?? '';
  const media = type.split(';')[0].trim().toLowerCase();
  let problem: string | undefined;
  if (media === '') problem = 'mime: no media type';
  else if (!/^[!#$%&'*+\-.^_`|~0-9a-z]+\/[!#$%&'*+\-.^_`|~0-9a-z]+$/.test(media)) {
    problem = media.includes('/')
      ? 'mime: unexpected content after media subtype'
      : 'mime: expected slash after first token';
  }
  if (problem) throw invalidParameter(`malformed Content-Type header (${type}): ${problem}`);
  if (media !== 'application/json')
    throw invalidParameter(`unsupported Content-Type header (${type}): must be 'application/json'`);
}

// --- TCP -----------------------------------------------------------------------------------------------------------

/**
 * The TLS options of a TCP listener, or undefined for plain HTTP (loopback only). The rules dockerd's users rely
 * on: --tlsverify trusts only --tlscacert (never the public CAs), TLS asked for but without a certificate is an
 * error rather than plain HTTP, and a non-loopback address needs client verification.
 */
export function tcpTlsOptions(
  address: string,
  host: string,
  tls: TlsSettings | undefined,
): https.ServerOptions | undefined {
  if (!tls) {
    if (!isLoopback(host)) {
      throw invalidParameter(
        `refusing to listen on ${address} without TLS: anyone who can reach it would control this host. Use --tlsverify with --tlscacert/--tlscert/--tlskey, or a unix socket`,
      );
    }
    return undefined;
  }
  if (!tls.cert || !tls.key) {
    throw invalidParameter(
      `refusing to listen on ${address}: TLS is on (--tls/--tlsverify) but --tlscert and --tlskey are not both given, and it will not fall back to plain HTTP`,
    );
  }
  if (tls.verify && !tls.ca) {
    throw invalidParameter(
      `refusing to listen on ${address}: --tlsverify needs --tlscacert, the CA that signs the clients' certificates (without it any certificate from a public CA would be let in)`,
    );
  }
  if (!tls.verify && !isLoopback(host)) {
    throw invalidParameter(
      `refusing to listen on ${address} with --tls but without --tlsverify: TLS without client certificates lets anyone who can reach it control this host. Add --tlsverify and --tlscacert`,
    );
  }
  return {
    // As on the unix socket: a client that closes its side of an attach (docker run, after stdin) still gets the
    // output; without this a TLS client got none (the VM's API is TLS).
    allowHalfOpen: true,
    cert: fs.readFileSync(tls.cert),
    key: fs.readFileSync(tls.key),
    // Given, `ca` replaces node's bundled public CAs for checking client certificates.
    ca: tls.verify && tls.ca ? fs.readFileSync(tls.ca) : undefined,
    requestCert: tls.verify,
    rejectUnauthorized: tls.verify,
  };
}

/** Bounds on a TCP client that connects and then trickles: headers, an idle keep-alive, a request body. */
export interface TcpTimeouts {
  headersMs: number;
  keepAliveMs: number;
  requestMs: number;
}
export const TCP_TIMEOUTS: TcpTimeouts = { headersMs: 30_000, keepAliveMs: 5_000, requestMs: 30 * 60_000 };

/**
 * Options for a TCP listener's server: node checks the header and request timeouts every
 * connectionsCheckingInterval (30 s by default, which could double a 30 s bound), so it checks far more often.
 */
export function tcpServerOptions(t: TcpTimeouts = TCP_TIMEOUTS): { connectionsCheckingInterval: number } {
  return { connectionsCheckingInterval: Math.max(100, Math.min(5_000, Math.floor(t.headersMs / 4))) };
}

export function applyTcpTimeouts(server: http.Server, t: TcpTimeouts = TCP_TIMEOUTS): void {
  server.headersTimeout = t.headersMs;
  server.keepAliveTimeout = t.keepAliveMs;
  // Until the request (body included: image loads, build contexts) is in; responses may stream for longer.
  server.requestTimeout = t.requestMs;
}

// --- The unix socket -------------------------------------------------------------------------------------------

/** Beside each socket berthd makes: the socket's device and inode, so that a later start knows it as its own. */
const markerOf = (socketPath: string) => path.join(path.dirname(socketPath), `.${path.basename(socketPath)}.berthd`);

/**
 * Makes the socket path free for a new listener. Nothing there: fine. A socket something answers on: another
 * daemon's. A dead socket berthd made (its marker names that very inode): removed. Anything else (a file, a
 * directory, a socket of another program) is never deleted.
 */
export async function claimSocketPath(p: string): Promise<void> {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(p);
  } catch (err: any) {
    if (err.code === 'ENOENT') return;
    throw err;
  }
  if (!st.isSocket()) {
    throw invalidParameter(
      `${p} exists and is not a socket: refusing to replace it (move it away if it is not needed)`,
    );
  }
  const alive = await new Promise<boolean>((resolve) => {
    const s = net.connect(p);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
  if (alive) throw invalidParameter(`${p} is in use by another daemon (is berthd or dockerd already running?)`);
  let marker = '';
  try {
    marker = fs.readFileSync(markerOf(p), 'utf8').trim();
  } catch {
    /* no marker: not ours */
  }
  if (marker !== `${st.dev}:${st.ino}`) {
    throw invalidParameter(
      `${p} is a socket berthd did not make and nothing answers on it: refusing to delete it (remove it by hand if it is stale)`,
    );
  }
  fs.rmSync(p, { force: true });
}

/**
 * Listens on a unix socket that has its mode from the moment it exists: the umask is set around bind(2) (node
 * binds synchronously inside listen()), so there is no window in which the socket is open to everyone.
 */
export async function listenUnix(server: net.Server, p: string, mode: number, gid?: number): Promise<void> {
  fs.mkdirSync(path.dirname(p), { recursive: true });
  await claimSocketPath(p);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const old = process.umask(0o777 & ~mode);
    try {
      server.listen(p, () => resolve());
    } finally {
      process.umask(old);
    }
  });
  if (gid !== undefined) {
    fs.chownSync(p, 0, gid);
    letGroupThrough(path.dirname(p), gid);
  }
  const st = fs.lstatSync(p);
  fs.writeFileSync(markerOf(p), `${st.dev}:${st.ino}\n`, { mode: 0o644 });
}

/**
 * The group's way to the socket: the default socket lives in the exec root (/run/berth), which the engine makes 0700,
 * so `--group berth` alone gave the group a socket it could not reach. A root-owned folder that lets neither the group
 * nor others through gets the group's search bit (0710 root:GROUP, no listing); any other folder is left as it is.
 */
function letGroupThrough(dir: string, gid: number): void {
  const st = fs.statSync(dir);
  if (st.uid !== 0 || st.mode & 0o011) return;
  fs.chownSync(dir, 0, gid);
  fs.chmodSync(dir, (st.mode & 0o7777) | 0o010);
}

/**
 * Removes a socket this process made and its marker; leaves the path alone if something else replaced it. Node's
 * server.close() has usually unlinked the socket already, so a missing socket still takes its marker along.
 */
export function removeUnixSocket(p: string): void {
  let st: fs.Stats | undefined;
  try {
    st = fs.lstatSync(p);
  } catch {
    /* unlinked by close() */
  }
  let marker = '';
  try {
    marker = fs.readFileSync(markerOf(p), 'utf8').trim();
  } catch {
    /* no marker */
  }
  if (st?.isSocket() && marker === `${st.dev}:${st.ino}`) fs.rmSync(p, { force: true });
  fs.rmSync(markerOf(p), { force: true });
}
