// What the embedded DNS server answers by itself, as dockerd's resolver does (a pure function of the query and
// of what the asking container can see): A/AAAA for container names, network aliases, short IDs and hostnames on
// the user-defined networks the asker is on ("name" or "name.network"), PTR for their addresses, an empty NOERROR
// for a known name without an address of the asked family (and for MX), and nothing — forward it — for the rest.
import type { Packet, Answer, Question } from 'dns-packet';

/** One container endpoint on one network, as DNS sees it. */
export interface DnsEndpoint {
  /** Docker's DNSNames: container name, aliases, short ID, hostname; the first one answers PTR queries. */
  names: string[];
  ipv4?: string;
  ipv6?: string;
}

/** A network the asker is on, with every endpoint on it (the asker's own included). */
export interface DnsNetwork {
  name: string;
  endpoints: DnsEndpoint[];
}

export interface DnsView {
  /** In the asker's order: a name on several of them resolves on the first that has it. */
  networks: DnsNetwork[];
}

/** Docker's TTL for the names it owns. */
export const RESPONSE_TTL = 600;

export type LocalAnswer = { kind: 'answer'; answers: Answer[]; rcode?: 'NOERROR' } | { kind: 'forward' };

const norm = (name: string) => name.replace(/\.$/, '').toLowerCase();

/** The endpoints named `name` on the first network that has any, trying "name.network" forms too. */
export function lookupName(view: DnsView, name: string): DnsEndpoint[] {
  const q = norm(name);
  if (!q) return [];
  for (const n of view.networks) {
    const hits = n.endpoints.filter((e) => e.names.some((x) => x.toLowerCase() === q));
    if (hits.length) return hits;
  }
  // a.b.c: "a.b" on network "c", then "a" on network "b.c" (names and network names may hold dots).
  const labels = q.split('.');
  for (let i = labels.length - 1; i > 0; i--) {
    const host = labels.slice(0, i).join('.');
    const net = labels.slice(i).join('.');
    const n = view.networks.find((x) => x.name.toLowerCase() === net);
    const hits = n?.endpoints.filter((e) => e.names.some((x) => x.toLowerCase() === host)) ?? [];
    if (hits.length) return hits;
  }
  return [];
}

/** "4.3.2.1.in-addr.arpa" → "1.2.3.4"; the ip6.arpa nibble form → a full IPv6 address; else undefined. */
export function ptrAddress(name: string): string | undefined {
  const q = norm(name);
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.in-addr\.arpa$/.exec(q);
  if (v4) return [v4[4], v4[3], v4[2], v4[1]].map(Number).join('.');
  const v6 = /^((?:[0-9a-f]\.){32})ip6\.arpa$/.exec(q);
  if (v6) {
    const hex = v6[1].split('.').filter(Boolean).reverse().join('');
    return expandIpv6(hex.match(/.{4}/g)!.join(':'));
  }
  return undefined;
}

/** An IPv6 address in its full eight-group lowercase form, for comparison. */
export function expandIpv6(ip: string): string {
  const [head, tail] = ip.toLowerCase().split('::');
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail ? tail.split(':') : [];
  const fill = tail === undefined ? [] : new Array(8 - h.length - t.length).fill('0');
  return [...h, ...fill, ...t].map((g) => g.padStart(4, '0')).join(':');
}

function findByAddress(view: DnsView, ip: string): { endpoint: DnsEndpoint; network: string } | undefined {
  const v6 = ip.includes(':');
  for (const n of view.networks) {
    const e = n.endpoints.find((x) => (v6 ? x.ipv6 !== undefined && expandIpv6(x.ipv6) === ip : x.ipv4 === ip));
    if (e) return { endpoint: e, network: n.name };
  }
  return undefined;
}

/**
 * The local answer to one question, or 'forward'. `turn` rotates several addresses behind one name, so that
 * successive queries get them in turn (Docker shuffles them).
 */
export function answerLocally(view: DnsView, q: Question, turn = 0): LocalAnswer {
  if (q.class && q.class !== 'IN') return { kind: 'forward' };
  switch (q.type) {
    case 'A':
    case 'AAAA': {
      const hits = lookupName(view, q.name);
      if (!hits.length) return { kind: 'forward' };
      const ips = hits.map((e) => (q.type === 'A' ? e.ipv4 : e.ipv6)).filter((x): x is string => !!x);
      const start = ips.length ? turn % ips.length : 0;
      const rotated = [...ips.slice(start), ...ips.slice(0, start)];
      return {
        kind: 'answer',
        answers: rotated.map(
          (ip) => ({ type: q.type, name: q.name, ttl: RESPONSE_TTL, class: 'IN', data: ip }) as Answer,
        ),
      };
    }
    case 'MX':
      // A known name has no MX: an empty NOERROR lets mail clients fall back to its address (RFC 5321 5.1).
      return lookupName(view, q.name).length ? { kind: 'answer', answers: [] } : { kind: 'forward' };
    case 'PTR': {
      const ip = ptrAddress(q.name);
      const hit = ip ? findByAddress(view, ip) : undefined;
      if (!hit) return { kind: 'forward' };
      return {
        kind: 'answer',
        answers: [
          {
            type: 'PTR',
            name: q.name,
            ttl: RESPONSE_TTL,
            class: 'IN',
            data: `${hit.endpoint.names[0]}.${hit.network}`,
          } as Answer,
        ],
      };
    }
    default:
      return { kind: 'forward' };
  }
}

/** Whether a packet is a query we can answer at all (one question, standard opcode). */
export function isPlainQuery(p: Packet): boolean {
  return p.type === 'query' && (p.questions?.length ?? 0) === 1 && ((p.flags ?? 0) & 0x7800) === 0;
}
