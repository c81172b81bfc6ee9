// Published ports of a rootless engine: slirp4netns's API forwards the user's host address and port to the same
// port on the namespace's tap address, where the engine's DNAT rules take it to the container.
import * as net from 'node:net';
import { log } from '../log';
import { SLIRP_NAMESPACE_ADDRESS } from './info';

/** A published port, as the network subsystem hands it to its outside-ports hook (network's PortMapping: rootless
 * stands below network, which gets this publisher from the daemon's wiring). */
interface HostForward {
  hostIp: string;
  hostPort: number;
  protocol: 'tcp' | 'udp' | 'sctp';
}

/** One request on slirp4netns's API socket (it answers one JSON object per connection). */
function slirpCall(api: string, execute: string, args: Record<string, unknown>): Promise<any> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(api);
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (d) => (answer += d));
    socket.on('error', reject);
    socket.on('end', () => {
      try {
        const reply = JSON.parse(answer);
        if (reply.error) reject(new Error(reply.error.desc ?? JSON.stringify(reply.error)));
        else resolve(reply.return);
      } catch {
        reject(new Error(`slirp4netns ${execute}: unexpected answer ${JSON.stringify(answer)}`));
      }
    });
    socket.end(JSON.stringify({ execute, arguments: args }));
  });
}

export function slirpPorts(api: string) {
  return {
    async add(m: HostForward): Promise<() => void> {
      let id: number;
      try {
        ({ id } = await slirpCall(api, 'add_hostfwd', {
          proto: m.protocol,
          host_addr: m.hostIp,
          host_port: m.hostPort,
          guest_addr: SLIRP_NAMESPACE_ADDRESS,
          guest_port: m.hostPort,
        }));
      } catch (err: any) {
        // slirp4netns says only that it failed; what fails there is the bind on the user's host.
        const e: NodeJS.ErrnoException = new Error(
          `listen ${m.protocol}4 ${m.hostIp}:${m.hostPort}: bind: address already in use (${err.message})`,
        );
        e.code = 'EADDRINUSE';
        throw e;
      }
      return () => {
        slirpCall(api, 'remove_hostfwd', { id }).catch((err) =>
          log.warn('cannot remove a port forward', { port: `${m.hostIp}:${m.hostPort}`, error: err.message }),
        );
      };
    },
  };
}
