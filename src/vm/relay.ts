// The host end of the engine API: a unix socket (0600, in the VM's 0700 directory) whose connections are carried
// to the guest's berthd over mutual TLS. Clients (docker, berth, the extension) speak plain HTTP to the socket, as
// to a local engine; nobody without the VM's client key gets through the TCP port the hypervisor opens.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as tls from 'node:tls';
import type { VmTls } from './certs';

export interface RelayTarget {
  host: string;
  port: number;
}

export interface Relay {
  close(): Promise<void>;
  /** Connections carried so far (for tests and status). */
  readonly connections: number;
}

/**
 * `onCut` hears of connections that ended abnormally: reset or failed on either side, or closed by the guest while
 * the client's last bytes had no answer yet. The client itself sees only "EOF" (docker: `Post …: EOF`); the VM's
 * console log then says which side it was.
 */
export async function startRelay(
  listenPath: string,
  target: RelayTarget,
  material: VmTls,
  onCut: (line: string) => void = () => undefined,
): Promise<Relay> {
  if (process.platform !== 'win32') fs.rmSync(listenPath, { force: true });
  // TLS 1.3 session tickets: a reconnect skips the certificate checks (cheap on a guest without acceleration).
  let session: Buffer | undefined;
  const open = new Set<net.Socket>();
  let count = 0;
  // Half-open both ways: docker closes its writing side after an attach's stdin and still reads the output.
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    const id = ++count;
    // allowHalfOpen is passed on to the TLSSocket by node (missing from its typings).
    const upstream = tls.connect({
      host: target.host,
      port: target.port,
      ca: material.ca,
      cert: material.clientCert,
      key: material.clientKey,
      servername: 'localhost',
      session,
      allowHalfOpen: true,
    } as tls.ConnectionOptions);
    upstream.on('session', (s) => (session = s));
    open.add(client);
    open.add(upstream);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    // Half-closes pass through (an attach's stdin end); an error on either side ends both.
    client.pipe(upstream);
    upstream.pipe(client);
    // Bytes the client sent since the guest last sent any: a request the guest has not answered (yet). Not after the
    // client ended its side (an attach's stdin, which needs no answer).
    let unanswered = 0;
    client.on('data', (d: Buffer) => (unanswered += d.length));
    client.on('end', () => (unanswered = 0));
    upstream.on('data', () => (unanswered = 0));
    let cut = false;
    const report = (why: string) => {
      if (cut) return;
      cut = true;
      onCut(`berth: relay: connection ${id} ${why}`);
    };
    // An error on either side ends both at once.
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', (err) => {
      report(`failed on the client's side: ${err.message}`);
      end();
    });
    upstream.on('error', (err) => {
      report(
        `failed on the guest's side: ${err.message}${unanswered ? ` (${unanswered} bytes of the client unanswered)` : ''}`,
      );
      end();
    });
    upstream.on('end', () => {
      if (unanswered) report(`closed by the guest with ${unanswered} bytes of the client unanswered`);
    });
    // Otherwise each socket closes by itself once both its directions are done (pipe() passes each end on, and a
    // socket ends its writing side only after what is queued was written): the guest's side closing first must not
    // cut the client's, which may still hold answer bytes the client has not read. The client gone, nothing the
    // guest sends has anywhere to go.
    client.on('close', () => {
      upstream.destroy();
      open.delete(client);
    });
    upstream.on('close', () => open.delete(upstream));
  });
  const oldMask = process.platform !== 'win32' ? process.umask(0o177) : 0;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(listenPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } finally {
    if (process.platform !== 'win32') process.umask(oldMask);
  }
  if (process.platform !== 'win32') fs.chmodSync(listenPath, 0o600);
  return {
    get connections() {
      return count;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of open) s.destroy();
        server.close(() => resolve());
        if (process.platform !== 'win32') fs.rmSync(listenPath, { force: true });
      }),
  };
}
