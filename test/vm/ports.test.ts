// The supervisor's port service (src/vm/ports.ts) listens on the host's loopback, which other local users reach and
// so do the guest's containers (QEMU's 10.0.2.2 is the host's 127.0.0.1): only a caller with the VM's token (in its
// 0700 seed, which only the guest's engine reads) adds or removes host forwards. Driven here over TCP as the guest's
// berthd calls it, with a hypervisor that records what it was asked to forward.
import * as assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { defaultGateway } from '../../src/engine/network';
import type { PortForward } from '../../src/vm/driver';
import { relayPort } from '../../src/vm/forward';
import { GuestPortService, type PortState } from '../../src/vm/ports';

/** One request per connection, the answer as JSON (as src/engine/network/vm-host-ports.ts calls it). */
function ask(port: number, body: string): Promise<{ ok?: boolean; error?: string; code?: string }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let text = '';
    s.setEncoding('utf8');
    s.on('data', (d) => (text += d));
    s.on('error', reject);
    s.on('end', () => resolve(JSON.parse(text)));
    s.end(body);
  });
}

describe('vm: the port service refuses callers without the VM token', () => {
  const forwarded: PortForward[] = [];
  const removed: PortForward[] = [];
  const changes: PortState[][] = [];
  const hv = {
    forwardPort: async (f: PortForward) => void forwarded.push(f),
    unforwardPort: async (f: PortForward) => void removed.push(f),
  };
  let service: GuestPortService;
  let port: number;

  before(async () => {
    service = new GuestPortService(
      () => hv,
      () => undefined,
      (p) => changes.push(p),
    );
    port = await service.listen();
  });
  after(() => service.close());

  const req = (token: string | undefined, op: string, hostPort: number) =>
    JSON.stringify({ ...(token !== undefined && { token }), op, protocol: 'tcp', hostPort, container: 'c0ffee' });

  it('adds no forward for a request without a token, with a wrong one or a wrong-length one', async () => {
    const wrong = service.token.replace(/^./, (c) => (c === '0' ? '1' : '0'));
    for (const token of [undefined, '', wrong, service.token.slice(1), `${service.token}0`])
      assert.deepEqual(await ask(port, req(token, 'add', 18080)), { error: 'not this VM' }, `token ${token}`);
    assert.equal(forwarded.length, 0);
    assert.deepEqual(changes, []);
  });

  it("removes no forward for a request without the token; the VM's own token adds and removes", async () => {
    assert.deepEqual(await ask(port, req(service.token, 'add', 18081)), { ok: true });
    assert.deepEqual(
      forwarded.map((f) => [f.hostIp, f.hostPort, f.guestPort]),
      [['127.0.0.1', 18081, 18081]],
    );
    assert.deepEqual(changes.at(-1), [{ protocol: 'tcp', hostPort: 18081, container: 'c0ffee' }]);
    for (const token of [undefined, 'x'.repeat(service.token.length)])
      assert.deepEqual(await ask(port, req(token, 'remove', 18081)), { error: 'not this VM' });
    assert.equal(removed.length, 0, 'the forward is still there');
    assert.equal(changes.length, 1);
    assert.deepEqual(await ask(port, req(service.token, 'remove', 18081)), { ok: true });
    assert.deepEqual(
      removed.map((f) => f.hostPort),
      [18081],
    );
    assert.deepEqual(changes.at(-1), []);
  });
});

describe("vm: the supervisor's own port relay (vfkit's NAT) and the guest's `gateway`", () => {
  it('relays UDP datagrams both ways, one socket per client, and ends with the port', async () => {
    const echo = dgram.createSocket('udp4');
    echo.on('message', (m, from) => echo.send(Buffer.concat([Buffer.from('echo:'), m]), from.port, from.address));
    await new Promise<void>((r) => echo.bind(0, '127.0.0.1', r));
    const guestPort = echo.address().port;
    const hostPort = await freeUdpPort();
    const end = await relayPort({ protocol: 'udp', hostIp: '127.0.0.1', hostPort, guestPort }, '127.0.0.1');
    try {
      const ask = async (text: string) => {
        const c = dgram.createSocket('udp4');
        const reply = new Promise<string>((r) => c.once('message', (m) => r(m.toString())));
        c.send(text, hostPort, '127.0.0.1');
        const answer = await Promise.race([reply, new Promise<string>((r) => setTimeout(() => r('(none)'), 2000))]);
        c.close();
        return answer;
      };
      assert.equal(await ask('one'), 'echo:one');
      assert.equal(await ask('two'), 'echo:two');
    } finally {
      await end();
    }
    // The port is free again.
    const again = dgram.createSocket('udp4');
    await new Promise<void>((r) => again.bind(hostPort, '127.0.0.1', r));
    again.close();
    echo.close();
  });

  it('a TCP port another program holds is refused as listen refuses it', async () => {
    const holder = net.createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
    const busy = (holder.address() as net.AddressInfo).port;
    try {
      await assert.rejects(
        relayPort({ protocol: 'tcp', hostIp: '127.0.0.1', hostPort: busy, guestPort: 80 }, '127.0.0.1'),
        { code: 'EADDRINUSE' },
      );
    } finally {
      holder.close();
    }
  });

  it("the guest engine finds `gateway` in its default route (/proc/net/route's little-endian hex)", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-route-'));
    try {
      const routes = path.join(dir, 'route');
      const head = 'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n';
      fs.writeFileSync(
        routes,
        `${head}eth0\t0040A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\neth0\t00000000\t0140A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n`,
      );
      assert.equal(defaultGateway(routes), '192.168.64.1');
      fs.writeFileSync(routes, `${head}eth0\t0040A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n`);
      assert.equal(defaultGateway(routes), undefined);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  return new Promise((resolve) =>
    s.bind(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    }),
  );
}
