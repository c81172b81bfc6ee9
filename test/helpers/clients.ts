// The Docker clients people already have, run against a test engine as a user runs them: Debian's docker-compose
// 1.29 and python3-docker (through Debian's own python3, not whatever python3 comes first on PATH), and dockerode.
import { requireDeps } from './deps';
import { spawn, spawnSync } from 'node:child_process';
import * as path from 'node:path';

/** Debian's interpreter: its dist-packages hold python3-docker (a pyenv python3 on PATH may have another docker). */
export const DEBIAN_PYTHON = '/usr/bin/python3';

export interface ClientResult {
  code: number;
  stdout: string;
  stderr: string;
}

function present(cmd: string, args: string[]): boolean {
  return spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
}

/**
 * In a before hook: the client must be installed. Under CI=true a missing client fails the suite (install-deps.sh
 * --test installs it); elsewhere the suite is skipped, saying what to install.
 */
export function requireClient(ctx: Mocha.Context, client: 'docker-compose' | 'python3-docker'): void {
  const ok =
    client === 'docker-compose'
      ? present('docker-compose', ['version'])
      : present(DEBIAN_PYTHON, ['-c', 'import docker']);
  requireDeps(ctx, { what: client, install: 'bash scripts/install-deps.sh --test', present: () => ok });
}

function run(cmd: string, args: string[], env: Record<string, string>, cwd?: string, input?: string) {
  return new Promise<ClientResult>((resolve) => {
    const p = spawn(cmd, args, { env: { ...process.env, ...env }, cwd });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), 120_000);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    p.stdin.end(input);
  });
}

/** docker-compose in `dir` against the engine at `host` (a project name of the test's own). */
export function compose(host: string, dir: string, project: string, args: string[]): Promise<ClientResult> {
  return run('docker-compose', ['-p', project, ...args], { DOCKER_HOST: host, COMPOSE_INTERACTIVE_NO_CLI: '1' }, dir);
}

/**
 * Runs one scenario of test/clients/python/scenarios.py with docker-py against `host`; the scenario prints one
 * JSON object of what it saw, which is returned (a Python exception fails with its traceback).
 */
export async function dockerPy<T = any>(host: string, scenario: string, args: string[] = []): Promise<T> {
  const script = path.join(__dirname, '..', 'clients', 'python', 'scenarios.py');
  const r = await run(DEBIAN_PYTHON, [script, scenario, ...args], { DOCKER_HOST: host });
  if (r.code !== 0) throw new Error(`docker-py scenario ${scenario} failed (${r.code}):\n${r.stderr}${r.stdout}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as T;
}
