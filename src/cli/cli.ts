// What every command shares: the engine client (API version negotiated once), docker's error reporting and
// exit codes, stdout/stderr.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Command } from 'commander';
import { EngineApiError, EngineClient, type Endpoint, resolveHost } from '../client';

/** Ends the CLI with an exit status (and, when given, a message on stderr), like docker's StatusError. */
export class StatusError extends Error {
  constructor(
    readonly status: number,
    message = '',
  ) {
    super(message);
  }
}

export interface Cli {
  client(): Promise<EngineClient>;
  host(): string;
  out: NodeJS.WriteStream;
  err: NodeJS.WriteStream;
  /** Deferred work that must finish before exit (closing the client). */
  close(): Promise<void>;
}

/**
 * docker's TLS flags: --tls (encrypt, no verification), --tlsverify (verify the engine against --tlscacert),
 * client certificate from --tlscert/--tlskey; defaults from DOCKER_TLS_VERIFY and DOCKER_CERT_PATH (~/.docker).
 */
function tlsOptions(o: {
  tls?: boolean;
  tlsverify?: boolean;
  tlscacert?: string;
  tlscert?: string;
  tlskey?: string;
}): Endpoint['tls'] {
  const verify = !!o.tlsverify || (!!process.env.DOCKER_TLS_VERIFY && process.env.DOCKER_TLS_VERIFY !== '0');
  if (!o.tls && !verify) return undefined;
  const dir = process.env.DOCKER_CERT_PATH || path.join(os.homedir(), '.docker');
  const read = (flag: string | undefined, file: string): Buffer | undefined => {
    const p = flag ?? path.join(dir, file);
    try {
      return fs.readFileSync(p);
    } catch (err) {
      if (flag || (file === 'ca.pem' && verify))
        throw new StatusError(1, `could not read ${p}: ${(err as Error).message}`);
      return undefined;
    }
  };
  return {
    ca: verify ? read(o.tlscacert, 'ca.pem') : undefined,
    cert: read(o.tlscert, 'cert.pem'),
    key: read(o.tlskey, 'key.pem'),
    verify,
  };
}

export function createCli(program: Command): Cli {
  let client: EngineClient | undefined;
  let ready: Promise<EngineClient> | undefined;
  const host = () => resolveHost(program.opts().host);
  return {
    host,
    out: process.stdout,
    err: process.stderr,
    client() {
      ready ??= (async () => {
        client = new EngineClient({ host: host(), tls: tlsOptions(program.opts()) });
        await client.negotiateApiVersion();
        return client;
      })();
      return ready;
    },
    async close() {
      await client?.close().catch(() => {});
    },
  };
}

/** docker's wording for errors: the engine's own message, or why the engine could not be reached. */
export function describeError(err: unknown, host: string): string {
  if (err instanceof EngineApiError) return `Error response from daemon: ${err.message}`;
  const e = err as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
  const code = e?.code ?? e?.cause?.code;
  if (code === 'ECONNREFUSED' || code === 'ENOENT' || code === 'EACCES' || code === 'UND_ERR_SOCKET') {
    return `Cannot connect to the Berth engine at ${host}. Is the engine running?`;
  }
  return e?.message ?? String(err);
}

export function isNotFound(err: unknown): boolean {
  return err instanceof EngineApiError && err.status === 404;
}

/** Collects a repeatable option (-e A -e B). */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Parses repeated --filter key=value into the API's filters map. */
export function parseFilters(values: string[] = []): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const f of values) {
    const i = f.indexOf('=');
    if (i <= 0)
      throw new StatusError(
        1,
        `invalid argument "${f}" for "-f, --filter" flag: bad format of filter (expected name=value)`,
      );
    const k = f.slice(0, i).trim().toLowerCase();
    (out[k] ??= []).push(f.slice(i + 1));
  }
  return out;
}

/** Repeated KEY=VALUE flags (--label, --opt) as a map; a bare KEY maps to "". */
export function parseKeyValues(values: string[] = []): Record<string, string> {
  return Object.fromEntries(
    values.map((kv) => {
      const i = kv.indexOf('=');
      return i < 0 ? [kv, ''] : [kv.slice(0, i), kv.slice(i + 1)];
    }),
  );
}

/**
 * Runs `fn` for every name and prints each success; the failures are printed after and make the exit status 1,
 * as docker's rm/stop/kill do.
 */
export async function forEachName(
  cli: Cli,
  names: string[],
  fn: (name: string) => Promise<string | void>,
): Promise<void> {
  const errors: string[] = [];
  for (const n of names) {
    try {
      const line = await fn(n);
      if (line !== undefined) cli.out.write(`${line}\n`);
    } catch (err) {
      errors.push(describeError(err, cli.host()));
    }
  }
  if (errors.length) throw new StatusError(1, errors.join('\n'));
}

/** Asks a yes/no question on the terminal (prune's confirmation); no on anything but y/yes. */
export async function confirm(cli: Cli, message: string): Promise<boolean> {
  cli.out.write(`${message}\nAre you sure you want to continue? [y/N] `);
  const answer: string = await new Promise((resolve) => {
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d.toString();
      if (buf.includes('\n')) done();
    };
    const done = () => {
      process.stdin.off('data', onData);
      process.stdin.off('end', done);
      process.stdin.pause();
      resolve(buf.split('\n')[0].trim());
    };
    process.stdin.on('data', onData);
    process.stdin.once('end', done);
    process.stdin.resume();
  });
  return /^y(es)?$/i.test(answer);
}
