// npm run bench's rootless rows (issue 14): `run --rm busybox true`, `exec` and a cold pull of the big image on a
// rootless Berth (an ordinary user's berthd in its own namespaces), against the rootful Berth of the same run and
// rootless Podman (Debian's, as the same user) — the anchor a user without root has today. Engines take turns
// (A B C A B C …) and each figure is a median; ratios are of medians taken in this run.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Registry } from '../test/fixtures';
import { processesOf, ROOTLESS_TOOLS, startRootlessEngine, stockTunDevice, testUser } from '../test/helpers/rootless';
import type { BreakdownEngine } from './bench/run-breakdown';

type Run = (args: string[]) => { code: number; stdout: string; stderr: string };

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const must = (r: { code: number; stdout: string; stderr: string }, what: string) => {
  if (r.code !== 0) throw new Error(`${what}: ${(r.stderr || r.stdout).trim().split('\n').pop()}`);
  return r.stdout;
};
const time = (fn: () => void) => {
  const t = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
};

export async function rootlessBenchRows(reg: Registry, rootful: Run, runs: number): Promise<string[]> {
  stockTunDevice(); // this machine's /dev/net/tun is 0600; distributions ship 0666 (see test/helpers/rootless.ts)
  const user = testUser(process.env.BENCH_ROOTLESS_USER ?? 'berth-rl-c', true); // not the rootless suites' user: a bench and those tests may run side by side
  const engine = await startRootlessEngine(user, { config: { 'insecure-registries': [reg.host] } });
  // Rootless Podman as the same user, with its own storage: runc (crun refuses this host's hybrid cgroups), cgroupfs
  // and file events (no systemd user session here),
  // nofile within this host's hard limit (podman's default 1048576 fails here).
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-bench-podman-'));
  const runtime = path.join(home, 'run');
  fs.mkdirSync(runtime, { mode: 0o700 });
  for (const d of [home, runtime]) fs.chownSync(d, user.uid, user.gid);
  const podman: Run = (args) => {
    const r = spawnSync('podman', ['--runtime=runc', '--cgroup-manager=cgroupfs', '--events-backend=file', ...args], {
      uid: user.uid,
      gid: user.gid,
      cwd: home,
      env: { PATH: process.env.PATH, HOME: home, USER: user.name, XDG_RUNTIME_DIR: runtime },
      encoding: 'utf8',
      timeout: 600_000,
    });
    return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  };
  const rootless: Run = (args) => engine.docker(args, { timeoutMs: 600_000 });
  const busybox = `${reg.host}/library/busybox:latest`;
  const big = `${reg.host}/bench/big:latest`;
  const engines: { name: string; run: Run; pull: string[]; runArgs: string[] }[] = [
    { name: 'rootless berthd', run: rootless, pull: ['pull', '-q'], runArgs: [] },
    { name: 'rootful berthd', run: rootful, pull: ['pull', '-q'], runArgs: [] },
    {
      name: 'rootless podman',
      run: podman,
      pull: ['pull', '-q', '--tls-verify=false'],
      runArgs: ['--ulimit', 'nofile=1024:1024'],
    },
  ];
  const rows: string[] = [];
  try {
    for (const e of engines) must(e.run([...e.pull, busybox]), `${e.name}: pull busybox`);
    const workloads: {
      name: string;
      setup?: (e: (typeof engines)[0]) => void;
      run: (e: (typeof engines)[0]) => number;
    }[] = [
      {
        name: 'run --rm busybox true (default network)',
        run: (e) => time(() => must(e.run(['run', '--rm', ...e.runArgs, busybox, 'true']), `${e.name}: run`)),
      },
      {
        name: 'exec CTR true',
        setup: (e) => {
          e.run(['rm', '-f', 'bench-exec']);
          must(
            e.run(['run', '-d', '--name', 'bench-exec', ...e.runArgs, busybox, 'sleep', '600']),
            `${e.name}: run -d`,
          );
        },
        run: (e) => time(() => must(e.run(['exec', 'bench-exec', 'true']), `${e.name}: exec`)),
      },
      {
        // Without a seccomp filter the shim enters the container itself, rootless too (native/berth-shim/enter.c);
        // with one (the row above) a rootless engine goes through runc exec: the kernel shows a filter only to root.
        name: 'exec CTR true (seccomp=unconfined)',
        setup: (e) => {
          e.run(['rm', '-f', 'bench-exec-unconfined']);
          must(
            e.run([
              ...['run', '-d', '--name', 'bench-exec-unconfined', '--security-opt', 'seccomp=unconfined'],
              ...[...e.runArgs, busybox, 'sleep', '600'],
            ]),
            `${e.name}: run -d`,
          );
        },
        run: (e) => time(() => must(e.run(['exec', 'bench-exec-unconfined', 'true']), `${e.name}: exec`)),
      },
      {
        name: 'cold pull, 5 layers 150 MB',
        setup: (e) => {
          e.run(['rmi', '-f', big]);
        },
        run: (e) => time(() => must(e.run([...e.pull, big]), `${e.name}: pull big`)),
      },
    ];
    rows.push(
      '',
      `${'rootless (issue 14)'.padEnd(44)} ${'rootless'.padStart(10)} ${'rootful'.padStart(10)} ${'podman rl'.padStart(10)}  rl/podman  rl/rootful  goals: ≤ 0.5 and ≤ 1.5`,
    );
    for (const w of workloads) {
      const figures: Record<string, number[]> = {};
      let failure = '';
      try {
        const onceEach = w.name.startsWith('cold pull') ? Math.min(runs, 3) : runs;
        if (w.setup) for (const e of engines) w.setup(e);
        for (let i = 0; i < onceEach + 1; i++) {
          for (const e of engines) {
            if (i > 0 && w.name.startsWith('cold pull')) w.setup?.(e);
            if (i === 0 && w.name.startsWith('cold pull')) continue; // no warm-up for a cold pull
            const v = w.run(e);
            if (i > 0) (figures[e.name] ??= []).push(v);
          }
        }
      } catch (err: any) {
        failure = err.message.slice(0, 100);
      }
      const m = engines.map((e) => (figures[e.name]?.length ? median(figures[e.name]) : undefined));
      const fmt = (v?: number) =>
        v === undefined ? 'n/a' : v >= 10_000 ? `${(v / 1000).toFixed(2)} s` : `${v.toFixed(0)} ms`;
      const ratio = (a?: number, b?: number) => (a !== undefined && b !== undefined ? (a / b).toFixed(2) : 'n/a');
      rows.push(
        `${w.name.padEnd(44)} ${fmt(m[0]).padStart(10)} ${fmt(m[1]).padStart(10)} ${fmt(m[2]).padStart(10)}  ${ratio(m[0], m[2]).padStart(9)}  ${ratio(m[0], m[1]).padStart(10)}${failure ? `  [${failure}]` : ''}`,
      );
      process.stderr.write(`${rows[rows.length - 1]}\n`);
    }
  } finally {
    for (const e of engines) e.run(['rm', '-f', 'bench-exec', 'bench-exec-unconfined']);
    podman(['system', 'reset', '--force']);
    await engine.cleanup();
    for (const line of processesOf(user)) spawnSync('kill', ['-9', line.split(' ')[0]]);
    fs.rmSync(home, { recursive: true, force: true });
  }
  return rows;
}

/**
 * A rootless berthd for the run breakdown (`npm run bench -- breakdown`): debug log on, so its start phases stand
 * beside the rootful engine's. undefined where this host cannot run one (not root, no uidmap/slirp4netns).
 */
export async function rootlessBreakdownEngine(
  reg: Registry,
): Promise<{ target: BreakdownEngine; pull: (image: string) => void; cleanup: () => Promise<void> } | undefined> {
  if (!ROOTLESS_TOOLS.present()) return undefined;
  stockTunDevice(); // as in rootlessBenchRows
  const user = testUser(process.env.BENCH_ROOTLESS_USER ?? 'berth-rl-c', true);
  const engine = await startRootlessEngine(user, { config: { 'insecure-registries': [reg.host], debug: true } });
  return {
    target: { name: 'rootless berthd', socket: engine.socket, logFile: path.join(engine.dir, 'berthd.log') },
    pull: (image) => must(engine.docker(['pull', '-q', image]), 'rootless berthd: pull'),
    cleanup: () => engine.cleanup(),
  };
}
