// The exec and logs pseudo-terminals against a real berthd: typed input reaches a TTY shell and its exit code comes
// back; a logs terminal keeps following when the container restarts (re-attaching on the engine's `start` event from
// the one /events subscription).
import * as assert from 'node:assert/strict';
import { EventWatcher } from '../../src/extension/engine/events';
import { StreamTerminal, execSession, attachSession, AUTO_SHELL } from '../../src/extension/terminals/exec';
import { LogsTerminal } from '../../src/extension/terminals/logs';
import { startEngine, type TestEngine } from '../helpers/engine';
import { pushFixture, startRegistry, type Registry } from '../fixtures';

function collect(t: { onDidWrite: (l: (s: string) => unknown) => unknown }): () => string {
  let out = '';
  t.onDidWrite((s) => (out += s));
  return () => out;
}

async function until(cond: () => boolean, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Types a line into a terminal until its output matches: busybox ash drops keys typed before its cursor-position
 * query is answered, and a resize reaches the TTY a moment later — nothing tells from outside when typing is safe.
 */
async function typeUntil(
  pty: { handleInput(s: string): void },
  out: () => string,
  line: string,
  re: RegExp,
  ms = 20_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    pty.handleInput(`\x15${line}\r`); // ctrl-u first: whatever half a line an earlier try left
    const retry = Math.min(deadline, Date.now() + 1500);
    while (Date.now() < retry) {
      if (re.test(out())) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    if (Date.now() >= deadline) throw new Error(`typed ${JSON.stringify(line)}; never saw ${re} in:\n${out()}`);
  }
}

describe('extension: terminals against a real engine', function () {
  this.timeout(120_000);
  let engine: TestEngine;
  let registry: Registry | undefined;
  const made: string[] = [];

  before(async () => {
    registry = await startRegistry();
    await pushFixture(registry, 'busybox', 'library/busybox');
    engine = await startEngine({ config: { 'registry-mirrors': [registry.url] } });
    for await (const m of engine.client.pullImage('busybox', 'latest')) if (m.error) throw new Error(m.error);
  });
  after(async () => {
    for (const id of made) await engine?.client.removeContainer(id, { force: true }).catch(() => undefined);
    await engine?.cleanup();
    await registry?.stop();
  });

  async function run(cmd: string[], opts: { tty?: boolean } = {}): Promise<string> {
    const { Id } = await engine.client.createContainer({
      Image: 'busybox:latest',
      Cmd: cmd,
      Tty: !!opts.tty,
      OpenStdin: !!opts.tty,
      AttachStdin: !!opts.tty,
      AttachStdout: !!opts.tty,
      AttachStderr: !!opts.tty,
    });
    made.push(Id);
    return Id;
  }

  it('exec: a TTY shell (sh when there is no bash), typed input, resize, exit code', async () => {
    const id = await run(['sleep', '300']);
    await engine.client.startContainer(id);
    const pty = new StreamTerminal(execSession(engine.client, id), 'shell');
    const out = collect(pty);
    pty.open({ columns: 100, rows: 30 });
    // The prompt, then possibly terminal queries (ash asks for the cursor position).
    await until(() => /[#$] (\x1b\[[0-9;?]*[A-Za-z]|\r)*$/.test(out()), 'a prompt');
    pty.setDimensions({ columns: 77, rows: 21 });
    await typeUntil(pty, out, 'stty size', /21 77/);
    pty.handleInput('echo "$0 $((6*7))"; exit 5\r');
    const code = await pty.done;
    assert.equal(code, 5);
    assert.match(out(), /21 77/, 'the resize reached the TTY');
    assert.match(out(), /(^|\n)(bash|sh) 42/m, 'the automatic shell ran the typed command');
    assert.match(out(), /shell exited with code 5/);
    let closed = false;
    pty.onDidClose(() => (closed = true));
    pty.handleInput('x');
    assert.equal(closed, true, 'a key closes the ended terminal');
    assert.deepEqual(AUTO_SHELL.slice(0, 2), ['/bin/sh', '-c']);
  });

  it('exec: keys typed before the session connects are not lost', async () => {
    const id = await run(['sleep', '300']);
    await engine.client.startContainer(id);
    const pty = new StreamTerminal(execSession(engine.client, id), 'shell');
    const out = collect(pty);
    pty.open(undefined);
    pty.handleInput('echo early-$((40+2)); exit 4\r');
    assert.equal(await pty.done, 4);
    assert.match(out(), /early-42/);
  });

  function assertWhole(text: string) {
    assert.equal((text.match(/\ufffd/g) ?? []).length, 0, 'no character was cut in two');
    assert.equal((text.match(/€/g) ?? []).length, 20000);
  }

  it('exec: multi-byte characters split across chunks arrive whole', async () => {
    const id = await run(['sleep', '300']);
    await engine.client.startContainer(id);
    // Output in large writes of varying characters: the engine's chunks end inside multi-byte characters.
    const pty = new StreamTerminal(
      execSession(engine.client, id, ['awk', 'BEGIN { for (i = 0; i < 20000; i++) printf "%dé€é", i }']),
      'flood',
    );
    const out = collect(pty);
    pty.open({ columns: 80, rows: 24 });
    assert.equal(await pty.done, 0);
    assertWhole(out());
  });

  it('exec: an error opening the session is shown, not thrown', async () => {
    const pty = new StreamTerminal(execSession(engine.client, 'no-such-container-berth'), 'shell');
    const out = collect(pty);
    pty.open(undefined);
    assert.equal(await pty.done, undefined);
    assert.match(out(), /could not open shell: .*no such container.*no-such-container-berth/i);
  });

  it('attach: an interactive (-it) container gets typed input and reports its exit code', async () => {
    const id = await run(['sh'], { tty: true });
    const pty = new StreamTerminal(attachSession(engine.client, id), 'run');
    const out = collect(pty);
    pty.open({ columns: 80, rows: 24 });
    await typeUntil(pty, out, 'echo attached-$((2+3))', /attached-5/);
    pty.handleInput('exit 7\r');
    assert.equal(await pty.done, 7);
  });

  it('logs: multi-byte characters split across frames arrive whole, with and without a TTY', async () => {
    for (const tty of [false, true]) {
      // Lines of varying length (the json-file log splits messages over 16 KiB, cutting a character there, as
      // Docker does), so the HTTP chunks of the logs stream end inside characters.
      const id = await run(['awk', 'BEGIN { for (i = 0; i < 20000; i++) print i "é€é" }'], { tty });
      await engine.client.startContainer(id);
      await engine.client.waitContainer(id, 'not-running');
      const logs = new LogsTerminal(() => engine.client, id, 'flood', {
        tail: 'all',
        timestamps: false,
        onEvent: () => ({ dispose() {} }),
      });
      const out = collect(logs);
      try {
        logs.open();
        await until(() => /stopped \(exit code 0\)/.test(out()), `the end of the ${tty ? 'TTY' : 'plain'} logs`);
        assertWhole(out());
      } finally {
        logs.close();
      }
    }
  });

  it('logs: follows, then keeps following across a restart without repeating lines', async () => {
    const id = await run([
      'sh',
      '-c',
      'echo run-start; i=0; while [ $i -lt 100 ]; do echo line-$i; i=$((i+1)); sleep 0.2; done',
    ]);
    await engine.client.startContainer(id);
    const events = new EventWatcher(() => engine.client, { debounceMs: 20 });
    events.start();
    await until(() => events.state === 'connected', 'the event stream');
    const logs = new LogsTerminal(() => engine.client, id, 'ticker', {
      tail: 'all',
      timestamps: false,
      onEvent: (l) => events.onEvent(l),
    });
    const out = collect(logs);
    try {
      logs.open();
      await until(() => /line-2\r\n/.test(out()), 'the first lines');
      await engine.client.restartContainer(id, { t: 0 });
      await until(
        () => /started again — following\][\s\S]*run-start\r\n[\s\S]*line-1\r\n/.test(out()),
        'the second run',
        30_000,
      );
      assert.ok(logs.attachCount >= 2, 're-attached');
      // The first run's lines are not shown again after the re-attach.
      const afterRestart = out().split('started again')[1];
      assert.equal((afterRestart.match(/run-start/g) ?? []).length, 1, afterRestart);
      await engine.client.stopContainer(id, { t: 0 });
      await until(() => /stopped \(exit code \d+\) — waiting for it to start again/.test(out()), 'the stop notice');
      await engine.client.startContainer(id);
      await until(() => (out().match(/started again/g) ?? []).length >= 2, 'a third run');
    } finally {
      logs.close();
      events.dispose();
    }
  });
});

describe('extension: the event watcher', function () {
  this.timeout(60_000);
  it('reconnects after the engine restarts and refreshes everything on reconnect', async () => {
    const engine = await startEngine();
    let lookups = 0;
    const w = new EventWatcher(() => engine.client, {
      debounceMs: 10,
      minRetryMs: 100,
      maxRetryMs: 200,
      beforeConnect: async () => {
        lookups++;
      },
    });
    const states: string[] = [];
    const batches: string[][] = [];
    w.onState((s) => states.push(s));
    w.onChange((k) => batches.push([...k].sort()));
    try {
      w.start();
      await until(() => w.state === 'connected' && batches.length === 1, 'the first connection');
      assert.deepEqual(batches[0], ['container', 'image', 'network', 'volume']);
      await engine.stop();
      await until(() => w.state === 'disconnected', 'the disconnect');
      await engine.restart();
      await until(() => w.state === 'connected' && batches.length === 2, 'the reconnection', 20_000);
      assert.deepEqual(states.slice(0, 3), ['connected', 'disconnected', 'connected']);
      assert.ok(lookups >= 2, `the engine was looked up again before reconnecting (${lookups})`);
    } finally {
      w.dispose();
      await engine.cleanup();
    }
  });
});
