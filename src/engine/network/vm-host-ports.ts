// Published ports of the engine inside Berth's VM: the host's 127.0.0.1:PORT reaches the guest through the
// hypervisor's host forward, which the host-side supervisor adds when this engine asks, before a start answers. A
// port another program holds on the host then fails the start as a taken port does on Linux, and nothing runs.
import * as fs from 'node:fs';
import * as net from 'node:net';
import type { OutsidePorts, PortMapping } from './ports';

/**
 * Where the supervisor listens, as the guest reaches it, and the VM's secret (seed file: "ADDR:PORT TOKEN"). ADDR
 * `gateway` is this machine's default gateway, looked up at each call: behind vfkit's own NAT (no gvproxy) the host
 * is the gateway its DHCP server hands out, which the host cannot know before the guest boots.
 */
export interface VmHostPortsAddress {
  host: string;
  port: number;
  token: string;
}

/** The IPv4 default route's gateway, from /proc/net/route (hex, in the kernel's byte order: little-endian here). */
export function defaultGateway(routes = '/proc/net/route'): string | undefined {
  for (const line of fs.readFileSync(routes, 'utf8').split('\n').slice(1)) {
    const [, destination, gateway, flags] = line.trim().split(/\s+/);
    // RTF_UP | RTF_GATEWAY
    if (destination !== '00000000' || (Number.parseInt(flags, 16) & 3) !== 3) continue;
    const n = Number.parseInt(gateway, 16);
    return [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, n >>> 24].join('.');
  }
  return undefined;
}

export function parseVmHostPorts(s: string | undefined): VmHostPortsAddress | undefined {
  const m = /^\s*([^\s:]+):(\d+)\s+(\S+)\s*$/.exec(s ?? '');
  return m ? { host: m[1], port: Number(m[2]), token: m[3] } : undefined;
}

interface Answer {
  ok?: boolean;
  error?: string;
  code?: string;
}

/** One request per connection, one JSON answer (as slirp4netns's API). */
function call(to: VmHostPortsAddress, body: Record<string, unknown>): Promise<void> {
  return new Promise((resolve, reject) => {
    const host = to.host === 'gateway' ? defaultGateway() : to.host;
    if (!host) return reject(new Error("the VM host's port service: no default gateway to reach it at"));
    const socket = net.connect({ host, port: to.port });
    let answer = '';
    socket.setEncoding('utf8');
    socket.setTimeout(60_000, () => socket.destroy(new Error('the VM host did not answer within 60 s')));
    socket.on('data', (d) => (answer += d));
    socket.on('error', (err) => reject(new Error(`the VM host's port service: ${err.message}`)));
    socket.on('end', () => {
      let a: Answer;
      try {
        a = JSON.parse(answer);
      } catch {
        return reject(new Error(`the VM host's port service answered ${JSON.stringify(answer.slice(0, 200))}`));
      }
      if (a.ok) return resolve();
      const err: NodeJS.ErrnoException = new Error(a.error ?? 'the VM host refused the port');
      if (a.code) err.code = a.code;
      reject(err);
    });
    socket.end(JSON.stringify({ token: to.token, ...body }));
  });
}

export function vmHostPorts(to: VmHostPortsAddress): OutsidePorts {
  return {
    async add(m: PortMapping, owner?: string): Promise<() => void> {
      const port = { protocol: m.protocol, hostPort: m.hostPort, container: owner };
      await call(to, { op: 'add', ...port });
      return () => void call(to, { op: 'remove', ...port }).catch(() => undefined);
    },
  };
}
