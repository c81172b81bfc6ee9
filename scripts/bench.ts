// npm run bench: the same docker CLI workload against berthd and a reference dockerd (Debian's docker.io,
// benchmark-only, installed by install-deps.sh --bench) in one run, pair by pair (A B A B …), printing medians and
// ratios. The reference runs as dockerd runs for users — its bridge, NAT and userland proxy — in a network namespace
// of its own (scripts/ref-dockerd.sh), so the default-bridge rows compare bridged with bridged.
// Only public tools: the docker CLI, /proc for memory, node's clock.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startEngine, type TestEngine, ROOT } from '../test/helpers/engine';
import { IDLE_SETTLE_MS, soakRows } from './bench-soak';
import { buildFixture, pushFixture, readLayer, startRegistry, type Registry } from '../test/fixtures';
import { vmBenchRows } from './bench-vm';
import { type ScaleEngine, scaleCurves, scaleRows } from './bench/scale';
import { type BreakdownEngine, runBreakdown } from './bench/run-breakdown';
import { type ExecBreakdownEngine, execBreakdown } from './bench/exec-breakdown';
import { rootlessBenchRows, rootlessBreakdownEngine } from './bench-rootless';

interface Engine {
  name: string;
  host: string;
  execRoot?: string;
  docker(args: string[], input?: string): { code: number; stdout: string; stderr: string };
  pids(): number[];
}

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const helperPss: Record<string, number> = {};
const only = process.argv.slice(2);

function dockerOn(host: string, configDir: string) {
  return (args: string[], input?: string) => {
    const r = spawnSync('docker', ['-H', host, ...args], {
      input,
      encoding: 'utf8',
      // DOCKER_BUILDKIT=0: builds go to the classic builder's API on both engines (berthd has no BuildKit).
      env: { ...process.env, DOCKER_CONFIG: configDir, DOCKER_BUILDKIT: '0' },
      maxBuffer: 1 << 30,
      timeout: 600_000,
    });
    return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  };
}

function must(r: { code: number; stdout: string; stderr: string }, what: string) {
  if (r.code !== 0) throw new Error(`${what}: ${r.stderr.trim() || r.stdout.trim()}`);
  return r.stdout;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function rssOf(pid: number): number {
  // kB
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}
function pssOf(pid: number): number {
  // kB
  try {
    return Number(/Pss:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}
function childrenNamed(name: RegExp): number[] {
  return fs
    .readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number)
    .filter((pid) => {
      try {
        return name.test(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' '));
      } catch {
        return false;
      }
    });
}

interface Workload {
  name: string;
  target: string;
  /** Prepares state before each timed run (not timed). */
  setup?(e: Engine): void;
  /** The timed part; returns a figure (ms, or a rate with `unit`). */
  run(e: Engine): number;
  teardown?(e: Engine): void;
  unit?: 'ms' | 'MB/s' | 'MB';
  higherIsBetter?: boolean;
}

function time(fn: () => void): number {
  const t = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
}

function workloads(reg: Registry): Workload[] {
  const busybox = `${reg.host}/library/busybox:latest`;
  const big = `${reg.host}/bench/big:latest`;
  // Only the bench's own containers: the reference dockerd may hold others'.
  const rmAll = (e: Engine) => {
    const ids = e.docker(['ps', '-aq', '--filter', 'label=berth.bench']).stdout.split('\n').filter(Boolean);
    if (ids.length) e.docker(['rm', '-f', ...ids]);
  };
  /** 20 `run -d` in a row, timed per container, with the given network flags. */
  const twentyDetached = (network: string[]): Omit<Workload, 'name'> => ({
    target: '≤ 0.5',
    setup: (e) => {
      must(e.docker(['pull', '-q', busybox]), 'pull busybox');
      rmAll(e);
    },
    run: (e) =>
      time(() => {
        for (let i = 0; i < 20; i++)
          must(e.docker(['run', '-d', '--label', 'berth.bench=1', ...network, busybox, 'sleep', '600']), 'run -d');
      }) / 20,
    teardown: rmAll,
  });
  return [
    {
      name: 'docker version (API round trip)',
      target: '—',
      run: (e) => time(() => must(e.docker(['version']), 'version')),
    },
    {
      name: 'cold pull, 5 layers 150 MB (10,000-file layer)',
      target: '≤ 0.75',
      // Every copy, also those earlier runs left under other registry ports: a layer still present elsewhere
      // would make dockerd's "cold" pull a re-pull.
      setup: (e) => {
        const ids = e.docker(['images', '-q', '--filter', 'reference=*/bench/big']).stdout.split('\n').filter(Boolean);
        e.docker(['rmi', '-f', big, ...new Set(ids)]);
      },
      run: (e) => time(() => must(e.docker(['pull', '-q', big]), 'pull big')),
    },
    {
      name: 're-pull of a present image',
      target: '≤ 1.0',
      setup: (e) => must(e.docker(['pull', '-q', big]), 'pull'),
      run: (e) => time(() => must(e.docker(['pull', '-q', big]), 're-pull')),
    },
    {
      name: 'docker run --rm busybox true',
      target: '≤ 0.5',
      setup: (e) => must(e.docker(['pull', '-q', busybox]), 'pull busybox'),
      run: (e) =>
        time(() =>
          must(e.docker(['run', '--rm', '--label', 'berth.bench=1', '--network', 'none', busybox, 'true']), 'run'),
        ),
    },
    {
      // What most users type: the default bridge network (veth, address, NAT, firewall) made and unmade.
      name: 'docker run --rm busybox true, default bridge',
      target: '≤ 0.5',
      setup: (e) => must(e.docker(['pull', '-q', busybox]), 'pull busybox'),
      run: (e) => time(() => must(e.docker(['run', '--rm', '--label', 'berth.bench=1', busybox, 'true']), 'run')),
    },
    {
      ...twentyDetached(['--network', 'none']),
      name: 'start 20 detached containers (per container)',
      teardown: (e) => {
        // While 20 containers run: what each one's helper costs (berth-shim, or dockerd's containerd-shim).
        const shims = childrenNamed(
          e.name === 'berthd' ? new RegExp(`berth-shim.*${e.execRoot ?? ''}`) : /containerd-shim.*berthref/,
        );
        if (shims.length) helperPss[e.name] = median(shims.map(pssOf)) / 1024;
        rmAll(e);
      },
    },
    // Both engines bridged with NAT (the reference dockerd has its docker0 in its own network namespace).
    { ...twentyDetached([]), name: 'start 20 detached, default bridge (per container)' },
    {
      name: 'docker exec CTR true',
      target: '≤ 0.5',
      setup: (e) => {
        rmAll(e);
        must(
          e.docker([
            'run',
            '-d',
            '--name',
            'bench-exec',
            '--label',
            'berth.bench=1',
            '--network',
            'none',
            busybox,
            'sleep',
            '600',
          ]),
          'run',
        );
      },
      // The median of 10 execs per run: one exec is ~20-40 ms, mostly the CLI's own start-up, so a single busy
      // moment of the machine would otherwise decide the pair.
      run: (e) =>
        median(Array.from({ length: 10 }, () => time(() => must(e.docker(['exec', 'bench-exec', 'true']), 'exec')))),
      teardown: rmAll,
    },
    {
      name: 'TTY echo round trip (exec -it, one key)',
      target: 'reported',
      setup: (e) => {
        rmAll(e);
        must(
          e.docker([
            'run',
            '-d',
            '--name',
            'bench-tty',
            '--label',
            'berth.bench=1',
            '--network',
            'none',
            busybox,
            'sleep',
            '600',
          ]),
          'run',
        );
      },
      run: (e) => {
        const r = spawnSync(
          process.execPath,
          [path.join(__dirname, 'tty-echo.mjs'), e.host.replace(/^unix:\/\//, ''), 'bench-tty', '50'],
          { encoding: 'utf8', timeout: 60_000 },
        );
        if (r.status !== 0) throw new Error(`tty echo: ${r.stderr}`);
        return Number(r.stdout.trim());
      },
      teardown: rmAll,
    },
    ...buildWorkloads(busybox),
    {
      name: 'docker logs of a 100 MB json-file log',
      target: '≥ 5 (throughput)',
      unit: 'MB/s',
      higherIsBetter: true,
      setup: (e) => {
        if (e.docker(['inspect', 'bench-logs']).code === 0) return;
        must(
          e.docker([
            'run',
            '--name',
            'bench-logs',
            '--network',
            'none',
            busybox,
            'sh',
            '-c',
            'yes "berth bench log line: the quick brown fox jumps over the lazy dog 0123456789" | head -c 100000000',
          ]),
          'log writer',
        );
      },
      run: (e) => {
        let bytes = 0;
        const ms = time(() => {
          bytes = must(e.docker(['logs', 'bench-logs']), 'logs').length;
        });
        if (bytes < 99_000_000) throw new Error(`logs returned only ${bytes} bytes`);
        return bytes / 1e6 / (ms / 1000);
      },
    },
  ];
}

/** The big image is what the pull rows measure: 5 layers, ~150 MB raw, ~60 MB gzipped, one layer of 10,000 files. */
async function checkBigFixture(): Promise<void> {
  const img = await buildFixture('big');
  const raw = img.layers.reduce((n, l) => n + l.uncompressedSize, 0);
  const gz = img.layers.reduce((n, l) => n + l.size, 0);
  const small = (await readLayer(img.layers[0])).filter(
    (e) => e.header.type === 'file' && e.header.name.startsWith('srv/small/'),
  ).length;
  const problems = [
    img.layers.length !== 5 && `${img.layers.length} layers`,
    !(raw > 130e6 && raw < 170e6) && `uncompressed ${raw}`,
    !(gz > 45e6 && gz < 75e6) && `compressed ${gz}`,
    small !== 10_000 && `${small} small files`,
    !img.layers.slice(1).every((l) => l.uncompressedSize > 25e6) && 'a small large layer',
  ].filter(Boolean);
  if (problems.length) throw new Error(`the big bench image is not what the rows assume: ${problems.join(', ')}`);
}

/**
 * The bench image's build: five steps (a base, a source tree copied in, a RUN that works on it, ENV, CMD), from
 * scratch, fully cached, and after one source file changed — the edit-build loop. RUN steps without a network
 * on both engines (the cost of networking has rows of its own).
 */
function buildWorkloads(busybox: string): Workload[] {
  const ctx = fs.mkdtempSync('/tmp/berth-bench-build-');
  fs.mkdirSync(path.join(ctx, 'src', 'lib'), { recursive: true });
  for (let i = 0; i < 40; i++)
    fs.writeFileSync(path.join(ctx, 'src', 'lib', `mod${i}.js`), `exports.v = ${i};\n`.repeat(200));
  fs.writeFileSync(path.join(ctx, 'src', 'main.txt'), 'main\n');
  fs.writeFileSync(
    path.join(ctx, 'Dockerfile'),
    [
      `FROM ${busybox}`,
      'COPY src/ /app/',
      'RUN cd /app && for i in $(seq 1 200); do echo $i > gen-$i.txt; done && cat lib/*.js | wc -l > lines.txt',
      'ENV APP=/app',
      'CMD ["cat", "/app/main.txt"]',
    ].join('\n'),
  );
  const build = (e: Engine, extra: string[] = []) =>
    time(() => must(e.docker(['build', '-q', '--network', 'none', ...extra, '-t', 'berth-bench-build', ctx]), 'build'));
  const pull = (e: Engine) => must(e.docker(['pull', '-q', busybox]), 'pull busybox');
  // The reference keeps its build cache across bench runs (its data root stays): an edit must never be one it has
  // built before, or its "changed" build is a cache hit.
  const benchRun = `${process.pid}-${Date.now()}`;
  let edits = 0;
  return [
    {
      name: 'docker build, 5 steps, no cache',
      target: '≤ 1.0',
      setup: pull,
      run: (e) => build(e, ['--no-cache']),
    },
    {
      name: 'docker build, 5 steps, fully cached',
      target: '≤ 0.5',
      setup: (e) => {
        pull(e);
        build(e);
      },
      run: (e) => build(e),
    },
    {
      name: 'docker build after one source file changed',
      target: '≤ 1.0',
      setup: (e) => {
        pull(e);
        build(e);
        fs.writeFileSync(path.join(ctx, 'src', 'main.txt'), `main ${benchRun}-${++edits}\n`);
      },
      run: (e) => build(e),
    },
  ];
}

async function main() {
  // The soak row alone (`npm run bench soak`) measures berthd only: no reference to start.
  const soakOnly = only.length > 0 && only.every((o) => o === 'soak');
  // BENCH_NO_DOCKERD=1: berthd's own figures (e.g. the breakdown's phases) while the shared reference is busy.
  const dockerdAvailable =
    !soakOnly &&
    !process.env.BENCH_NO_DOCKERD &&
    spawnSync('sh', ['-c', 'command -v dockerd'], { stdio: 'ignore' }).status === 0;
  const reg = await startRegistry();
  let berth: TestEngine | undefined;
  const results: string[] = [];
  const scaleCurveLines: string[] = [];
  try {
    process.stderr.write('building and pushing fixture images…\n');
    await pushFixture(reg, 'busybox', 'library/busybox');
    await checkBigFixture();
    await pushFixture(reg, 'big', 'bench/big');
    // The breakdown reads berthd's debug log (its start phases); other runs keep the default level.
    berth = await startEngine(only.some((o) => o.endsWith('breakdown')) ? { args: ['-D'] } : {});
    const dockerConfig = fs.mkdtempSync('/tmp/berth-bench-docker-');
    const engines: Engine[] = [
      {
        name: 'berthd',
        host: berth.host,
        execRoot: berth.execRoot,
        docker: dockerOn(berth.host, dockerConfig),
        pids: () => [berth!.process().pid!],
      },
    ];
    if (dockerdAvailable) {
      const r = spawnSync('bash', [path.join(ROOT, 'scripts/ref-dockerd.sh'), 'start'], { encoding: 'utf8' });
      if (r.status === 0) {
        const host = r.stdout.trim();
        // The reference runs in a network namespace of its own: the fixture registry's 127.0.0.1:PORT is made to
        // answer there too, so both engines pull the same image names from the same registry.
        const f = spawnSync('bash', [path.join(ROOT, 'scripts/ref-dockerd.sh'), 'forward', reg.host], {
          encoding: 'utf8',
        });
        if (f.status !== 0) throw new Error(`ref-dockerd.sh forward ${reg.host}: ${f.stderr}`);
        engines.push({
          name: 'dockerd',
          host,
          docker: dockerOn(host, dockerConfig),
          pids: () => [
            ...childrenNamed(/^dockerd .*berth-ref/),
            ...childrenNamed(/^containerd .*berth-ref|^containerd --config \/run\/berth-ref/),
          ],
        });
      } else process.stderr.write(`reference dockerd unavailable: ${r.stderr}\n`);
    } else {
      process.stderr.write(
        process.env.BENCH_NO_DOCKERD
          ? 'BENCH_NO_DOCKERD: no reference, berthd figures only\n'
          : 'dockerd is not installed (apt-get install docker.io for the reference): berthd figures only\n',
      );
    }

    // Idle RSS right after start, before any work (and again after the workloads, below).
    await new Promise((r) => setTimeout(r, 1000));
    const idleAtStart = engines.map((e) => e.pids().reduce((a, p) => a + rssOf(p), 0) / 1024);
    const header = `${'workload'.padEnd(48)} ${'berthd'.padStart(12)} ${'dockerd'.padStart(12)} ${'ratio'.padStart(8)}  target (berthd/dockerd)`;
    results.push(header, '-'.repeat(header.length + 10));
    for (const w of workloads(reg)) {
      if (only.length && !only.some((o) => w.name.includes(o))) continue;
      const figures: Record<string, number[]> = {};
      const ratios: number[] = [];
      let failure = '';
      try {
        for (let i = 0; i < RUNS + 1; i++) {
          // the first pair warms up and is not counted
          const pair: number[] = [];
          for (const e of engines) {
            w.setup?.(e);
            const v = w.run(e);
            if (i > 0) (figures[e.name] ??= []).push(v);
            pair.push(v);
          }
          if (i > 0 && pair.length === 2) ratios.push(pair[0] / pair[1]);
        }
      } catch (err: any) {
        failure = err.message.split('\n')[0].slice(0, 90);
      } finally {
        for (const e of engines)
          try {
            w.teardown?.(e);
          } catch {
            /* best effort */
          }
      }
      const unit = w.unit ?? 'ms';
      const fmt = (xs?: number[]) =>
        xs?.length ? `${median(xs).toFixed(unit === 'ms' ? (median(xs) < 10 ? 2 : 0) : 1)} ${unit}` : 'n/a';
      const ratio = ratios.length ? median(ratios).toFixed(2) : 'n/a';
      results.push(
        `${w.name.padEnd(48)} ${fmt(figures.berthd).padStart(12)} ${fmt(figures.dockerd).padStart(12)} ${ratio.padStart(8)}  ${w.target}${failure ? `  [${failure}]` : ''}`,
      );
      process.stderr.write(results[results.length - 1] + '\n');
    }
    // Idle RSS after the workloads, read once both engines have been left alone for a while (berthd gives its heap
    // back then: src/engine/daemon/idle-memory.ts; Go's scavenger returns dockerd's in the background): before the
    // scale rows, which restart the engines.
    const mem = (e: Engine) => e.pids().reduce((a, p) => a + rssOf(p), 0) / 1024;
    await new Promise((r) => setTimeout(r, IDLE_SETTLE_MS));
    const idleAfterWork = engines.map(mem);
    let idleAfterScale: number[] | undefined;
    if (!only.length || only.some((o) => 'scale'.includes(o))) {
      // Cost as work grows: API calls straight to each engine, N = 100 … 2,000 (scripts/bench/scale.ts).
      const busybox = `${reg.host}/library/busybox:latest`;
      const scaleEngines: ScaleEngine[] = [];
      for (const e of engines) {
        must(e.docker(['pull', '-q', busybox]), 'pull busybox');
        if (e.name === 'berthd')
          scaleEngines.push({
            name: e.name,
            socket: berth.socket,
            stop: () => berth!.stop(),
            start: () => berth!.restart(),
          });
        else {
          const ref = (verb: string) => {
            const r = spawnSync('bash', [path.join(ROOT, 'scripts/ref-dockerd.sh'), verb], { encoding: 'utf8' });
            if (r.status !== 0) throw new Error(`ref-dockerd.sh ${verb}: ${r.stderr}`);
          };
          scaleEngines.push({
            name: e.name,
            socket: e.host.replace(/^unix:\/\//, ''),
            stop: async () => ref('stop-daemon'),
            start: async () => ref('start'),
          });
        }
      }
      const fmt = (v?: number) => (v === undefined ? 'n/a' : `${v.toFixed(v < 10 ? 2 : 0)} ms`);
      try {
        const rows = await scaleRows(scaleEngines, busybox, (l) => process.stderr.write(`${l}\n`));
        for (const r of rows) {
          const [a, b] = [r.figures.berthd, r.figures.dockerd];
          const ratio = a !== undefined && b ? (a / b).toFixed(2) : 'n/a';
          results.push(
            `${r.name.padEnd(48)} ${fmt(a).padStart(12)} ${fmt(b).padStart(12)} ${ratio.padStart(8)}  grows linearly or better`,
          );
        }
        // The same rows as curves, markdown ready for DEVELOPERS.md, after the rest of the output.
        const names = scaleEngines.map((e) => e.name);
        scaleCurveLines.push('', ...scaleCurves(rows, names));
      } catch (err: any) {
        results.push(`scale rows failed: ${err.message.split('\n')[0].slice(0, 120)}`);
      }
      await new Promise((r) => setTimeout(r, IDLE_SETTLE_MS));
      idleAfterScale = engines.map(mem);
    }
    if (only.includes('breakdown')) {
      const busybox = `${reg.host}/library/busybox:latest`;
      const targets: BreakdownEngine[] = engines.map((e) => ({
        name: e.name,
        socket: e.host.replace(/^unix:\/\//, ''),
        logFile: e.name === 'berthd' ? path.join(berth!.dir, 'berthd.log') : undefined,
      }));
      for (const e of engines) must(e.docker(['pull', '-q', busybox]), 'pull busybox');
      // A rootless berthd beside them (issue 14), where this host can run one; BENCH_NO_ROOTLESS=1 leaves it out
      // (its test user, berth-rl-c, may be another run's).
      const rootless = process.env.BENCH_NO_ROOTLESS ? undefined : await rootlessBreakdownEngine(reg);
      try {
        rootless?.pull(busybox);
        if (rootless) targets.splice(1, 0, rootless.target);
        results.push(...(await runBreakdown(targets, busybox, RUNS * 2)));
      } finally {
        await rootless?.cleanup();
      }
    }
    if (only.includes('exec-breakdown')) {
      const busybox = `${reg.host}/library/busybox:latest`;
      for (const e of engines) {
        e.docker(['rm', '-f', 'bench-exec-breakdown']);
        must(e.docker(['pull', '-q', busybox]), 'pull busybox');
        must(
          e.docker([
            'run',
            '-d',
            '--name',
            'bench-exec-breakdown',
            '--label',
            'berth.bench=1',
            '--network',
            'none',
            busybox,
            'sleep',
            '600',
          ]),
          'run',
        );
      }
      const targets: ExecBreakdownEngine[] = engines.map((e) => ({
        name: e.name,
        socket: e.host.replace(/^unix:\/\//, ''),
        logFile: e.name === 'berthd' ? path.join(berth!.dir, 'berthd.log') : undefined,
      }));
      try {
        results.push(...(await execBreakdown(targets, 'bench-exec-breakdown', RUNS * 4)));
      } finally {
        for (const e of engines) e.docker(['rm', '-f', 'bench-exec-breakdown']);
      }
    }
    // Memory: idle daemon RSS and the per-container helper.
    const row = (name: string, a: string, b: string, target: string) =>
      results.push(`${name.padEnd(48)} ${a.padStart(12)} ${b.padStart(12)} ${''.padStart(8)}  ${target}`);
    const mb = (v?: number, digits = 0) => (v === undefined ? 'n/a' : `${v.toFixed(digits)} MB`);
    row('daemon RSS at idle, fresh start', mb(idleAtStart[0]), mb(idleAtStart[1]), 'berthd ≤ 60 MB');
    const idle = `idle ${IDLE_SETTLE_MS / 1000} s`;
    row(`daemon RSS after the workloads, ${idle}`, mb(idleAfterWork[0]), mb(idleAfterWork[1]), 'berthd ≤ 80 MB');
    if (idleAfterScale)
      row(`daemon RSS after the scale rows, ${idle}`, mb(idleAfterScale[0]), mb(idleAfterScale[1]), 'berthd ≤ 80 MB');
    row(
      'per-container helper PSS (shim), 20 running',
      mb(helperPss.berthd, 2),
      mb(helperPss.dockerd, 2),
      'berthd ≤ 3 MB',
    );
    // The soak row (issue 18): `npm run bench soak` alone.
    if (!only.length || only.includes('soak')) {
      results.push(...(await soakRows(berth, `${reg.host}/library/busybox:latest`, dockerConfig)));
    }
    // The rootless rows (issue 14): `npm run bench rootless` alone.
    if (!only.length || only.includes('rootless')) {
      results.push(...(await rootlessBenchRows(reg, engines[0].docker, RUNS)));
    }
    // The Linux VM's rows (issue 13): `npm run bench` runs them with the rest; `npm run bench vm` alone.
    if (!only.length || only.includes('vm')) {
      results.push(...(await vmBenchRows(reg, engines[0].docker, RUNS)));
    }
  } finally {
    spawnSync('bash', [path.join(ROOT, 'scripts/ref-dockerd.sh'), 'unforward', reg.host]);
    await berth?.cleanup();
    await reg.stop();
  }
  console.log('\n' + results.join('\n'));
  console.log(
    `\n${RUNS} counted pairs per workload after one warm-up pair; ratio = median of per-pair berthd/dockerd.`,
  );
  if (scaleCurveLines.length) console.log(scaleCurveLines.join('\n'));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
