// Published ports with a network link that has no port API (pasta), as rootlesskit's "builtin" port driver: the
// parent outside — the user's own process on the real host — binds each host address and port itself, so a port
// another process holds fails at once with the bind's own error; each connection it accepts goes through a unix
// socket to the engine inside, which dials the namespace's own address there, where the DNAT rules of the published
// port take it to the container. TCP only: a UDP port is refused with the reason.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { log } from '../log';
import { SLIRP_NAMESPACE_ADDRESS } from './info';

interface HostForward {
  hostIp: string;
  hostPort: number;
  protocol: 'tcp' | 'udp' | 'sctp';
}

type Request = { add: HostForward } | { remove: number };
type Reply = { id: number } | { error: string; code?: string };

/** Where the two halves meet: the parent's control socket and the child's dial socket, in the run's state dir. */
export const relaySockets = (stateDir: string) => ({
  control: path.join(stateDir, 'ports.sock'),
  dial: path.join(stateDir, 'dial.sock'),
});

/** One JSON line each way on a fresh connection. */
function call(socket: string, req: Request): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const c = net.connect(socket);
    let text = '';
    c.setEncoding('utf8');
    c.on('data', (d) => (text += d));
    c.on('error', reject);
    c.on('end', () => {
      try {
        resolve(JSON.parse(text));
      } catch {
        reject(new Error(`port relay: unexpected answer ${JSON.stringify(text)}`));
      }
    });
    c.end(`${JSON.stringify(req)}\n`);
  });
}

function readLine(c: net.Socket, onLine: (line: string, rest: Buffer) => void): void {
  let buf = Buffer.alloc(0);
  const onData = (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    const nl = buf.indexOf(10);
    if (nl < 0) {
      if (buf.length > 4096) c.destroy();
      return;
    }
    c.off('data', onData);
    c.pause();
    onLine(buf.subarray(0, nl).toString('utf8'), buf.subarray(nl + 1));
  };
  c.on('data', onData);
}

/** Both ways, each side's end passed on (half-close), either side's error ends both. */
function splice(a: net.Socket, b: net.Socket): void {
  a.pipe(b);
  b.pipe(a);
  a.on('error', () => b.destroy());
  b.on('error', () => a.destroy());
}

/** The parent's half: listens for the engine's requests; binds host ports and passes their connections in. */
export function startPortRelay(stateDir: string): { close(): void } {
  const { control, dial } = relaySockets(stateDir);
  const listeners = new Map<number, net.Server>();
  let next = 1;
  const server = net.createServer((c) =>
    readLine(c, (line) => {
      const reply = (r: Reply) => c.end(`${JSON.stringify(r)}\n`);
      let req: Request;
      try {
        req = JSON.parse(line);
      } catch {
        return reply({ error: 'bad request' });
      }
      if ('remove' in req) {
        listeners.get(req.remove)?.close();
        listeners.delete(req.remove);
        return reply({ id: req.remove });
      }
      const { protocol, hostIp, hostPort } = req.add;
      if (protocol !== 'tcp')
        return reply({
          error: `${protocol} ports need BERTH_ROOTLESS_NET=slirp4netns (the pasta link forwards TCP ports only)`,
        });
      const port = hostPort;
      const listener = net.createServer({ allowHalfOpen: true }, (outside) => {
        const inside = net.connect({ path: dial, allowHalfOpen: true });
        inside.write(`${port}\n`);
        splice(outside, inside);
      });
      listener.once('error', (err: NodeJS.ErrnoException) => reply({ error: err.message, code: err.code }));
      listener.listen({ host: hostIp, port, exclusive: true }, () => {
        const id = next++;
        listeners.set(id, listener);
        reply({ id });
      });
    }),
  );
  fs.rmSync(control, { force: true });
  server.listen(control);
  return {
    close() {
      for (const l of listeners.values()) l.close();
      server.close();
    },
  };
}

/** The engine's half: its outside-ports hook, and the dial socket the parent's connections come in on. */
export function relayPorts(stateDir: string) {
  const { control, dial } = relaySockets(stateDir);
  fs.rmSync(dial, { force: true });
  net
    .createServer({ allowHalfOpen: true }, (c) =>
      readLine(c, (line, rest) => {
        const port = Number(line);
        if (!Number.isInteger(port) || port < 1 || port > 65535) return c.destroy();
        const target = net.connect({ host: SLIRP_NAMESPACE_ADDRESS, port, allowHalfOpen: true });
        if (rest.length) target.write(rest);
        splice(c, target);
        c.resume();
      }),
    )
    .listen(dial)
    .unref();
  return {
    async add(m: HostForward): Promise<() => void> {
      const r = await call(control, { add: m });
      if ('error' in r) {
        const e: NodeJS.ErrnoException = new Error(
          r.code === 'EADDRINUSE'
            ? `listen ${m.protocol}4 ${m.hostIp}:${m.hostPort}: bind: address already in use`
            : r.error,
        );
        e.code = r.code;
        throw e;
      }
      return () => {
        call(control, { remove: r.id }).catch((err) =>
          log.warn('cannot remove a port forward', { port: `${m.hostIp}:${m.hostPort}`, error: err.message }),
        );
      };
    },
  };
}
