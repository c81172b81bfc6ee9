// Interactive echo round trip under a TTY, as a user at `docker exec -it CTR cat` feels it: one key goes in over
// the hijacked exec stream and the time until its echo comes back is measured. Works against any Docker-API
// engine (berthd or dockerd). Usage: node scripts/tty-echo.mjs SOCKET CONTAINER [ROUNDS]; prints the median ms.
import * as http from 'node:http';
import * as net from 'node:net';

const [socketPath, container, roundsArg] = process.argv.slice(2);
const rounds = Number(roundsArg ?? 50);

const api = (method, path, body) =>
  new Promise((resolve, reject) => {
    const req = http.request({ socketPath, method, path, headers: { 'Content-Type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () =>
        res.statusCode >= 300
          ? reject(new Error(`${res.statusCode} ${text}`))
          : resolve(text ? JSON.parse(text) : undefined),
      );
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });

const { Id } = await api('POST', `/containers/${container}/exec`, {
  Cmd: ['cat'],
  Tty: true,
  AttachStdin: true,
  AttachStdout: true,
  AttachStderr: true,
});
const sock = net.connect(socketPath);
await new Promise((r) => sock.once('connect', r));
const body = JSON.stringify({ Detach: false, Tty: true });
sock.write(
  `POST /exec/${Id}/start HTTP/1.1\r\nHost: d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
);
sock.setNoDelay(true);
let buf = '';
let waiting;
sock.on('data', (d) => {
  buf += d.toString('latin1');
  if (waiting) waiting();
});
const until = (pred) =>
  new Promise((resolve) => {
    const check = () => {
      if (pred()) {
        waiting = undefined;
        resolve();
      }
    };
    waiting = check;
    check();
  });
await until(() => buf.includes('\r\n\r\n'));
buf = buf.slice(buf.indexOf('\r\n\r\n') + 4);
await new Promise((r) => setTimeout(r, 200));
const times = [];
for (let i = 0; i < rounds; i++) {
  const key = String.fromCharCode(97 + (i % 26));
  buf = '';
  const t = process.hrtime.bigint();
  sock.write(key);
  await until(() => buf.includes(key));
  times.push(Number(process.hrtime.bigint() - t) / 1e6);
}
sock.write('\x04');
sock.destroy();
times.sort((a, b) => a - b);
console.log(times[Math.floor(times.length / 2)].toFixed(3));
