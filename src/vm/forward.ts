// A published port relayed by the supervisor itself, where the hypervisor has no forwarding of its own (vfkit on
// Apple's NAT, without gvproxy): the host's 127.0.0.1:PORT relays to the guest's address on the VM's network. TCP
// connection by connection (half-closes kept), UDP datagram by datagram with one socket per client.
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import type { PortForward } from './driver';

/** Listens on f.hostIp:f.hostPort and relays to guest:f.guestPort; rejects as listen does (EADDRINUSE…). Resolves
 * with what ends the relay and every connection through it. */
export function relayPort(f: PortForward, guest: string): Promise<() => Promise<void>> {
  return f.protocol === 'udp' ? relayUdp(f, guest) : relayTcp(f, guest);
}

function relayTcp(f: PortForward, guest: string): Promise<() => Promise<void>> {
  const open = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    const upstream = net.connect({ host: guest, port: f.guestPort, allowHalfOpen: true });
    for (const s of [client, upstream]) {
      open.add(s);
      s.on('close', () => open.delete(s));
    }
    // A side that fails takes the other with it (the container's end reset, or the client gone).
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(f.hostPort, f.hostIp, () => {
      server.off('error', reject);
      resolve(
        () =>
          new Promise<void>((done) => {
            server.close(() => done());
            for (const s of open) s.destroy();
          }),
      );
    });
  });
}

function relayUdp(f: PortForward, guest: string): Promise<() => Promise<void>> {
  const IDLE_MS = 60_000;
  const front = dgram.createSocket('udp4');
  const peers = new Map<string, { socket: dgram.Socket; timer: NodeJS.Timeout; connected: Promise<void> }>();
  const drop = (key: string) => {
    const p = peers.get(key);
    if (!p) return;
    clearTimeout(p.timer);
    p.socket.close();
    peers.delete(key);
  };
  front.on('message', (msg, from) => {
    const key = `${from.address}:${from.port}`;
    let p = peers.get(key);
    if (!p) {
      const socket = dgram.createSocket('udp4');
      socket.on('message', (reply) => front.send(reply, from.port, from.address));
      socket.on('error', () => drop(key));
      const connected = new Promise<void>((r) => socket.connect(f.guestPort, guest, r));
      p = { socket, timer: setTimeout(() => drop(key), IDLE_MS), connected };
      peers.set(key, p);
    }
    p.timer.refresh();
    const { socket } = p;
    // In order: a client's first datagrams wait for its socket to connect.
    void p.connected.then(() => socket.send(msg, () => undefined));
  });
  return new Promise((resolve, reject) => {
    front.once('error', reject);
    front.bind(f.hostPort, f.hostIp, () => {
      front.off('error', reject);
      front.on('error', () => undefined);
      resolve(async () => {
        for (const key of [...peers.keys()]) drop(key);
        await new Promise<void>((done) => front.close(() => done()));
      });
    });
  });
}
