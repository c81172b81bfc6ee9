// RUN's container: made from the current image with the step's command and the build's network options, run
// with its output going to the build's, its writable layer becoming the step's layer (builder.ts commits it).
import { StringDecoder } from 'node:string_decoder';
import type { BuildDeps, BuildOptions, BuildOutput } from '.';
import type { RunConfig } from './runconfig';

type CreateRequest = Parameters<BuildDeps['containers']['create']>[0];

/** The create request of a RUN step's container (never started by anyone but the build, no logs kept). */
export function stepContainer(
  image: string,
  rc: RunConfig,
  cmd: string[],
  env: string[],
  opts: Pick<BuildOptions, 'networkMode' | 'extraHosts' | 'shmSize'>,
): CreateRequest {
  return {
    config: {
      image,
      cmd,
      entrypoint: [],
      env,
      user: rc.User,
      workingDir: rc.WorkingDir,
      labels: rc.Labels ?? {},
      volumes: Object.keys(rc.Volumes ?? {}),
      tty: false,
      stopSignal: rc.StopSignal,
      healthcheck: { Test: ['NONE'] },
    } as any,
    hostConfig: {
      networkMode: opts.networkMode || 'default',
      extraHosts: opts.extraHosts,
      ...(opts.shmSize ? { shmSize: opts.shmSize } : {}),
      logConfig: { type: 'none', config: {} },
    },
  };
}

/**
 * Starts a step's container with its output going to the build's, and waits for its exit code. A cancelled
 * build kills it.
 */
export async function runStepContainer(
  containers: BuildDeps['containers'],
  id: string,
  out: BuildOutput,
  signal: AbortSignal,
): Promise<number> {
  const abort = new AbortController();
  const onCancel = () => {
    void containers.kill(id, 'SIGKILL').catch(() => {});
  };
  signal.addEventListener('abort', onCancel, { once: true });
  try {
    const attached = containers.attach(id, { stdin: false, stdout: true, stderr: true }, abort.signal);
    const exited = containers.wait(id, 'next-exit');
    try {
      await containers.start(id);
    } catch (err) {
      abort.abort();
      throw err;
    }
    const session = await attached;
    if (session) {
      const decoders = { 1: new StringDecoder('utf8'), 2: new StringDecoder('utf8') };
      session.onOutput((stream, chunk) => {
        const text = decoders[stream].write(chunk);
        if (text) stream === 1 ? out.stdout(text) : out.stderr(text);
        return true;
      });
      await session.done;
    }
    const { exitCode } = await exited;
    return exitCode;
  } finally {
    signal.removeEventListener('abort', onCancel);
  }
}
