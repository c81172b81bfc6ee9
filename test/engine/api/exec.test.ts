// Interactive containers against berthd. With the real docker CLI: exec (exit codes, -e/-u/-w, stdin, detached,
// 126/127, 409), TTYs under a real terminal (tmux) with resize, run -it, attach and detach with ctrl-p ctrl-q,
// start -ai. Over the API alone (no CLI needed): the attach API's framing, detach keys, WebSocket attach, exec with a
// ConsoleSize, and 200 parallel execs leaving nothing behind.
import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as http from 'node:http';
import * as net from 'node:net';
import { requireDockerCli, type TestEngine } from '../../helpers/engine';
import { type MirroredEngine, startMirroredEngine } from '../../helpers/mirrored-engine';
import { startPty } from '../../helpers/pty';
import { requireDeps, TMUX } from '../../helpers/deps';

/** One API call over an engine's socket: status and body text. */
function apiOn(socket: string, method: string, path: string, json?: unknown) {
  return new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = http.request(
      { socketPath: socket, method, path, headers: json === undefined ? {} : { 'Content-Type': 'application/json' } },
      (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.end(json === undefined ? undefined : JSON.stringify(json));
  });
}

/** A raw connection that sends one request and keeps what comes back (a hijacked stream's header and frames). */
async function rawRequest(socket: string, request: string | Buffer) {
  const sock = net.connect(socket);
  await new Promise((r) => sock.once('connect', r));
  let got = Buffer.alloc(0);
  let closed = false;
  sock.on('data', (d) => (got = Buffer.concat([got, d])));
  sock.on('close', () => (closed = true));
  sock.write(request);
  const waitFor = async (what: () => boolean, label: string) => {
    const deadline = Date.now() + 10_000;
    while (!what()) {
      assert.ok(Date.now() < deadline, `${label}: ${got.toString('latin1')}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  return {
    sock,
    got: () => got,
    closed: () => closed,
    waitFor,
    headerDone: () => waitFor(() => got.includes('\r\n\r\n'), 'no response header'),
  };
}

/**
 * POST /exec/{id}/start hijacked, read to the end: the response head and the stream's bytes. `input` is typed as
 * soon as the head is in (the stream may be over by then: the write may fail, as a client's may).
 */
async function startExecHijacked(socket: string, id: string, start: Record<string, unknown>, input?: string) {
  const payload = JSON.stringify(start);
  const r = await rawRequest(
    socket,
    `POST /v1.45/exec/${id}/start HTTP/1.1\r\nHost: d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Type: application/json\r\nContent-Length: ${payload.length}\r\n\r\n${payload}`,
  );
  if (input !== undefined) {
    await r.headerDone();
    r.sock.on('error', () => {});
    r.sock.write(input);
  }
  await r.waitFor(r.closed, 'the exec stream never ended');
  const all = r.got();
  const at = all.indexOf('\r\n\r\n');
  return { head: all.subarray(0, at).toString(), body: all.subarray(at + 4) };
}

describe('exec and attach with the real docker CLI', function () {
  this.timeout(180000);
  let target: MirroredEngine;
  let engine: TestEngine;
  const names: string[] = [];
  const ok = (args: string[], input?: string) => target.ok(args, input);
  const sleeper = (name: string, extra: string[] = []) => {
    names.push(name);
    ok(['run', '-d', '--name', name, ...extra, 'busybox', 'sleep', '600']);
    return name;
  };
  const api = (method: string, path: string, json?: unknown) => apiOn(engine.socket, method, path, json);
  const dockerCmd = () => `DOCKER_HOST=${engine.host} docker`;

  before(async function () {
    requireDockerCli(this);
    target = await startMirroredEngine();
    engine = target.engine;
  });
  after(async () => {
    if (engine) for (const n of names) engine.docker(['rm', '-f', n]);
    await target?.cleanup();
  });

  it("returns the command's exit code and honours -e, -u and -w", () => {
    const c = sleeper('exec-basic');
    const r = engine.docker(['exec', c, 'sh', '-c', 'exit 3']);
    assert.equal(r.code, 3);
    assert.equal(
      ok([
        'exec',
        '-e',
        'GREETING=hi',
        '-w',
        '/tmp',
        '-u',
        '65534:65534',
        c,
        'sh',
        '-c',
        'echo $GREETING $(pwd) $(id -u):$(id -g)',
      ]),
      'hi /tmp 65534:65534\n',
    );
    assert.equal(ok(['exec', '-u', 'nobody', c, 'id', '-un']), 'nobody\n');
    const both = engine.docker(['exec', c, 'sh', '-c', 'echo out; echo err >&2']);
    assert.equal(both.stdout, 'out\n');
    assert.equal(both.stderr, 'err\n');
  });

  it("joins the container's namespaces: same hostname, pid namespace and filesystem", () => {
    const c = sleeper('exec-ns', ['--hostname', 'insidebox']);
    assert.equal(ok(['exec', c, 'hostname']), 'insidebox\n');
    ok(['exec', c, 'sh', '-c', 'echo written-by-exec > /tmp/f']);
    assert.match(ok(['exec', c, 'ps', '-o', 'pid,args']), /\n\s*1 sleep 600\n/);
    assert.equal(ok(['exec', c, 'cat', '/tmp/f']), 'written-by-exec\n');
  });

  it("gives Docker's errors and exit codes for a missing binary, a non-executable file, and a stopped container", () => {
    const c = sleeper('exec-errors');
    const missing = engine.docker(['exec', c, 'nosuchcmd']);
    assert.equal(missing.code, 127);
    assert.match(missing.stdout + missing.stderr, /OCI runtime exec failed: .*executable file not found in \$PATH/);
    const notExec = engine.docker(['exec', c, '/etc/passwd']);
    assert.equal(notExec.code, 126, notExec.stdout + notExec.stderr);
    ok(['stop', '-t', '0', c]);
    const stopped = engine.docker(['exec', c, 'true']);
    assert.equal(stopped.code, 1);
    assert.match(stopped.stderr, /Error response from daemon: Container [0-9a-f]{64} is not running/);
    ok(['pause', sleeper('exec-paused')]);
    const paused = engine.docker(['exec', 'exec-paused', 'true']);
    assert.match(paused.stderr, /is paused, unpause the container before exec/);
    ok(['unpause', 'exec-paused']);
  });

  it('pipes stdin with -i (EOF reaches the process) and runs detached with -d', async () => {
    const c = sleeper('exec-stdin');
    assert.equal(ok(['exec', '-i', c, 'sh', '-c', 'wc -c; echo done'], 'x'.repeat(300_000)), '300000\ndone\n');
    ok(['exec', '-d', c, 'sh', '-c', 'sleep 0.3; echo later > /tmp/detached']);
    const deadline = Date.now() + 10_000;
    while (engine.docker(['exec', c, 'cat', '/tmp/detached']).stdout !== 'later\n') {
      assert.ok(Date.now() < deadline, 'the detached exec never wrote its file');
      await new Promise((r) => setTimeout(r, 100));
    }
    const events = await api(
      'GET',
      `/events?since=0&until=${Math.ceil(Date.now() / 1000) + 1}&filters=${encodeURIComponent(JSON.stringify({ container: [c] }))}`,
    );
    const actions = events.text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).Action as string);
    assert.ok(actions.includes('exec_create: sh -c wc -c; echo done'), actions.join(', '));
    assert.ok(actions.some((a) => a.startsWith('exec_start: ')));
    assert.ok(actions.some((a) => a.startsWith('exec_die')));
  });

  it('exec -it: a real TTY that takes typed input, resizes, and returns the exit code', async function () {
    requireDeps(this, TMUX);
    const c = sleeper('exec-tty');
    const pty = startPty(`${dockerCmd()} exec -it ${c} sh`, { cols: 97, rows: 31 });
    try {
      await pty.waitFor(/# (\x1b\[6n)?$/m);
      await pty.typeUntil('echo $((6*7)); tty; echo $TERM; stty size', /^42\n\/dev\/pts\/\d+\nxterm\n31 97$/m);
      spawn('tmux', ['resize-window', '-t', pty.name, '-x', '120', '-y', '40']).on('error', () => {});
      await pty.typeUntil('stty size', /^40 120$/m);
      pty.send('exit 5', 'Enter');
      await pty.waitFor(/EXIT=5/);
    } finally {
      pty.close();
    }
  });

  it('exec -it of a process that is over at once prints its output every time (20 runs under a terminal)', async function () {
    requireDeps(this, TMUX);
    // The process ends while the engine still applies the CLI's ConsoleSize: its output must wait for the stream
    // (it was dropped about one time in four), and so must its exit code.
    const c = sleeper('exec-tty-short');
    for (let i = 0; i < 20; i++) {
      const pty = startPty(`${dockerCmd()} exec -it ${c} sh -c tty`);
      try {
        const screen = await pty.waitFor(/EXIT=\d+/);
        assert.match(screen, /^\/dev\/pts\/\d+\nEXIT=0$/m, `run ${i}`);
      } finally {
        pty.close();
      }
    }
  });

  it('exec -it under a terminal that types at once (script(1)) prints the output every time (20 runs)', () => {
    const c = sleeper('exec-tty-script');
    for (let i = 0; i < 20; i++) {
      const r = spawnSync('script', ['-qc', `${dockerCmd()} exec -it ${c} sh -c tty`, '/dev/null'], {
        encoding: 'latin1',
        input: '',
      });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /\/dev\/pts\/\d+\r\n/, `run ${i}: ${JSON.stringify(r.stdout)}`);
    }
  });

  it('run -it is interactive; ctrl-p ctrl-q detaches and leaves it running; attach gets back in', async function () {
    requireDeps(this, TMUX);
    names.push('run-it');
    const pty = startPty(`${dockerCmd()} run -it --name run-it busybox sh`);
    try {
      await pty.waitFor(/# (\x1b\[6n)?$/m);
      await pty.typeUntil('echo typed-$((2+3))', /^typed-5$/m);
      pty.send('C-p', 'C-q');
      await pty.waitFor(/EXIT=0/);
    } finally {
      pty.close();
    }
    assert.equal(ok(['inspect', '-f', '{{.State.Running}}', 'run-it']), 'true\n');
    const again = startPty(`${dockerCmd()} attach run-it`);
    try {
      await again.typeUntil('echo back-$((40+2))', /^back-42$/m);
      again.send('exit 7', 'Enter');
      await again.waitFor(/EXIT=7/);
    } finally {
      again.close();
    }
    assert.equal(ok(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', 'run-it']), 'exited 7\n');
  });

  it('start -ai and run -i attach stdin; StdinOnce closes it at EOF; run shows the first output', () => {
    names.push('start-ai');
    ok(['create', '-i', '--name', 'start-ai', 'busybox', 'sh', '-c', 'echo started; cat; echo after-eof']);
    const r = engine.docker(['start', '-ai', 'start-ai'], { input: 'from stdin\n' });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'started\nfrom stdin\nafter-eof\n');
    const run = engine.docker(['run', '--rm', '-i', 'busybox', 'sh', '-c', 'tr a-z A-Z; exit 9'], { input: 'shout\n' });
    assert.equal(run.code, 9);
    assert.equal(run.stdout, 'SHOUT\n');
    // Without -i, output from the very first moment is there (the shim holds it until attach is connected).
    for (let i = 0; i < 5; i++) assert.equal(ok(['run', '--rm', 'busybox', 'echo', `first-${i}`]), `first-${i}\n`);
  });
});

describe('exec and attach over the API', function () {
  this.timeout(180000);
  let target: MirroredEngine;
  let engine: TestEngine;
  const api = (method: string, path: string, json?: unknown) => apiOn(engine.socket, method, path, json);
  /** docker run -d [-i] --network none busybox CMD, over the API. */
  const runDetached = async (name: string, cmd: string[], opts: { openStdin?: boolean } = {}) => {
    await api('DELETE', `/containers/${name}?force=1`);
    const c = await api('POST', `/containers/create?name=${name}`, {
      Image: 'busybox',
      Cmd: cmd,
      OpenStdin: opts.openStdin ?? false,
      HostConfig: { NetworkMode: 'none' },
    });
    assert.equal(c.status, 201, c.text);
    const s = await api('POST', `/containers/${name}/start`);
    assert.equal(s.status, 204, s.text);
    return name;
  };
  const sleeper = (name: string) => runDetached(name, ['sleep', '600']);
  /** docker exec C CMD, over the API: its output once it is over. */
  const exec = async (c: string, cmd: string[]) => {
    const created = await api('POST', `/containers/${c}/exec`, { Cmd: cmd, AttachStdout: true, AttachStderr: true });
    assert.equal(created.status, 201, created.text);
    return (await api('POST', `/exec/${JSON.parse(created.text).Id}/start`, { Detach: false })).text;
  };
  const running = async (c: string) => JSON.parse((await api('GET', `/containers/${c}/json`)).text).State.Running;

  before(async () => {
    target = await startMirroredEngine();
    engine = target.engine;
  });
  after(async () => {
    if (engine)
      for (const c of JSON.parse((await api('GET', '/containers/json?all=1')).text))
        await api('DELETE', `/containers/${c.Id}?force=1`);
    await target?.cleanup();
  });

  it('exec start with a ConsoleSize loses none of the output (it comes while the engine resizes the TTY), even of a process that is over by then', async () => {
    const c = await sleeper('exec-console-size');
    // A short one ends (and its shim stream closes) before the engine has resized: `docker exec -t c tty` lost
    // its output one time in four. The long one checks the order of what comes meanwhile.
    for (let round = 0; round < 23; round++) {
      const short = round >= 3;
      const cmd = short ? ['tty'] : ['sh', '-c', 'echo first-line; seq 1 20000'];
      const created = await api('POST', `/containers/${c}/exec`, {
        Cmd: cmd,
        Tty: true,
        AttachStdout: true,
        AttachStderr: true,
      });
      assert.equal(created.status, 201, created.text);
      const { Id } = JSON.parse(created.text);
      const body = (
        await startExecHijacked(engine.socket, Id, { Detach: false, Tty: true, ConsoleSize: [30, 100] })
      ).body.toString();
      if (short) {
        assert.match(body, /^\/dev\/pts\/\d+\r\n$/, `round ${round}`);
        continue;
      }
      assert.ok(
        body.startsWith('first-line\r\n1\r\n2\r\n'),
        `the output starts with the first line: ${JSON.stringify(body.slice(0, 80))}`,
      );
      assert.ok(body.endsWith('\r\n20000\r\n'), `and ends with the last: ${JSON.stringify(body.slice(-40))}`);
    }
  });

  it('exec -it whose input comes while the process is already over still gets all its output (60 runs)', async () => {
    const c = await sleeper('exec-tty-input');
    // The CLI under a terminal sends what is typed (`script` sends a byte at once) while `tty` ends: the shim used
    // to close the stream with that input unread, the connection was reset and the output not yet read was lost
    // (4 times in 100). dockerd drops such input.
    for (let round = 0; round < 60; round++) {
      const created = await api('POST', `/containers/${c}/exec`, {
        Cmd: ['sh', '-c', 'tty'],
        Tty: true,
        AttachStdin: true,
        AttachStdout: true,
        AttachStderr: true,
      });
      assert.equal(created.status, 201, created.text);
      const { Id } = JSON.parse(created.text);
      const { body } = await startExecHijacked(
        engine.socket,
        Id,
        { Detach: false, Tty: true, ConsoleSize: [30, 100] },
        'x',
      );
      assert.match(body.toString(), /\/dev\/pts\/\d+\r\n/, `round ${round}`);
    }
  });

  it("frames exec output by the start request's Tty, not the exec's (moby's rule)", async () => {
    const c = await sleeper('exec-start-tty');
    const create = async (body: Record<string, unknown>) => {
      const r = await api('POST', `/containers/${c}/exec`, { AttachStdout: true, AttachStderr: true, ...body });
      assert.equal(r.status, 201, r.text);
      return JSON.parse(r.text).Id as string;
    };
    // A TTY process started without Tty: its terminal's bytes come as stdout frames (docker-py's demux reads them).
    const ttyExec = await create({ Cmd: ['tty'], Tty: true });
    const framed = await startExecHijacked(engine.socket, ttyExec, { Detach: false, Tty: false });
    assert.match(framed.head, /Content-Type: application\/vnd.docker.multiplexed-stream/);
    assert.deepEqual([...framed.body.subarray(0, 4)], [1, 0, 0, 0], 'a stdout frame');
    const len = framed.body.readUInt32BE(4);
    assert.match(framed.body.subarray(8, 8 + len).toString(), /^\/dev\/pts\/\d+\r\n$/);
    assert.equal(framed.body.length, 8 + len, 'one frame, nothing raw after it');
    // A process with pipes started with Tty: stdout raw, and stderr dropped as dockerd drops it.
    const pipeExec = await create({ Cmd: ['sh', '-c', 'echo out; sleep 0.1; echo err >&2'], Tty: false });
    const raw = await startExecHijacked(engine.socket, pipeExec, { Detach: false, Tty: true });
    assert.match(raw.head, /Content-Type: application\/vnd.docker.raw-stream/);
    assert.equal(raw.body.toString(), 'out\n');
    const inspect = JSON.parse((await api('GET', `/exec/${pipeExec}/json`)).text);
    assert.equal(inspect.ProcessConfig.tty, false, "the process keeps the exec's own Tty");
  });

  it('attach API: multiplexed frames without a TTY, resize 409 on a stopped container', async () => {
    const c = await sleeper('attach-api');
    await exec(c, ['true']);
    // A raw hijacked attach: the stream's framing as the CLI reads it.
    const a = await rawRequest(
      engine.socket,
      `POST /v1.45/containers/${c}/attach?stream=1&stdout=1&stderr=1 HTTP/1.1\r\nHost: d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n`,
    );
    await a.headerDone();
    assert.match(
      a.got().toString(),
      /^HTTP\/1.1 101 UPGRADED\r\nContent-Type: application\/vnd.docker.multiplexed-stream\r\n/,
    );
    a.sock.destroy();
    // It writes once the attach is there (a line on its stdin says so): nothing is missed, whatever the load.
    await runDetached('attach-frames', ['sh', '-c', 'read go; echo to-out; echo to-err >&2; sleep 600'], {
      openStdin: true,
    });
    const b = await rawRequest(
      engine.socket,
      `POST /containers/attach-frames/attach?stream=1&stdin=1&stdout=1&stderr=1 HTTP/1.1\r\nHost: d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n`,
    );
    await b.headerDone();
    b.sock.write('go\n');
    await b.waitFor(() => b.got().includes('to-err'), 'no framed output');
    b.sock.destroy();
    const body = b.got();
    const frames = body.subarray(body.indexOf('\r\n\r\n') + 4);
    assert.deepEqual([...frames.subarray(0, 8)], [1, 0, 0, 0, 0, 0, 0, 7]);
    assert.equal(frames.subarray(8, 15).toString(), 'to-out\n');
    assert.deepEqual([...frames.subarray(15, 23)], [2, 0, 0, 0, 0, 0, 0, 7]);
    assert.equal((await api('POST', `/containers/${c}/resize?h=10&w=20`)).status, 200);
    assert.equal((await api('POST', `/containers/${c}/stop?t=0`)).status, 204);
    const stopped = await api('POST', `/containers/${c}/resize?h=10&w=20`);
    assert.equal(stopped.status, 409);
    assert.match(JSON.parse(stopped.text).message, /is not running/);
  });

  it('attach: the engine honours detach keys (default and detachKeys=), and the plain 200 variant streams', async () => {
    await runDetached('detach-keys', ['sh', '-c', 'while read l; do echo "got $l"; done'], { openStdin: true });
    const hijack = (query: string, upgrade = true) =>
      rawRequest(
        engine.socket,
        `POST /containers/detach-keys/attach?${query} HTTP/1.1\r\nHost: d\r\n${upgrade ? 'Connection: Upgrade\r\nUpgrade: tcp\r\n' : ''}\r\n`,
      );
    const a = await hijack('stream=1&stdin=1&stdout=1');
    await a.headerDone();
    a.sock.write('one\n');
    await a.waitFor(() => a.got().includes('got one'), 'no echo');
    a.sock.write('\x10\x11');
    await a.waitFor(a.closed, 'ctrl-p ctrl-q did not end the attach');
    const b = await hijack('stream=1&stdin=1&stdout=1&detachKeys=ctrl-x,y');
    await b.headerDone();
    b.sock.write('two\n\x10\x11');
    await b.waitFor(() => b.got().includes('got two'), 'no echo');
    assert.equal(b.closed(), false, 'ctrl-p ctrl-q is not the detach sequence here');
    b.sock.write('\x18y');
    await b.waitFor(b.closed, 'ctrl-x y did not end the attach');
    assert.equal(await running('detach-keys'), true, 'detaching leaves it running');
    const plain = await hijack('stream=1&stdout=1', false);
    await plain.waitFor(() => /^HTTP\/1.1 200 /.test(plain.got().toString()), 'no 200');
    assert.match(plain.got().toString(), /Content-Type: application\/vnd.docker.multiplexed-stream/);
    await exec('detach-keys', ['sh', '-c', 'echo via-exec > /proc/1/fd/1']);
    await plain.waitFor(() => plain.got().includes('via-exec'), 'no output on the 200 variant');
    plain.sock.destroy();
    const bad = await api('POST', '/containers/detach-keys/attach?stream=1&detachKeys=ctrl-%C3%A9');
    assert.equal(bad.status, 400);
  });

  it('attach over a WebSocket: output as binary frames, input as stdin', async () => {
    await runDetached('attach-ws', ['sh', '-c', 'while read l; do echo "got $l"; done'], { openStdin: true });
    const key = crypto.randomBytes(16).toString('base64');
    const ws = await rawRequest(
      engine.socket,
      `GET /containers/attach-ws/attach/ws?stream=1&stdin=1&stdout=1 HTTP/1.1\r\nHost: d\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${key}\r\n\r\n`,
    );
    await ws.headerDone();
    assert.match(ws.got().toString(), /^HTTP\/1.1 101 Switching Protocols\r\n/);
    assert.ok(
      ws
        .got()
        .toString()
        .includes(
          crypto
            .createHash('sha1')
            .update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11') // RFC 6455's GUID
            .digest('base64'),
        ),
    );
    const payload = Buffer.from('hello ws\n');
    const mask = crypto.randomBytes(4);
    const masked = Buffer.from(payload.map((b, i) => b ^ mask[i & 3]));
    ws.sock.write(Buffer.concat([Buffer.from([0x82, 0x80 | payload.length]), mask, masked]));
    await ws.waitFor(() => ws.got().includes('got hello ws'), 'no echo over the WebSocket');
    const got = ws.got();
    const frameAt = got.indexOf('\r\n\r\n') + 4;
    assert.equal(got[frameAt], 0x82, 'a final binary frame');
    ws.sock.destroy();
  });

  it('runs 200 parallel short execs and leaves no process behind', async () => {
    const c = await sleeper('exec-many');
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        api('POST', `/containers/${c}/exec`, { Cmd: ['sh', '-c', `exit ${i % 7}`], AttachStdout: true })
          .then((r) => JSON.parse(r.text).Id as string)
          .then(async (id) => {
            await api('POST', `/exec/${id}/start`, { Detach: false });
            return JSON.parse((await api('GET', `/exec/${id}/json`)).text) as { ExitCode: number; Running: boolean };
          }),
      ),
    );
    results.forEach((r, i) => assert.deepEqual([r.Running, r.ExitCode], [false, i % 7]));
    const top = JSON.parse((await api('GET', `/containers/${c}/top`)).text);
    assert.equal(top.Processes.length, 1, "only the container's own process is left");
  });
});
