// Runs the built berth CLI (BERTH_DIST/cli.js) against a test engine, the way a user would.
import { spawn, spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { DIST, type DockerResult, type TestEngine } from './engine';

export const CLI_JS = path.join(DIST, 'cli.js');

export interface CliRunOptions {
  input?: string;
  /** Sees stdout as it comes (berthAsync: to act while the command still runs). */
  onStdout?: (chunk: string) => void;
  env?: Record<string, string>;
  timeoutMs?: number;
}

function cliEnv(env?: Record<string, string>): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env, ...env };
  // Only -H decides where the CLI goes in tests.
  delete e.BERTH_HOST;
  delete e.DOCKER_HOST;
  return { ...e, ...env };
}

/** `berth -H <engine> args…`, synchronously. */
export function berth(engine: TestEngine | string, args: string[], opts: CliRunOptions = {}): DockerResult {
  const host = typeof engine === 'string' ? engine : engine.host;
  const r = spawnSync(process.execPath, [CLI_JS, '-H', host, ...args], {
    input: opts.input,
    env: cliEnv(opts.env),
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 120000,
  });
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** The same, without blocking the test process (for commands that wait on the engine). */
export function berthAsync(
  engine: TestEngine | string,
  args: string[],
  opts: CliRunOptions = {},
): Promise<DockerResult> {
  const host = typeof engine === 'string' ? engine : engine.host;
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CLI_JS, '-H', host, ...args], { env: cliEnv(opts.env) });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => {
      stdout += d;
      opts.onStdout?.(String(d));
    });
    p.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs ?? 120000);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    if (opts.input !== undefined) p.stdin.end(opts.input);
    else p.stdin.end();
  });
}

/** Replaces what legitimately differs between two runs: relative times ("5 seconds ago", "Up 2 seconds"). */
export function normalizeTimes(s: string): string {
  return s
    .replace(
      /(Less than a second|About a minute|About an hour|\d+ (seconds?|minutes?|hours?|days?|weeks?|months?|years?))( ago)?/g,
      'TIME$3',
    )
    .replace(/ {2,}/g, '  ');
}

/**
 * For checking the CLI by hand against the reference dockerd (never in CI: CI has no dockerd):
 * BERTH_CLI_TEST_REF=unix:///run/berth-ref/docker.sock makes the CLI tests talk to that engine instead of a berthd.
 */
export function refEngine(
  host: string,
): Pick<TestEngine, 'host' | 'docker' | 'dockerAsync'> & { cleanup(): Promise<void> } {
  const env = (e?: Record<string, string>) => ({ ...process.env, DOCKER_HOST: host, ...e });
  return {
    host,
    docker(args, o = {}) {
      const r = spawnSync('docker', args, {
        input: o.input,
        env: env(o.env),
        encoding: 'utf8',
        timeout: o.timeoutMs ?? 120000,
      });
      return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
    },
    dockerAsync(args, o = {}) {
      return new Promise((resolve) => {
        const p = spawn('docker', args, { env: env(o.env) });
        let stdout = '';
        let stderr = '';
        p.stdout.on('data', (d) => (stdout += d));
        p.stderr.on('data', (d) => (stderr += d));
        p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
        p.stdin.end(o.input ?? '');
      });
    },
    async cleanup() {},
  };
}
