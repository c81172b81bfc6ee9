// Small waits and probes the tests share: a free port on 127.0.0.1, a raw HTTP/1.0 GET to a published port,
// polling until a condition holds, and the host's links and iptables rules (to check nothing leaked).
import * as assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as net from 'node:net';

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export const hostLinks = () => execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' });
export const iptablesRules = () => execFileSync('iptables-save', [], { encoding: 'utf8' });

/** Whatever the server at 127.0.0.1:port answers to a GET (empty when nothing answers within 2 s). */
export function httpGet(port: number, pathName = '/'): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let out = '';
    s.setTimeout(2000, () => s.destroy());
    s.on('connect', () => s.write(`GET ${pathName} HTTP/1.0\r\n\r\n`));
    s.on('data', (d) => (out += d));
    s.on('close', () => resolve(out));
    s.on('error', () => resolve(out));
  });
}

/** Calls fn until ok(result), every 150 ms, failing with the last result after ms. */
export async function eventually<T>(
  fn: () => Promise<T> | T,
  ok: (v: T) => boolean,
  what: string,
  ms = 10000,
): Promise<T> {
  const deadline = Date.now() + ms;
  let last: T;
  do {
    last = await fn();
    if (ok(last)) return last;
    await new Promise((r) => setTimeout(r, 150));
  } while (Date.now() < deadline);
  assert.fail(`timed out waiting for ${what}; last: ${JSON.stringify(last!)}`);
}

/** The documentation networks (RFC 5737): a /30 of one that no address or route of this host touches — a host's
 * own eth0 may well sit in one (this machine's is 192.0.2.2/24, and the far end would then be the host itself). */
function unusedDocumentationNet(): [near: string, far: string] {
  for (const prefix of ['192.0.2', '198.51.100', '203.0.113'])
    for (const last of [248, 252]) {
      const [near, far] = [`${prefix}.${last + 1}`, `${prefix}.${last + 2}`];
      const taken = [near, far].some((a) => {
        const r = spawnSync('ip', ['-4', '-o', 'route', 'get', a], { encoding: 'utf8' }).stdout;
        // Local (dev lo) or on a network the host is on (a dev, no via); unroutable (no output) is free.
        return / dev \S+/.test(r) && !/ via /.test(r);
      });
      if (!taken) return [near, far];
    }
  throw new Error('no documentation /30 (RFC 5737) free of this host’s addresses and routes');
}

/**
 * Another machine for the test: a network namespace it makes, linked by a veth pair to the test's own namespace,
 * where the veth's near end has a documentation address — a non-loopback address of the test's host, reached from
 * the far end as from another machine on its network. Traffic stays between the two namespaces.
 */
export function otherMachine(): {
  hostAddress: string;
  httpGet(port: number, pathName?: string): string;
  close(): void;
} {
  const ns = `berth-other-${process.pid}`;
  const [hostAddress, otherAddress] = unusedDocumentationNet();
  const [near, far] = [`bon${process.pid}`, `bof${process.pid}`].map((n) => n.slice(0, 15));
  const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const close = () => {
    spawnSync('ip', ['link', 'del', near], { stdio: 'ignore' });
    spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  };
  try {
    ip('netns', 'add', ns);
    ip('link', 'add', near, 'type', 'veth', 'peer', 'name', far);
    ip('link', 'set', far, 'netns', ns);
    ip('addr', 'add', `${hostAddress}/30`, 'dev', near);
    ip('link', 'set', near, 'up');
    ip('-n', ns, 'addr', 'add', `${otherAddress}/30`, 'dev', far);
    ip('-n', ns, 'link', 'set', far, 'up');
    ip('-n', ns, 'link', 'set', 'lo', 'up');
  } catch (err) {
    close();
    throw err;
  }
  // A raw GET from node run in the namespace: what answered, or "refused"/"timeout"/the error's code.
  const GET = `const [host, port, p] = process.argv.slice(1); let out = '';
const s = require('net').connect(+port, host); s.setTimeout(3000, () => { out = out || 'timeout'; s.destroy(); });
s.on('connect', () => s.write('GET ' + p + ' HTTP/1.0\\r\\n\\r\\n')); s.on('data', (d) => (out += d));
s.on('error', (e) => (out = out || (e.code === 'ECONNREFUSED' ? 'refused' : e.code)));
s.on('close', () => process.stdout.write(out));`;
  return {
    hostAddress,
    httpGet: (port, pathName = '/') =>
      execFileSync('ip', ['netns', 'exec', ns, process.execPath, '-e', GET, hostAddress, String(port), pathName], {
        encoding: 'utf8',
        timeout: 10_000,
      }),
    close,
  };
}
