// Published ports of the guest's containers on the host's loopback: the guest's engine asks the supervisor for each
// port as a container starts (and gives it back as it stops), and the supervisor has the hypervisor forward it.
// Always 127.0.0.1 on the host: a laptop's engine is not the LAN's.
import * as crypto from 'node:crypto';
import * as net from 'node:net';
import type { Hypervisor, PortForward } from './driver';

export interface PortState {
  protocol: 'tcp' | 'udp';
  hostPort: number;
  container: string;
}

const key = (f: { protocol: string; hostPort: number }) => `${f.protocol}/${f.hostPort}`;

/**
 * The guest engine's port service (QEMU and vfkit): the guest's berthd asks here, through the user-mode network (the
 * host's loopback is 10.0.2.2 on QEMU's, 192.168.127.254 on gvproxy's; on vfkit's NAT the host's address there), for
 * each port it publishes, before the start answers; the hypervisor forwards it (QMP hostfwd_add, gvproxy's expose,
 * the supervisor's own relay on vfkit's NAT). A host port another program holds is refused and the guest's start
 * fails as dockerd's does ("Error starting userland proxy: listen tcp4 …: bind: address already in use"), the
 * container left created. The token (in the VM's 0700 seed) keeps out other local users, the guest's containers and,
 * on vfkit's NAT, whoever else is on that network. One JSON request per connection, one JSON answer, as
 * slirp4netns's API.
 */
export class GuestPortService {
  private readonly forwards = new Map<string, PortForward & { container: string }>();
  private readonly servers: net.Server[] = [];
  readonly token = crypto.randomBytes(24).toString('hex');

  constructor(
    private readonly hv: () => Pick<Hypervisor, 'forwardPort' | 'unforwardPort'> | undefined,
    private readonly log: (line: string) => void,
    private readonly onChange: (ports: PortState[]) => void,
  ) {}

  /**
   * Listens on the host's loopback (or `host`, on `port`: the address the guest reaches the host at behind vfkit's
   * NAT, on the port the seed already names); the port the guest is to call.
   */
  async listen(host = '127.0.0.1', port = 0): Promise<number> {
    // Half-open: the guest ends its side after the request and reads the answer.
    const server = net.createServer({ allowHalfOpen: true }, (socket) => {
      let body = '';
      socket.setEncoding('utf8');
      socket.setTimeout(30_000, () => socket.destroy());
      socket.on('error', () => undefined);
      socket.on('data', (d) => {
        body += d;
        if (body.length > 4096) socket.destroy();
      });
      socket.on('end', () => {
        void this.answer(body).then((a) => socket.end(JSON.stringify(a)));
      });
    });
    this.servers.push(server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    return (server.address() as net.AddressInfo).port;
  }

  /** Removes every forward (the VM stops) and stops listening. */
  close(): void {
    for (const s of this.servers) s.close();
    this.forwards.clear();
  }

  private async answer(body: string): Promise<{ ok?: true; error?: string; code?: string }> {
    let req: { token?: unknown; op?: unknown; protocol?: unknown; hostPort?: unknown; container?: unknown };
    try {
      req = JSON.parse(body);
    } catch {
      return { error: 'malformed request' };
    }
    const given = Buffer.from(String(req.token ?? ''));
    const want = Buffer.from(this.token);
    if (given.length !== want.length || !crypto.timingSafeEqual(given, want)) return { error: 'not this VM' };
    const hostPort = Number(req.hostPort);
    if (
      (req.protocol !== 'tcp' && req.protocol !== 'udp') ||
      !Number.isInteger(hostPort) ||
      hostPort < 1 ||
      hostPort > 65535
    )
      return { error: `cannot forward ${String(req.protocol)} port ${String(req.hostPort)}` };
    const f = {
      protocol: req.protocol,
      hostIp: '127.0.0.1',
      hostPort,
      guestPort: hostPort,
      container: String(req.container ?? '').slice(0, 12),
    } as const;
    const hv = this.hv();
    if (!hv?.forwardPort || !hv.unforwardPort) return { error: 'the VM is not running' };
    const k = key(f);
    if (req.op === 'add') {
      // Again after the guest's engine restarted (it re-publishes its running containers' ports): already there.
      if (this.forwards.has(k)) return { ok: true };
      try {
        await hv.forwardPort(f);
      } catch (err) {
        this.log(`berth: port ${f.hostPort}/${f.protocol} is not available on the host: ${(err as Error).message}`);
        return {
          error: `127.0.0.1:${f.hostPort}/${f.protocol} is not available on the host (${(err as Error).message})`,
          code: 'EADDRINUSE',
        };
      }
      this.forwards.set(k, f);
    } else if (req.op === 'remove') {
      if (!this.forwards.delete(k)) return { ok: true };
      await hv.unforwardPort(f).catch((err) => this.log(`berth: removing port ${k}: ${err.message}`));
    } else return { error: `unknown op ${String(req.op)}` };
    this.onChange(
      [...this.forwards.values()].map(({ protocol, hostPort, container }) => ({ protocol, hostPort, container })),
    );
    return { ok: true };
  }
}
