// A stand-in for vfkit where Virtualization.framework is not: it takes vfkit's command line as the vfkit driver gives
// it, writes it to the console log file its virtio-serial device names (as the guest's console would appear there),
// and serves the --restful-uri API: GET /vm/state answers the state, POST /vm/state {"state":"Stop"} ends it. It
// runs no guest: the test's guest is an engine in a network namespace of its own.
'use strict';
const fs = require('node:fs');
const http = require('node:http');

const args = process.argv.slice(2);
const arg = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const rest = arg('--restful-uri');
const serial = args.find((a) => a.startsWith('virtio-serial,logFilePath='));
if (!rest?.startsWith('unix://') || !serial || !arg('--bootloader')?.startsWith('linux,kernel=')) {
  process.stderr.write(`vfkit stand-in: unexpected arguments ${JSON.stringify(args)}\n`);
  process.exit(2);
}
fs.appendFileSync(serial.slice('virtio-serial,logFilePath='.length), `vfkit stand-in: ${JSON.stringify(args)}\n`);

const server = http.createServer((req, res) => {
  let body = '';
  req.on('data', (d) => (body += d));
  req.on('end', () => {
    if (req.url !== '/vm/state') {
      res.writeHead(404);
      return res.end();
    }
    if (req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ state: 'VirtualMachineStateRunning', canStop: true }));
    }
    let state;
    try {
      state = JSON.parse(body).state;
    } catch {
      /* below */
    }
    if (state !== 'Stop' && state !== 'HardStop') {
      res.writeHead(400);
      return res.end();
    }
    res.writeHead(202);
    res.end(() => process.exit(0));
  });
});
server.listen(rest.slice('unix://'.length));
process.on('SIGTERM', () => process.exit(0));
