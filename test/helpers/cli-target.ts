// Where the CLI tests run: a fresh berthd (with a registry mirror from test/fixtures when the test needs
// images), or — by hand only, never in CI — the reference dockerd:
//   BERTH_CLI_TEST_REF=unix:///run/berth-ref/docker.sock BERTH_CLI_TEST_IMAGE=127.0.0.1:PORT/library/busybox
import * as assert from 'node:assert/strict';
import type { DockerResult } from './engine';
import { startEngine } from './engine';
import { berth, refEngine } from './cli';
import { seedMirror, startRegistry } from '../fixtures';

export interface CliTarget {
  host: string;
  /** The image references the tests pull and run (a busybox, and hello-world). */
  image: string;
  helloWorld: string;
  /** True against the reference dockerd (which has no bridge networking here). */
  reference: boolean;
  docker(args: string[], opts?: { input?: string }): DockerResult;
  cleanup(): Promise<void>;
}

export async function startCliTarget(opts: { images?: boolean } = {}): Promise<CliTarget> {
  const ref = process.env.BERTH_CLI_TEST_REF;
  if (ref) {
    const e = refEngine(ref);
    const image = process.env.BERTH_CLI_TEST_IMAGE ?? 'busybox';
    return {
      host: e.host,
      image,
      helloWorld: image.replace(/busybox$/, 'hello-world'),
      reference: true,
      docker: (a, o) => e.docker(a, o),
      cleanup: () => e.cleanup(),
    };
  }
  // Docker Hub names through the engine's registry mirror: `berth pull busybox` works offline.
  const reg = opts.images ? await startRegistry() : undefined;
  try {
    if (reg) await seedMirror(reg);
    const engine = await startEngine(reg ? { config: { 'registry-mirrors': [reg.url] } } : {});
    return {
      host: engine.host,
      image: 'busybox',
      helloWorld: 'hello-world',
      reference: false,
      docker: (a, o) => engine.docker(a, o),
      cleanup: async () => {
        await engine.cleanup();
        await reg?.stop();
      },
    };
  } catch (err) {
    await reg?.stop();
    throw err;
  }
}

/**
 * A long-running `sleep 300` container that several tests of a suite share: started on the first call (so each
 * test can also run alone) and recorded in `created` for cleanUpCliTarget.
 */
export function sharedSleeper(t: CliTarget, name: string, created: string[], runFlags: string[] = []): string {
  if (!created.includes(name)) {
    created.push(name);
    const d = berth(t.host, ['run', '-d', '--name', name, ...runFlags, t.image, 'sleep', '300']);
    assert.equal(d.code, 0, d.stderr);
    assert.match(d.stdout, /^[0-9a-f]{64}\n$/);
  }
  return name;
}

/** A CLI suite's after(): removes the containers its tests created, then stops the target (if it started). */
export async function cleanUpCliTarget(t: CliTarget | undefined, created: string[]): Promise<void> {
  if (!t) return;
  if (created.length) berth(t.host, ['rm', '-f', ...created]);
  await t.cleanup();
}
