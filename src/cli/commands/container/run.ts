// berth create, run and start: creating (pulling the image when asked), attaching, starting, proxying signals
// and waiting, with docker's exit statuses.
import * as fs from 'node:fs';
import type { Command } from 'commander';
import type { ContainerCreateConfig, EngineClient } from '../../../client';
import { type Cli, StatusError, describeError, forEachName, isNotFound } from '../../cli';
import { DEFAULT_DETACH_KEYS } from '../../../common/docker';
import { addCreateOptions, buildCreateConfig, type CreateOptions } from '../../runopts';
import { DetachedError, forwardResize, makeRaw, parseDetachKeys, pumpHijacked } from '../../streams';
import { pullImage, withDefaultTag } from '../image';

/** Creates a container, pulling the image first when missing (policy "missing") or always. */
async function createWithPull(
  cli: Cli,
  client: EngineClient,
  config: ContainerCreateConfig,
  o: CreateOptions,
): Promise<string> {
  const pull = async () => {
    try {
      await pullImage(client, config.Image, cli.err, { quiet: o.quiet, platform: o.platform });
    } catch (err) {
      throw new StatusError(125, `berth: ${describeError(err, cli.host())}`);
    }
  };
  if (o.pull === 'always') await pull();
  let created: { Id: string; Warnings: string[] | null };
  try {
    created = await client.createContainer(config, { name: o.name, platform: o.platform });
  } catch (err) {
    if (!isNotFound(err) || o.pull !== 'missing' || /^No such container/.test((err as Error).message)) {
      throw new StatusError(125, `berth: ${describeError(err, cli.host())}`);
    }
    cli.err.write(`Unable to find image '${withDefaultTag(config.Image)}' locally\n`);
    await pull();
    try {
      created = await client.createContainer(config, { name: o.name, platform: o.platform });
    } catch (err2) {
      throw new StatusError(125, `berth: ${describeError(err2, cli.host())}`);
    }
  }
  for (const w of created.Warnings ?? []) cli.err.write(`WARNING: ${w}\n`);
  if (o.cidfile) fs.writeFileSync(o.cidfile, created.Id);
  return created.Id;
}

/** docker's exit status for a failed start: 127 command not found, 126 not executable, 125 otherwise. */
function startErrorStatus(err: unknown): number {
  const msg = (err as Error).message ?? '';
  if (/executable file not found|no such file or directory|system cannot find the file specified/.test(msg)) return 127;
  if (/permission denied|is a directory/.test(msg)) return 126;
  return 125;
}

export function defineCreate(cmd: Command, cli: Cli) {
  addCreateOptions(cmd.description('Create a new container').argument('<image>').argument('[command...]')).action(
    async (image: string, args: string[], o: CreateOptions) => {
      const client = await cli.client();
      const config = buildCreateConfig(image, args, o);
      const id = await createWithPull(cli, client, config, o);
      cli.out.write(`${id}\n`);
    },
  );
}

/** Forwards SIGINT/SIGTERM/SIGHUP… to the container while attached without a TTY (docker's --sig-proxy). */
function proxySignals(client: EngineClient, id: string): () => void {
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];
  const handler = (sig: NodeJS.Signals) => {
    client.killContainer(id, sig).catch(() => {});
  };
  for (const s of signals) process.on(s, handler);
  return () => {
    for (const s of signals) process.off(s, handler);
  };
}

/**
 * Attaches (when asked), starts and waits: the shared end of run, start -a and attach. Returns the container's
 * exit status, or 0 when the user detached.
 */
export async function attachStartWait(
  cli: Cli,
  client: EngineClient,
  id: string,
  opts: {
    tty: boolean;
    stdin: boolean;
    stdout: boolean;
    stderr: boolean;
    start: boolean;
    autoRemove: boolean;
    sigProxy: boolean;
    detachKeys?: string;
  },
): Promise<number> {
  const attaching = opts.stdin || opts.stdout || opts.stderr;
  const conn = attaching
    ? await client.attachContainer(id, {
        stream: true,
        stdin: opts.stdin,
        stdout: opts.stdout,
        stderr: opts.stderr,
        detachKeys: opts.detachKeys,
      })
    : undefined;
  // Waiting starts before the start so a quick exit is not missed.
  const waitAbort = new AbortController();
  const waiting = opts.start
    ? client.waitContainer(id, opts.autoRemove ? 'removed' : 'next-exit', waitAbort.signal)
    : undefined;
  waiting?.catch(() => {});
  if (opts.start) {
    try {
      await client.startContainer(id);
    } catch (err) {
      conn?.destroy();
      // Like docker: an --rm container is removed by the engine after a failed start; wait for that (briefly).
      if (opts.autoRemove && waiting)
        await Promise.race([waiting.catch(() => {}), new Promise((r) => setTimeout(r, 5000))]);
      waitAbort.abort();
      throw new StatusError(startErrorStatus(err), `berth: ${describeError(err, cli.host())}`);
    }
  }
  const terminal = opts.tty && opts.stdin ? makeRaw() : undefined;
  const stopResize = opts.tty ? forwardResize((h, w) => client.resizeContainer(id, h, w)) : () => {};
  const stopProxy = !opts.tty && opts.sigProxy ? proxySignals(client, id) : () => {};
  try {
    if (conn) {
      await pumpHijacked(conn, {
        tty: opts.tty,
        stdin: opts.stdin,
        detachKeys: opts.tty && opts.stdin ? parseDetachKeys(opts.detachKeys || DEFAULT_DETACH_KEYS) : null,
      });
    }
  } catch (err) {
    if (err instanceof DetachedError) {
      waitAbort.abort();
      return 0;
    }
    throw err;
  } finally {
    terminal?.restore();
    stopResize();
    stopProxy();
  }
  const result = waiting ? await waiting : await client.waitContainer(id);
  if (result.Error?.Message) cli.err.write(`${result.Error.Message}\n`);
  return result.StatusCode;
}

export function defineRun(cmd: Command, cli: Cli) {
  addCreateOptions(
    cmd.description('Create and run a new container from an image').argument('<image>').argument('[command...]'),
  )
    .option('-d, --detach', 'Run container in background and print container ID')
    .option('--detach-keys <keys>', 'Override the key sequence for detaching a container')
    .option('--sig-proxy <bool>', 'Proxy received signals to the process', 'true')
    .action(async (image: string, args: string[], opts: Omit<CreateOptions, 'sigProxy'> & { sigProxy: string }) => {
      const sigProxy = opts.sigProxy !== 'false';
      const o: CreateOptions = { ...opts, sigProxy };
      const config = buildCreateConfig(image, args, o);
      if (o.tty && o.interactive && !process.stdin.isTTY) throw new StatusError(1, 'the input device is not a TTY');
      const client = await cli.client();
      const id = await createWithPull(cli, client, config, o);
      if (o.detach) {
        try {
          await client.startContainer(id);
        } catch (err) {
          throw new StatusError(startErrorStatus(err), `berth: ${describeError(err, cli.host())}`);
        }
        cli.out.write(`${id}\n`);
        return;
      }
      const status = await attachStartWait(cli, client, id, {
        tty: !!config.Tty,
        stdin: !!config.AttachStdin,
        stdout: !!config.AttachStdout,
        stderr: !!config.AttachStderr,
        start: true,
        autoRemove: !!config.HostConfig?.AutoRemove,
        sigProxy,
        detachKeys: o.detachKeys,
      });
      if (status !== 0) throw new StatusError(status);
    });
}

export function defineStart(cmd: Command, cli: Cli) {
  cmd
    .description('Start one or more stopped containers')
    .argument('<container...>')
    .option('-a, --attach', 'Attach STDOUT/STDERR and forward signals')
    .option('-i, --interactive', "Attach container's STDIN")
    .option('--detach-keys <keys>', 'Override the key sequence for detaching a container')
    .action(async (names: string[], o: { attach?: boolean; interactive?: boolean; detachKeys?: string }) => {
      const client = await cli.client();
      if (o.attach || o.interactive) {
        if (names.length > 1) throw new StatuserrorMulti();
        const c = await client.inspectContainer(names[0]).catch((err) => {
          throw new StatusError(1, describeError(err, cli.host()));
        });
        const tty = !!c.Config.Tty;
        if (tty && o.interactive && !process.stdin.isTTY) throw new StatusError(1, 'the input device is not a TTY');
        const status = await attachStartWait(cli, client, c.Id, {
          tty,
          stdin: !!o.interactive && !!c.Config.OpenStdin,
          stdout: true,
          stderr: true,
          start: !c.State.Running,
          autoRemove: !!c.HostConfig.AutoRemove,
          sigProxy: true,
          detachKeys: o.detachKeys,
        });
        if (status !== 0) throw new StatusError(status);
        return;
      }
      await forEachName(cli, names, async (n) => {
        await client.startContainer(n);
        return n;
      });
    });
}

class StatuserrorMulti extends StatusError {
  constructor() {
    super(1, 'you cannot start and attach multiple containers at once');
  }
}
