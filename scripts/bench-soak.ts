// npm run bench's soak row (issue 18): one bounded run of 1,000 `docker run --rm` cycles, with 200 concurrent mixed
// API calls every 100 cycles and 50 event subscribers reading the whole time. berthd's open files, RSS, mounts,
// veths and iptables rules are counted before and after; nothing may grow but caches with a stated bound.
// `npm run bench soak` runs it alone; BERTH_SOAK_CYCLES makes it shorter (a trial run).
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { TestEngine } from '../test/helpers/engine';

interface Counts {
  fds: number;
  rssMb: number;
  mounts: number;
  veths: number;
  iptables: number;
}

/**
 * What each count may grow by over the run, and why: nothing but caches with a bound of their own. RSS is read
 * once the engine has been idle long enough to give memory back (src/engine/daemon/idle-memory.ts); what may stay
 * is the events history (1,024 events, src/engine/events) and V8's code for paths first taken during the run.
 */
export const SOAK_BOUNDS: Record<keyof Counts, { growth: number; why: string }> = {
  fds: { growth: 0, why: 'no growth' },
  rssMb: { growth: 10, why: 'events history (1,024 events) + code first run here' },
  mounts: { growth: 0, why: 'no growth' },
  veths: { growth: 0, why: 'no growth' },
  iptables: { growth: 0, why: 'no growth' },
};

/** How long the engine is left without requests before its RSS is read: its idle collection runs within ~6 s. */
export const IDLE_SETTLE_MS = 10_000;

function counts(engine: TestEngine): Counts {
  const pid = engine.process().pid!;
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const mountinfo = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  return {
    fds: fs.readdirSync(`/proc/${pid}/fd`).length,
    rssMb: Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0) / 1024,
    // The engine's own mounts: below its data and exec roots.
    mounts: mountinfo.split('\n').filter((l) => l.includes(engine.dataRoot) || l.includes(engine.execRoot)).length,
    veths: spawnSync('ip', ['-o', 'link', 'show', 'type', 'veth'], { encoding: 'utf8' })
      .stdout.split('\n')
      .filter(Boolean).length,
    iptables: spawnSync('iptables-save', [], { encoding: 'utf8' })
      .stdout.split('\n')
      .filter((l) => /^-A /.test(l)).length,
  };
}

/** N clients following /events, each reading (and counting) what comes. */
function subscribers(socketPath: string, n: number): { received: () => number[]; close: () => void } {
  const received = new Array<number>(n).fill(0);
  const reqs: http.ClientRequest[] = [];
  for (let i = 0; i < n; i++) {
    const req = http.get({ socketPath, path: '/events', headers: { Host: 'localhost' } }, (res) => {
      res.on('data', (d: Buffer) => {
        for (const b of d) if (b === 10) received[i]++;
      });
      res.on('error', () => {});
    });
    req.on('error', () => {});
    reqs.push(req);
  }
  return { received: () => received, close: () => reqs.forEach((r) => r.destroy()) };
}

/** 200 API calls at once, of the kinds clients make while containers come and go. */
async function burst(socketPath: string, agent: http.Agent): Promise<{ ms: number; failed: number }> {
  const paths = ['/containers/json?all=1', '/images/json', '/info', '/version', '/networks', '/volumes', '/_ping'];
  const t = Date.now();
  let failed = 0;
  await Promise.all(
    Array.from(
      { length: 200 },
      (_, i) =>
        new Promise<void>((resolve) => {
          const req = http.get(
            { socketPath, agent, path: paths[i % paths.length], headers: { Host: 'localhost' } },
            (res) => {
              if ((res.statusCode ?? 500) >= 400) failed++;
              res.resume();
              res.on('end', resolve);
            },
          );
          req.on('error', () => {
            failed++;
            resolve();
          });
        }),
    ),
  );
  return { ms: Date.now() - t, failed };
}

function runRm(dockerHost: string, configDir: string, image: string): Promise<number> {
  return new Promise((resolve) => {
    const p = spawn(
      'docker',
      ['--config', configDir, '-H', dockerHost, 'run', '--rm', '--label', 'berth.soak=1', image, 'true'],
      {
        stdio: 'ignore',
      },
    );
    p.on('close', (code) => resolve(code ?? 1));
  });
}

export async function soakRows(engine: TestEngine, image: string, configDir: string): Promise<string[]> {
  const cycles = Number(process.env.BERTH_SOAK_CYCLES ?? 1000);
  const concurrency = 4;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  spawnSync('docker', ['--config', configDir, '-H', engine.host, 'pull', '-q', image]);
  // One cycle first: lazily made state (the default bridge, its rules, caches) belongs to "before".
  await runRm(engine.host, configDir, image);
  await new Promise((r) => setTimeout(r, IDLE_SETTLE_MS));
  const before = counts(engine);
  const subs = subscribers(engine.socket, 50);
  const started = Date.now();
  let done = 0;
  let failedRuns = 0;
  let failedCalls = 0;
  const burstMs: number[] = [];
  let nextBurst = 100;
  // What the counters see while containers come and go: proof that they see what the engine makes (a row that
  // reads 0 → 0 must not be a counter that sees nothing).
  const peak = { mounts: 0, veths: 0, iptables: 0 };
  const worker = async () => {
    while (done < cycles) {
      done++;
      if ((await runRm(engine.host, configDir, image)) !== 0) failedRuns++;
      if (done >= nextBurst) {
        nextBurst += 100;
        const now = counts(engine);
        for (const k of ['mounts', 'veths', 'iptables'] as const) peak[k] = Math.max(peak[k], now[k]);
        const b = await burst(engine.socket, agent);
        burstMs.push(b.ms);
        failedCalls += b.failed;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsed = (Date.now() - started) / 1000;
  const events = subs.received();
  subs.close();
  agent.destroy();
  // Closed connections and exited shims reaped, the engine idle long enough to give memory back.
  await new Promise((r) => setTimeout(r, IDLE_SETTLE_MS));
  const after = counts(engine);
  const row = (name: string, value: string, target: string) => `${name.padEnd(48)} ${value.padStart(25)}   ${target}`;
  const delta = (k: keyof Counts, digits = 0) => `${before[k].toFixed(digits)} → ${after[k].toFixed(digits)}`;
  const bounded = (name: string, k: keyof Counts, digits = 0) => {
    const { growth, why } = SOAK_BOUNDS[k];
    const verdict = after[k] - before[k] <= growth ? 'PASS' : 'FAIL';
    return row(name, delta(k, digits), `${verdict}: growth ≤ ${growth} (${why})`);
  };
  return [
    '',
    `soak: ${cycles} run --rm cycles (${concurrency} at a time), 200 concurrent API calls every 100, 50 event subscribers`,
    row(
      'soak: wall time, failed runs / failed API calls',
      `${elapsed.toFixed(0)} s, ${failedRuns} / ${failedCalls}`,
      `${failedRuns + failedCalls === 0 ? 'PASS' : 'FAIL'}: 0 / 0`,
    ),
    row(
      'soak: events per subscriber, fewest – most',
      `${Math.min(...events)} – ${Math.max(...events)}`,
      `${Math.min(...events) === Math.max(...events) && Math.min(...events) >= cycles * 4 ? 'PASS' : 'FAIL'}: equal, ≥ ${cycles * 4} (create, start, die, destroy…)`,
    ),
    row(
      'soak: 200-call burst, median',
      `${[...burstMs].sort((a, b) => a - b)[Math.floor(burstMs.length / 2)] ?? 0} ms`,
      '—',
    ),
    bounded('soak: berthd open files', 'fds'),
    bounded(`soak: berthd RSS (MB), idle ${IDLE_SETTLE_MS / 1000} s`, 'rssMb', 1),
    bounded("soak: the engine's mounts", 'mounts'),
    bounded('soak: veth interfaces', 'veths'),
    bounded('soak: iptables rules', 'iptables'),
    row(
      'soak: mounts / veths / iptables rules, most seen during the run',
      `${peak.mounts} / ${peak.veths} / ${peak.iptables}`,
      'the counters see what the engine makes',
    ),
  ];
}
