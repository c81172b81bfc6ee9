// Small waits and probes the tests share: a free port on 127.0.0.1, a raw HTTP/1.0 GET to a published port,
// polling until a condition holds, and the host's links and iptables rules (to check nothing leaked).
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
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
