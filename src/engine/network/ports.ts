// Published ports: from Docker's PortBindings/ExposedPorts/PublishAllPorts to concrete host bindings, and the
// host-side reservation of each bound port.
//
// The forwarding itself is CNI portmap's DNAT, which does not bind anything, so nothing would stop two
// containers (or a container and a host service) from claiming the same port. Like Kubernetes' hostport
// "port opener" (and what docker-proxy achieves for dockerd), berthd holds a listening socket on every
// published host port for as long as it is published: a port another process holds fails to bind, and the
// kernel picks free ports for `-p 80`. The sockets never see traffic: the DNAT rules rewrite it first.
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { invalidParameter } from '../errdefs';

export interface PortBindingSpec {
  hostIp?: string;
  hostPort?: string;
}
/** Docker's NetworkSettings.Ports in engine case: "80/tcp" → bindings, or null when exposed but unpublished. */
export type PortMap = Record<string, { hostIp: string; hostPort: string }[] | null>;

export interface PortMapping {
  hostIp: string;
  hostPort: number;
  containerPort: number;
  protocol: 'tcp' | 'udp' | 'sctp';
}

export interface PortRequest {
  portBindings?: Record<string, PortBindingSpec[] | null>;
  exposedPorts?: string[];
  publishAll?: boolean;
}

export function parsePortKey(key: string): { port: number; protocol: 'tcp' | 'udp' | 'sctp' } {
  const m = /^(\d{1,5})(?:\/(tcp|udp|sctp))?$/i.exec(key);
  const port = m ? Number(m[1]) : NaN;
  if (!m || port < 1 || port > 65535) throw invalidParameter(`invalid port specification: "${key}"`);
  return { port, protocol: (m[2]?.toLowerCase() ?? 'tcp') as 'tcp' | 'udp' | 'sctp' };
}

/** A host port "", "8080" or "8000-8010" as the candidates to try; [0] means "any free port". */
export function hostPortCandidates(hostPort: string | undefined): number[] {
  const text = (hostPort ?? '').trim();
  if (text === '' || text === '0') return [0];
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(text);
  const lo = m ? Number(m[1]) : NaN;
  const hi = m?.[2] ? Number(m[2]) : lo;
  if (!m || lo < 1 || hi > 65535 || hi < lo) throw invalidParameter(`invalid hostPort: ${text}`);
  return Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);
}

export interface WantedBinding {
  hostIp: string;
  candidates: number[];
  containerPort: number;
  protocol: 'tcp' | 'udp' | 'sctp';
  key: string;
}

/**
 * What should be published: explicit bindings, plus every exposed port on a random port with -P. A binding
 * without a host IP gets the network's (host_binding_ipv4), else 0.0.0.0.
 */
export function wantedBindings(
  req: PortRequest,
  defaultHostIp = '0.0.0.0',
): { wanted: WantedBinding[]; exposed: string[] } {
  const exposed = new Set<string>();
  const wanted: WantedBinding[] = [];
  const norm = (k: string) => {
    const p = parsePortKey(k);
    return { ...p, key: `${p.port}/${p.protocol}` };
  };
  for (const k of req.exposedPorts ?? []) exposed.add(norm(k).key);
  for (const [k, list] of Object.entries(req.portBindings ?? {})) {
    const p = norm(k);
    exposed.add(p.key);
    for (const b of list ?? []) {
      const hostIp = b.hostIp?.trim() || defaultHostIp;
      if (!net.isIPv4(hostIp))
        throw invalidParameter(`invalid host IP for port ${p.key}: ${hostIp} (only IPv4 is supported)`);
      wanted.push({
        hostIp,
        candidates: hostPortCandidates(b.hostPort),
        containerPort: p.port,
        protocol: p.protocol,
        key: p.key,
      });
    }
  }
  if (req.publishAll) {
    for (const key of exposed) {
      if (wanted.some((w) => w.key === key)) continue;
      const p = norm(key);
      wanted.push({ hostIp: defaultHostIp, candidates: [0], containerPort: p.port, protocol: p.protocol, key });
    }
  }
  return { wanted, exposed: [...exposed] };
}

export function portMap(exposed: string[], bound: PortMapping[]): PortMap {
  const out: PortMap = {};
  for (const key of exposed) out[key] = null;
  for (const b of bound) {
    const key = `${b.containerPort}/${b.protocol}`;
    (out[key] ??= []).push({ hostIp: b.hostIp, hostPort: String(b.hostPort) });
  }
  return out;
}

interface Held {
  mapping: PortMapping;
  close(): void;
}

export class PortConflictError extends Error {}

/**
 * Publishing on a host the engine's network namespace is not (rootless: the user's real host is outside, reached
 * through slirp4netns). The port held inside is forwarded from the same port on `hostIp` outside; the DNAT rules
 * inside then match the port on every address, since forwarded traffic arrives on the namespace's own.
 */
export interface OutsidePorts {
  /** Forwards `m.hostIp:m.hostPort` outside to the same port inside; EADDRINUSE when taken there. */
  add(m: PortMapping, owner?: string): Promise<() => void>;
}

/** The host ports this engine holds, each with its socket. */
export class PortReservations {
  private held = new Map<string, Held[]>(); // owner → its ports

  constructor(private readonly outside?: OutsidePorts) {}

  /** The address the DNAT rule of a mapping matches ('' = every address). */
  dnatAddress(m: PortMapping): string {
    return this.outside || m.hostIp === '0.0.0.0' ? '' : m.hostIp;
  }

  /** Holds the port inside (and, with an outside, forwards it from there): one published port. */
  private async hold(
    owner: string,
    protocol: PortMapping['protocol'],
    hostIp: string,
    port: number,
    containerPort: number,
  ) {
    if (!this.outside) return bindPort(protocol, hostIp, port, containerPort);
    if (protocol === 'sctp')
      throw invalidParameter(
        'sctp ports cannot be published by this engine: it runs rootless or in a VM, and what forwards its ports ' +
          'from the host (slirp4netns, the pasta relay, the VM’s port forwarding) carries tcp and udp only',
      );
    // A random port free inside may be taken outside: another one, a few times.
    for (let attempt = 0; ; attempt++) {
      const inside = await bindPort(protocol, '0.0.0.0', port, containerPort);
      const mapping = { ...inside.mapping, hostIp };
      try {
        const remove = await this.outside.add(mapping, owner);
        return {
          mapping,
          close: () => {
            inside.close();
            remove();
          },
        };
      } catch (err: any) {
        inside.close();
        if (port !== 0 || err.code !== 'EADDRINUSE' || attempt >= 8) throw err;
      }
    }
  }

  private ours(protocol: string, hostIp: string, port: number): boolean {
    for (const list of this.held.values()) {
      for (const h of list) {
        const m = h.mapping;
        if (
          m.protocol === protocol &&
          m.hostPort === port &&
          (m.hostIp === hostIp || m.hostIp === '0.0.0.0' || hostIp === '0.0.0.0')
        )
          return true;
      }
    }
    return false;
  }

  /**
   * Binds every wanted port for `owner`, all or nothing. Throws PortConflictError with Docker's wording
   * ("Bind for 0.0.0.0:80 failed: port is already allocated") when a port is taken.
   */
  async reserve(owner: string, wanted: WantedBinding[]): Promise<PortMapping[]> {
    const got: Held[] = [];
    try {
      for (const w of wanted) {
        let lastErr: Error | undefined;
        let done = false;
        for (const candidate of w.candidates) {
          if (candidate !== 0 && this.ours(w.protocol, w.hostIp, candidate)) {
            lastErr = new PortConflictError(`Bind for ${w.hostIp}:${candidate} failed: port is already allocated`);
            continue;
          }
          try {
            const h = await this.hold(owner, w.protocol, w.hostIp, candidate, w.containerPort);
            // Another owner in this engine may hold the same port on another address (0.0.0.0 vs 127.0.0.1).
            if (candidate === 0 && this.ours(w.protocol, w.hostIp, h.mapping.hostPort)) {
              h.close();
              continue;
            }
            got.push(h);
            this.held.set(owner, [...(this.held.get(owner) ?? []), h]);
            done = true;
            break;
          } catch (err: any) {
            lastErr =
              err.code === 'EADDRINUSE'
                ? w.candidates.length > 1 || candidate === 0
                  ? new PortConflictError(`Bind for ${w.hostIp}:${candidate} failed: port is already allocated`)
                  : new PortConflictError(
                      `Error starting userland proxy: listen ${w.protocol}4 ${w.hostIp}:${candidate}: bind: address already in use`,
                    )
                : err;
          }
        }
        if (!done) throw lastErr ?? new PortConflictError(`no free host port for ${w.key}`);
      }
      return got.map((h) => h.mapping);
    } catch (err) {
      for (const h of got) h.close();
      const left = (this.held.get(owner) ?? []).filter((h) => !got.includes(h));
      if (left.length) this.held.set(owner, left);
      else this.held.delete(owner);
      throw err;
    }
  }

  /** Re-holds ports already published (after an engine restart); ports someone else took meanwhile are skipped. */
  async readopt(owner: string, mappings: PortMapping[]): Promise<PortMapping[]> {
    const lost: PortMapping[] = [];
    for (const m of mappings) {
      try {
        const h = await this.hold(owner, m.protocol, m.hostIp, m.hostPort, m.containerPort);
        this.held.set(owner, [...(this.held.get(owner) ?? []), h]);
      } catch {
        lost.push(m);
      }
    }
    return lost;
  }

  release(owner: string): void {
    for (const h of this.held.get(owner) ?? []) h.close();
    this.held.delete(owner);
  }

  releaseAll(): void {
    for (const owner of [...this.held.keys()]) this.release(owner);
  }
}

function bindPort(
  protocol: 'tcp' | 'udp' | 'sctp',
  hostIp: string,
  port: number,
  containerPort: number,
): Promise<Held> {
  if (protocol === 'udp') {
    return new Promise((resolve, reject) => {
      const s = dgram.createSocket({ type: 'udp4' });
      s.once('error', reject);
      s.bind({ address: hostIp, port, exclusive: true }, () => {
        s.off('error', reject);
        s.on('error', () => {});
        s.unref();
        resolve({
          mapping: { hostIp, hostPort: s.address().port, containerPort, protocol },
          close: () => {
            try {
              s.close();
            } catch {
              /* closed */
            }
          },
        });
      });
    });
  }
  // sctp cannot be held from node; it is published without a reservation.
  if (protocol === 'sctp') {
    if (port === 0) return Promise.reject(invalidParameter('a random host port is not supported for sctp'));
    return Promise.resolve({ mapping: { hostIp, hostPort: port, containerPort, protocol }, close: () => {} });
  }
  return new Promise((resolve, reject) => {
    const server = net.createServer((c) => c.destroy());
    server.once('error', reject);
    server.listen({ host: hostIp, port, exclusive: true, backlog: 1 }, () => {
      server.off('error', reject);
      server.unref();
      const bound = (server.address() as net.AddressInfo).port;
      resolve({ mapping: { hostIp, hostPort: bound, containerPort, protocol }, close: () => server.close() });
    });
  });
}
