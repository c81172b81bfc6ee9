// The embedded DNS server containers on user-defined networks reach at 127.0.0.11, as in Docker. One UDP and one
// TCP socket per network, on the network's gateway address, port 53, in the engine itself (Podman's aardvark-dns
// serves the same way): nothing runs or listens per container. Each container's namespace gets a few NAT rules
// (host.ts installDnsRedirect) sending its 127.0.0.11:53 to its first user network's gateway; the asker is known by
// its source address there. Names this engine owns are answered from the view the store gives (dnsanswers.ts);
// everything else goes to the asker's upstream servers — the host's resolvers, or its --dns ones — from the
// host's namespace (so a host resolver on loopback, such as systemd-resolved's, serves too), but a --dns server on
// the container's loopback at the container's address, NATed there to it (its own namespace's, as in moby), as
// dockerd's resolver forwards: up to three servers, the next one on SERVFAIL, REFUSED or a non-authoritative
// NXDOMAIN.
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import * as dnsPacket from 'dns-packet';
import { log } from '../log';
import { answerLocally, type DnsView, isPlainQuery } from './dnsanswers';

export interface DnsAsker {
  view: DnsView;
  /**
   * Upstream servers to forward other names to (empty: answer SERVFAIL, as for internal-only containers); an IPv4
   * one may carry a port (ip:port; 53 otherwise).
   */
  upstreams: string[];
  /** The asker set ndots > 0 itself: a single-label name it cannot find here is not forwarded (dockerd's rule). */
  ndotsSet: boolean;
}

/** Who is asking: the network whose gateway got the query and the query's source address. */
export type DnsLookup = (networkId: string, source: string) => DnsAsker;

const MAX_UPSTREAMS = 3;
const UPSTREAM_TIMEOUT_MS = 4000;
const MAX_IN_FLIGHT = 1024;
const RCODE = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;

interface Listener {
  address: string;
  udp: dgram.Socket;
  tcp: net.Server;
  conns: Set<net.Socket>;
}

export class DnsServer {
  private readonly listeners = new Map<string, Listener>();
  private readonly turns = new Map<string, number>();
  private inFlight = 0;

  constructor(private readonly lookup: DnsLookup) {}

  /** Serves network `networkId` on `address`:53 (its gateway, which must exist on the host); idempotent. */
  async serve(networkId: string, address: string): Promise<void> {
    const cur = this.listeners.get(networkId);
    if (cur?.address === address) return;
    if (cur) await this.stop(networkId);
    const family = net.isIPv6(address) ? 'udp6' : 'udp4';
    const udp = dgram.createSocket({ type: family });
    const conns = new Set<net.Socket>();
    const tcp = net.createServer((c) => this.serveTcp(networkId, c, conns));
    const l: Listener = { address, udp, tcp, conns };
    udp.on('message', (msg, rinfo) => {
      void this.handle(networkId, msg, rinfo.address, 'udp').then((resp) => {
        if (resp) udp.send(resp, rinfo.port, rinfo.address);
      });
    });
    try {
      await new Promise<void>((resolve, reject) => {
        udp.once('error', reject);
        udp.bind({ address, port: 53, exclusive: true }, () => {
          udp.off('error', reject);
          resolve();
        });
      });
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen({ host: address, port: 53, exclusive: true }, () => {
          tcp.off('error', reject);
          resolve();
        });
      });
    } catch (err: any) {
      udp.close();
      tcp.close();
      log.warn('the embedded DNS server cannot listen; names on this network will not resolve', {
        address: `${address}:53`,
        error: err.message,
      });
      return;
    }
    udp.on('error', (err) => log.warn('embedded DNS socket error', { address, error: err.message }));
    tcp.on('error', (err) => log.warn('embedded DNS socket error', { address, error: err.message }));
    this.listeners.set(networkId, l);
  }

  async stop(networkId: string): Promise<void> {
    const l = this.listeners.get(networkId);
    if (!l) return;
    this.listeners.delete(networkId);
    for (const c of l.conns) c.destroy();
    await Promise.all([
      new Promise<void>((r) => l.udp.close(() => r())),
      new Promise<void>((r) => l.tcp.close(() => r())),
    ]);
  }

  async close(): Promise<void> {
    await Promise.all([...this.listeners.keys()].map((id) => this.stop(id)));
  }

  /** The networks being served, with their addresses (for tests and diagnostics). */
  serving(): Map<string, string> {
    return new Map([...this.listeners].map(([id, l]) => [id, l.address]));
  }

  private serveTcp(networkId: string, c: net.Socket, conns: Set<net.Socket>): void {
    conns.add(c);
    c.setTimeout(10_000, () => c.destroy());
    let buf = Buffer.alloc(0);
    c.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
        buf = buf.subarray(2 + msg.length);
        void this.handle(networkId, Buffer.from(msg), c.remoteAddress ?? '', 'tcp').then((resp) => {
          if (!resp || c.destroyed) return;
          const len = Buffer.alloc(2);
          len.writeUInt16BE(resp.length);
          c.write(Buffer.concat([len, resp]));
        });
      }
      if (buf.length > 70_000) c.destroy();
    });
    c.on('error', () => {});
    c.on('close', () => conns.delete(c));
  }

  /** One query in, its response out (undefined: not a query worth an answer). */
  async handle(networkId: string, msg: Buffer, source: string, proto: 'udp' | 'tcp'): Promise<Buffer | undefined> {
    let query: dnsPacket.DecodedPacket;
    try {
      query = dnsPacket.decode(msg);
    } catch {
      return undefined;
    }
    if (query.type !== 'query') return undefined;
    if (!isPlainQuery(query)) return reply(query, RCODE.NOTIMP, []);
    const q = query.questions![0];
    const asker = this.lookup(networkId, source.replace(/^::ffff:/, ''));
    const key = `${networkId} ${q.type} ${q.name.toLowerCase()}`;
    const turn = this.turns.get(key) ?? 0;
    const local = answerLocally(asker.view, q, turn);
    if (local.kind === 'answer') {
      if (local.answers.length > 1) this.turns.set(key, turn + 1);
      return fitToBuffer(reply(query, RCODE.NOERROR, local.answers), query, proto);
    }
    if ((q.type === 'A' || q.type === 'AAAA') && asker.ndotsSet && !q.name.replace(/\.$/, '').includes('.'))
      return reply(query, RCODE.NOERROR, []);
    if (!asker.upstreams.length) return reply(query, RCODE.SERVFAIL, []);
    return (await this.forward(msg, asker.upstreams, proto)) ?? reply(query, RCODE.SERVFAIL, []);
  }

  private async forward(msg: Buffer, upstreams: string[], proto: 'udp' | 'tcp'): Promise<Buffer | undefined> {
    if (this.inFlight >= MAX_IN_FLIGHT) return undefined;
    this.inFlight++;
    try {
      let last: Buffer | undefined;
      for (const server of upstreams.slice(0, MAX_UPSTREAMS)) {
        const resp = await (proto === 'udp' ? askUdp : askTcp)(server, msg).catch((err) => {
          log.debug('upstream DNS server did not answer', { server, error: err.message });
          return undefined;
        });
        if (!resp || resp.length < 4) continue;
        last = resp;
        const flags = resp.readUInt16BE(2);
        const rcode = flags & 0xf;
        const authoritative = (flags & dnsPacket.AUTHORITATIVE_ANSWER) !== 0;
        if (rcode === RCODE.SERVFAIL || rcode === RCODE.REFUSED) continue;
        if (rcode === RCODE.NXDOMAIN && !authoritative) continue;
        return resp;
      }
      return last;
    } finally {
      this.inFlight--;
    }
  }
}

function reply(query: dnsPacket.DecodedPacket, rcode: number, answers: dnsPacket.Answer[]): Buffer {
  const rd = (query.flags ?? 0) & dnsPacket.RECURSION_DESIRED;
  return dnsPacket.encode({
    type: 'response',
    id: query.id,
    flags: rd | dnsPacket.RECURSION_AVAILABLE | rcode,
    questions: query.questions,
    answers,
  });
}

/** Over UDP an answer fits the asker's buffer (EDNS size, at least 512), dropping records and setting TC. */
function fitToBuffer(resp: Buffer, query: dnsPacket.DecodedPacket, proto: 'udp' | 'tcp'): Buffer {
  if (proto === 'tcp') return resp;
  const opt = query.additionals?.find((a) => a.type === 'OPT') as dnsPacket.OptAnswer | undefined;
  const max = Math.max(512, opt?.udpPayloadSize ?? 0);
  if (resp.length <= max) return resp;
  const p = dnsPacket.decode(resp);
  const answers = [...(p.answers ?? [])];
  let out = resp;
  while (out.length > max && answers.length) {
    answers.pop();
    out = dnsPacket.encode({ ...p, flags: (p.flags ?? 0) | dnsPacket.TRUNCATED_RESPONSE, answers });
  }
  return out;
}

/** An upstream "ip" or "ipv4:port" as host and port. */
function hostPort(server: string): { host: string; port: number } {
  const m = /^(\d+\.\d+\.\d+\.\d+):(\d+)$/.exec(server);
  return m ? { host: m[1], port: Number(m[2]) } : { host: server, port: 53 };
}

function askUdp(server: string, msg: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    // Connected, so that a server with nothing listening is an error at once (ICMP), not a timeout.
    const s = dgram.createSocket(net.isIPv6(hostPort(server).host) ? 'udp6' : 'udp4');
    const id = msg.readUInt16BE(0);
    const timer = setTimeout(() => done(new Error('timeout')), UPSTREAM_TIMEOUT_MS);
    const done = (err?: Error, resp?: Buffer) => {
      clearTimeout(timer);
      s.close();
      if (err) reject(err);
      else resolve(resp!);
    };
    s.on('error', (err) => done(err));
    s.on('message', (resp) => {
      if (resp.length >= 2 && resp.readUInt16BE(0) === id) done(undefined, resp);
    });
    const to = hostPort(server);
    // A connect that fails (no route to the server, EACCES for a broadcast address) goes to 'error' this way; its
    // callback form would be called with the error and send on an unconnected socket, which throws (berthd died).
    s.once('connect', () => s.send(msg));
    s.connect(to.port, to.host);
  });
}

function askTcp(server: string, msg: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const c = net.connect(hostPort(server));
    let buf = Buffer.alloc(0);
    c.setTimeout(UPSTREAM_TIMEOUT_MS, () => c.destroy(new Error('timeout')));
    c.on('connect', () => {
      const len = Buffer.alloc(2);
      len.writeUInt16BE(msg.length);
      c.write(Buffer.concat([len, msg]));
    });
    c.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        resolve(buf.subarray(2, 2 + buf.readUInt16BE(0)));
        c.destroy();
      }
    });
    c.on('error', reject);
    c.on('close', () => reject(new Error('closed without an answer')));
  });
}
