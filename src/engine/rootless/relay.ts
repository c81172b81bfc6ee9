// Published ports with a network link that has no port API (pasta), as rootlesskit's "builtin" port driver: the
// parent outside — the user's own process on the real host — binds each host address and port itself, so a port
// another process holds fails at once with the bind's own error; each connection it accepts goes through a unix
// socket to the engine inside, which dials the namespace's own address there, where the DNAT rules of the published
// port take it to the container. UDP the same way, per sender: the parent binds the host port, each sender's
// datagrams go in (length-prefixed) on a unix connection of its own, to a socket inside connected to the namespace's
// address, and the answers come back to that sender from the host port — as rootlesskit's builtin UDP proxy.
import * as dgram from 'node:dgram';
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

/** A sender's UDP flow is ended after this long without a datagram either way (docker-proxy's UDP timeout). */
const UDP_IDLE_MS = 90_000;
/** Datagrams waiting on a unix connection beyond this are dropped, as a full socket buffer drops them. */
const UDP_QUEUE_LIMIT = 1 << 20;

/** Writes a datagram on a stream: a 16-bit big-endian length, then the bytes (dropped when the stream is behind). */
function writeFrame(c: net.Socket, data: Buffer): void {
  if (c.writableLength > UDP_QUEUE_LIMIT || data.length > 0xffff) return;
  const head = Buffer.alloc(2);
  head.writeUInt16BE(data.length);
  c.write(Buffer.concat([head, data]));
}

/** Calls onFrame for each datagram read from a stream of writeFrame's frames. */
function readFrames(c: net.Socket, first: Buffer, onFrame: (data: Buffer) => void): void {
  let buf = first;
  const take = () => {
    while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
      const n = buf.readUInt16BE(0);
      onFrame(buf.subarray(2, 2 + n));
      buf = buf.subarray(2 + n);
    }
  };
  c.on('data', (d: Buffer) => {
    buf = buf.length ? Buffer.concat([buf, d]) : d;
    take();
  });
  take();
}

/**
 * The parent's UDP listener on the host port: per sender a unix connection to the engine's dial socket, ended
 * after UDP_IDLE_MS of silence; what comes back goes to that sender from the host port.
 */
function udpListener(
  dial: string,
  hostIp: string,
  port: number,
  ready: (err?: NodeJS.ErrnoException) => void,
): { close(): void } {
  const socket = dgram.createSocket({ type: 'udp4', reuseAddr: false });
  const flows = new Map<string, { conn: net.Socket; timer?: NodeJS.Timeout }>();
  const idle = (key: string) => {
    const flow = flows.get(key);
    if (!flow) return;
    clearTimeout(flow.timer);
    flow.timer = setTimeout(() => flow.conn.destroy(), UDP_IDLE_MS);
    flow.timer.unref();
  };
  socket.on('message', (msg, from) => {
    const key = `${from.address}:${from.port}`;
    let flow = flows.get(key);
    if (!flow) {
      const conn = net.connect({ path: dial });
      conn.write(`udp ${port}\n`);
      readFrames(conn, Buffer.alloc(0), (data) => {
        socket.send(data, from.port, from.address);
        idle(key);
      });
      conn.on('error', () => conn.destroy());
      conn.on('close', () => {
        clearTimeout(flows.get(key)?.timer);
        flows.delete(key);
      });
      flow = { conn };
      flows.set(key, flow);
    }
    writeFrame(flow.conn, msg);
    idle(key);
  });
  socket.once('error', (err: NodeJS.ErrnoException) => {
    socket.close();
    ready(err);
  });
  socket.bind({ address: hostIp, port, exclusive: true }, () => {
    socket.removeAllListeners('error');
    socket.on('error', (err) => log.warn('udp port relay', { port: `${hostIp}:${port}`, error: err.message }));
    ready();
  });
  return {
    close() {
      for (const flow of flows.values()) {
        clearTimeout(flow.timer);
        flow.conn.destroy();
      }
      socket.close();
    },
  };
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
  const listeners = new Map<number, { close(): void }>();
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
      const port = hostPort;
      if (protocol === 'udp') {
        const listener = udpListener(dial, hostIp, port, (err) => {
          if (err) return reply({ error: err.message, code: err.code });
          const id = next++;
          listeners.set(id, listener);
          reply({ id });
        });
        return;
      }
      if (protocol !== 'tcp') return reply({ error: `${protocol} ports are not forwarded by the port relay` });
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

/** One sender's UDP flow inside: its datagrams to the namespace's address and port, the answers back framed. */
function udpInside(c: net.Socket, port: number, rest: Buffer): void {
  const socket = dgram.createSocket('udp4');
  const end = () => {
    c.destroy();
    try {
      socket.close();
    } catch {
      /* closed */
    }
  };
  socket.on('error', end);
  c.on('error', end);
  c.on('close', end);
  socket.on('message', (msg) => writeFrame(c, msg));
  socket.connect(port, SLIRP_NAMESPACE_ADDRESS, () => {
    readFrames(c, rest, (data) => socket.send(data));
    c.resume();
  });
}

/** The engine's half: its outside-ports hook, and the dial socket the parent's connections come in on. */
export function relayPorts(stateDir: string) {
  const { control, dial } = relaySockets(stateDir);
  fs.rmSync(dial, { force: true });
  net
    .createServer({ allowHalfOpen: true }, (c) =>
      readLine(c, (line, rest) => {
        const udp = line.startsWith('udp ');
        const port = Number(udp ? line.slice(4) : line);
        if (!Number.isInteger(port) || port < 1 || port > 65535) return c.destroy();
        if (udp) return udpInside(c, port, rest);
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
