// What tests need from the host besides the engine (the docker CLI, tmux, code-server…), and what happens when it
// is missing: on a developer's machine the test skips and says why; under CI=true it FAILS, naming what to install,
// so CI can never pass by skipping (.mocharc.cjs also forbids every pending test there).
import { spawnSync } from 'node:child_process';

export const STRICT = process.env.CI === 'true' || process.env.CI === '1';

export interface TestDependency {
  /** What a person reads: "the docker CLI". */
  what: string;
  /** How it gets installed (CI runs exactly this). */
  install: string;
  present(): boolean;
}

const probe = (cmd: string, ...args: string[]) => spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
const cached = (f: () => boolean) => {
  let v: boolean | undefined;
  return () => (v ??= f());
};

export const DOCKER_CLI: TestDependency = {
  what: 'the docker CLI',
  install: 'bash scripts/install-deps.sh --test',
  present: cached(() => probe('docker', '--version')),
};

export const TMUX: TestDependency = {
  what: 'tmux',
  install: 'bash scripts/install-deps.sh --test',
  present: cached(() => probe('tmux', '-V')),
};

function missing(dep: TestDependency): string {
  return `${dep.what} is not installed (${dep.install})`;
}

/**
 * In a hook or test: skips the test (or the whole suite, from a before hook) where a dependency is missing —
 * or, under CI=true, fails it.
 */
export function requireDeps(ctx: Mocha.Context, ...deps: TestDependency[]): void {
  const absent = deps.filter((d) => !d.present());
  if (!absent.length) return;
  const why = absent.map(missing).join('; ');
  if (STRICT) throw new Error(`CI=true and ${why}`);
  console.log(`      SKIPPED: ${why}`);
  ctx.skip();
}

/**
 * For a cross-check a test adds when the dependency is there (e.g. "and the docker CLI prints the same"): false
 * where it is missing on a developer's machine; under CI=true a missing one throws instead of dropping the check.
 */
export function has(dep: TestDependency): boolean {
  if (dep.present()) return true;
  if (STRICT) throw new Error(`CI=true and ${missing(dep)}: the cross-check cannot be left out`);
  return false;
}
