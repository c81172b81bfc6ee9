// Where the CLI tests run: a fresh berthd (with a registry mirror from test/fixtures when the test needs
// images), or — by hand only, never in CI — the reference dockerd:
//   BERTH_CLI_TEST_REF=unix:///run/berth-ref/docker.sock BERTH_CLI_TEST_IMAGE=127.0.0.1:PORT/library/busybox
import type { DockerResult } from './engine';
import { startEngine } from './engine';
import { refEngine } from './cli';
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
    return { host: e.host, image, helloWorld: image.replace(/busybox$/, 'hello-world'), reference: true, docker: (a, o) => e.docker(a, o), cleanup: () => e.cleanup() };
  }
  // Docker Hub names through the engine's registry mirror: `berth pull busybox` works offline.
  const reg = opts.images ? await startRegistry() : undefined;
  try {
    if (reg) await seedMirror(reg);
    const engine = await startEngine(reg ? { config: { 'registry-mirrors': [reg.url] } } : {});
    return {
      host: engine.host, image: 'busybox', helloWorld: 'hello-world', reference: false,
      docker: (a, o) => engine.docker(a, o),
      cleanup: async () => { await engine.cleanup(); await reg?.stop(); },
    };
  } catch (err) {
    await reg?.stop();
    throw err;
  }
}
