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

export async function startRelay(listenPath: string, target: RelayTarget, material: VmTls): Promise<Relay> {
  if (process.platform !== 'win32') fs.rmSync(listenPath, { force: true });
  // TLS 1.3 session tickets: a reconnect skips the certificate checks (cheap on a guest without acceleration).
  let session: Buffer | undefined;
  const open = new Set<net.Socket>();
  let count = 0;
  // Half-open both ways: docker closes its writing side after an attach's stdin and still reads the output.
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    count++;
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
    const end = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on('error', end);
    upstream.on('error', end);
    // Done when both directions are: each side's end was passed on by pipe().
    let ended = 0;
    const oneEnded = () => ++ended === 2 && end();
    client.on('end', oneEnded);
    upstream.on('end', oneEnded);
    client.on('close', end);
    upstream.on('close', end);
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
