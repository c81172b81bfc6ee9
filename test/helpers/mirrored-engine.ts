// A berthd whose registry mirror is a fixture registry on 127.0.0.1 (so `busybox` resolves offline), with busybox
// pulled: what the tests of exec, attach and archives start from (with or without the docker CLI).
import * as assert from 'node:assert/strict';
import { type Registry, seedMirror, startRegistry } from '../fixtures';
import { startEngine, type TestEngine } from './engine';

export interface MirroredEngine {
  engine: TestEngine;
  registry: Registry;
  /** Runs the docker CLI against the engine and asserts it succeeded; returns stdout. */
  ok(args: string[], input?: string): string;
  cleanup(): Promise<void>;
}

export async function startMirroredEngine(opts: { env?: Record<string, string> } = {}): Promise<MirroredEngine> {
  const registry = await startRegistry();
  let engine: TestEngine | undefined;
  try {
    await seedMirror(registry);
    engine = await startEngine({ config: { 'registry-mirrors': [registry.url] }, env: opts.env });
    const e = engine;
    const ok = (args: string[], input?: string) => {
      const r = e.docker(args, { input });
      assert.equal(r.code, 0, `docker ${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    };
    // Over the API: suites that need no docker CLI use this too.
    for await (const m of e.client.pullImage('busybox', 'latest')) assert.equal(m.error, undefined, m.error);
    return {
      engine: e,
      registry,
      ok,
      cleanup: async () => {
        await e.cleanup();
        await registry.stop();
      },
    };
  } catch (err) {
    await engine?.cleanup();
    await registry.stop();
    throw err;
  }
}
