// A stand-in for gvproxy (containers/gvisor-tap-vsock) where vfkit cannot run: gvproxy's command line as the vfkit
// driver gives it, its pid file, and its HTTP API on the -listen unix socket with the port forwarder's endpoints as
// pkg/services/forwarder/ports.go answers them: POST /services/forwarder/expose {local, remote, protocol} listens on
// `local` on the host and carries each connection to `remote`; POST …/unexpose {local, protocol}; GET …/all. Errors
// as Go's http.Error writes them: the status, the text and a newline. Where gvproxy's virtual network carries a
// connection to the guest (192.168.127.2), this one dials that address as it is: the test puts its guest there.
'use strict';
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');

const args = process.argv.slice(2);
const arg = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const api = arg('-listen');
const vfkitSocket = arg('-listen-vfkit');
if (!api?.startsWith('unix://') || !vfkitSocket?.startsWith('unixgram://')) {
  process.stderr.write(`gvproxy stand-in: unexpected arguments ${JSON.stringify(args)}\n`);
  process.exit(2);
}
if (arg('-pid-file')) fs.writeFileSync(arg('-pid-file'), String(process.pid));
// gvproxy binds a datagram socket for vfkit's virtio-net; node has none: a stream socket stands at the path.
net.createServer().listen(vfkitSocket.slice('unixgram://'.length));

/** "tcp/127.0.0.1:8080" → the forward */
const proxies = new Map();
const key = (protocol, local) => `${protocol}/${local}`;
const hostPort = (a) => {
  const i = a.lastIndexOf(':');
  return { host: a.slice(0, i), port: Number(a.slice(i + 1)) };
};

function expose(protocol, local, remote) {
  if (proxies.has(key(protocol, local))) throw new Error(`proxy already running for ${protocol} on ${local}`);
  if (protocol !== 'tcp') throw new Error(`the gvproxy stand-in forwards tcp only, not ${protocol}`);
  const to = hostPort(remote);
  if (!to.host || !to.port) throw new Error('invalid remote addr');
  const server = net.createServer((c) => {
    const r = net.connect(to.port, to.host);
    c.pipe(r).pipe(c);
    c.on('error', () => r.destroy());
    r.on('error', () => c.destroy());
  });
  const at = hostPort(local);
  return new Promise((resolve, reject) => {
    server.once('error', (err) =>
      reject(
        new Error(`listen tcp ${local}: bind: ${err.code === 'EADDRINUSE' ? 'address already in use' : err.message}`),
      ),
    );
    server.listen({ host: at.host || undefined, port: at.port }, () => {
      proxies.set(key(protocol, local), { local, remote, protocol, server });
      resolve();
    });
  });
}

const fail = (res, status, text) => {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff' });
  res.end(`${text}\n`);
};

const server = http.createServer((req, res) => {
  let body = '';
  req.on('data', (d) => (body += d));
  req.on('end', async () => {
    if (req.url === '/services/forwarder/all') {
      const all = [...proxies.values()]
        .map(({ local, remote, protocol }) => ({ local, remote, protocol }))
        .sort((a, b) => (a.local === b.local ? a.protocol.localeCompare(b.protocol) : a.local.localeCompare(b.local)));
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(`${JSON.stringify(all)}\n`);
    }
    if (req.url !== '/services/forwarder/expose' && req.url !== '/services/forwarder/unexpose')
      return fail(res, 404, '404 page not found');
    if (req.method !== 'POST') return fail(res, 400, 'post only');
    let r;
    try {
      r = JSON.parse(body);
    } catch (err) {
      return fail(res, 400, err.message);
    }
    const protocol = r.protocol || 'tcp';
    try {
      if (req.url.endsWith('/expose')) await expose(protocol, r.local, r.remote);
      else {
        const p = proxies.get(key(protocol, r.local));
        if (!p) throw new Error('proxy not found');
        proxies.delete(key(protocol, r.local));
        p.server.close();
      }
    } catch (err) {
      return fail(res, 500, err.message);
    }
    res.writeHead(200);
    res.end();
  });
});
server.listen(api.slice('unix://'.length));
process.on('SIGTERM', () => process.exit(0));
