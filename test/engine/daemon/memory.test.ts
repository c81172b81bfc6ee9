// Idle memory of a fresh engine (issue 4: berthd ≤ 60 MB RSS; dockerd sits near 140 MB). What keeps it there:
// undici, tar-stream and fzstd load on first use (scripts/build.mjs), one namespace object per imported module,
// an ASCII-only bundle. This fails when one of those regresses, or when something new loads eagerly.
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { startEngine, type TestEngine } from '../../helpers/engine';

const LIMIT_MB = 60;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function status(pid: number): { rss: number; anon: number; file: number } {
  const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1] ?? NaN) / 1024;
  return { rss: kb('VmRSS'), anon: kb('RssAnon'), file: kb('RssFile') };
}

/** VmRSS once start-up work is over: sampled until two readings half a second apart agree within 0.5 MB. */
async function settledRss(pid: number) {
  let prev = status(pid);
  for (let i = 0; i < 20; i++) {
    await sleep(500);
    const cur = status(pid);
    if (Math.abs(cur.rss - prev.rss) < 0.5) return cur;
    prev = cur;
  }
  return prev;
}

/** The same node binary doing nothing: what the engine's own share is measured against in the message. */
async function bareNodeRss(): Promise<number> {
  const child = spawn(process.execPath, ['-e', 'process.stdout.write("up"); setTimeout(() => {}, 30000)'], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  try {
    await new Promise((resolve) => child.stdout!.once('data', resolve)); // started, not merely spawned
    return (await settledRss(child.pid!)).rss;
  } finally {
    child.kill('SIGKILL');
  }
}

describe('engine: idle memory', function () {
  this.timeout(60000);
  let engine: TestEngine;
  before(async () => {
    engine = await startEngine();
  });
  after(async () => engine?.cleanup());

  it(`a fresh engine settles at ≤ ${LIMIT_MB} MB resident`, async () => {
    const m = await settledRss(engine.process().pid!);
    const bare = await bareNodeRss();
    const detail = `berthd VmRSS ${m.rss.toFixed(1)} MB (anon ${m.anon.toFixed(1)}, file ${m.file.toFixed(1)}); bare node ${bare.toFixed(1)} MB`;
    console.log(`      (${detail})`);
    assert.ok(m.rss <= LIMIT_MB, `${detail}: over the ${LIMIT_MB} MB budget`);
  });

  it('stays there after the calls a client makes when it connects (what the extension does at activation)', async () => {
    await engine.client.ping();
    for (const p of [
      '/version',
      '/info',
      '/containers/json?all=1',
      '/images/json',
      '/volumes',
      '/networks',
      '/system/df',
    ]) {
      await engine.client.json('GET', p);
    }
    const m = await settledRss(engine.process().pid!);
    assert.ok(
      m.rss <= LIMIT_MB,
      `after the list calls: VmRSS ${m.rss.toFixed(1)} MB (anon ${m.anon.toFixed(1)}, file ${m.file.toFixed(1)})`,
    );
  });
});
