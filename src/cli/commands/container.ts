// Container commands: ps, create, run, start, stop, restart, kill, rm, logs, exec, attach, cp, update, top,
// stats, wait, rename, pause, unpause, port, container inspect/prune — the docker flags, output and exit codes.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import type { Command } from 'commander';
import type { ContainerCreateConfig, ContainerStats, ContainerSummary, EngineClient } from '../../client';
import { extractTo, packPath } from '../archive';
import { type Cli, StatusError, collect, confirm, describeError, forEachName, isNotFound, parseFilters } from '../cli';
import {
  ContainerContext,
  DEFAULT_PS_FORMAT,
  FormatContext,
  bytesSize,
  humanSize,
  humanSizeWithPrecision,
  parseTimestamp,
  ramInBytes,
  pickFormat,
  renderFormat,
  tabwrite,
  truncateId,
} from '../format';
import { DEFAULT_DETACH_KEYS } from '../../common/docker';
import { addCreateOptions, buildCreateConfig, type CreateOptions, parseRestart } from '../runopts';
import {
  DetachedError,
  forwardResize,
  makeRaw,
  parseDetachKeys,
  pumpHijacked,
  demux,
  copyRaw,
  terminalSize,
} from '../streams';
import { pullImage, withDefaultTag } from './image';
import { inspectEach, writeDeleted, writeReclaimedSpace } from './shared';

// ---- ps ----

function definePs(cmd: Command, cli: Cli) {
  cmd
    .description('List containers')
    .option('-a, --all', 'Show all containers (default shows just running)')
    .option('-f, --filter <filter>', 'Filter output based on conditions provided', collect)
    .option('--format <format>', 'Format output using a custom template')
    .option('-n, --last <n>', 'Show n last created containers (includes all states)')
    .option('-l, --latest', 'Show the latest created container (includes all states)')
    .option('--no-trunc', "Don't truncate output")
    .option('-q, --quiet', 'Only display container IDs')
    .option('-s, --size', 'Display total file sizes')
    .action(
      async (o: {
        all?: boolean;
        filter?: string[];
        format?: string;
        last?: string;
        latest?: boolean;
        trunc: boolean;
        quiet?: boolean;
        size?: boolean;
      }) => {
        const client = await cli.client();
        let format = pickFormat(o.format, o.size ? `${DEFAULT_PS_FORMAT}\t{{.Size}}` : DEFAULT_PS_FORMAT);
        if (o.quiet) format = '{{.ID}}';
        // Sizes are costly for the engine: asked for only when the output shows them, as docker does.
        const size = !!o.size || (!o.quiet && /\.Size\b|json \.\s*}}|^json$/.test(format));
        const limit = o.latest ? 1 : o.last !== undefined ? Number(o.last) : undefined;
        const list = await client.listContainers({
          all: o.all || limit !== undefined,
          size,
          limit,
          filters: parseFilters(o.filter),
        });
        const now = Date.now();
        const rows = list.map((c) => new ContainerContext(c, o.trunc, now));
        cli.out.write(renderFormat(format, rows, new ContainerContext({} as ContainerSummary)));
      },
    );
}

// ---- create / run ----

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

function defineCreate(cmd: Command, cli: Cli) {
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
async function attachStartWait(
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

function defineRun(cmd: Command, cli: Cli) {
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

// ---- start / stop / restart / kill / rm / pause / unpause / rename / wait ----

function defineStart(cmd: Command, cli: Cli) {
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

function defineStop(cmd: Command, cli: Cli, verb: 'stop' | 'restart') {
  cmd
    .description(verb === 'stop' ? 'Stop one or more running containers' : 'Restart one or more containers')
    .argument('<container...>')
    .option('-s, --signal <signal>', 'Signal to send to the container')
    .option('-t, --timeout <seconds>', 'Seconds to wait before killing the container')
    .action(async (names: string[], o: { signal?: string; timeout?: string }) => {
      const client = await cli.client();
      const opts = { t: o.timeout !== undefined ? Number(o.timeout) : undefined, signal: o.signal };
      await forEachName(cli, names, async (n) => {
        if (verb === 'stop') await client.stopContainer(n, opts);
        else await client.restartContainer(n, opts);
        return n;
      });
    });
}

function defineKill(cmd: Command, cli: Cli) {
  cmd
    .description('Kill one or more running containers')
    .argument('<container...>')
    .option('-s, --signal <signal>', 'Signal to send to the container')
    .action(async (names: string[], o: { signal?: string }) => {
      const client = await cli.client();
      await forEachName(cli, names, async (n) => {
        await client.killContainer(n, o.signal);
        return n;
      });
    });
}

function defineRm(cmd: Command, cli: Cli) {
  cmd
    .description('Remove one or more containers')
    .argument('<container...>')
    .option('-f, --force', 'Force the removal of a running container (uses SIGKILL)')
    .option('-l, --link', 'Remove the specified link')
    .option('-v, --volumes', 'Remove anonymous volumes associated with the container')
    .action(async (names: string[], o: { force?: boolean; link?: boolean; volumes?: boolean }) => {
      const client = await cli.client();
      await forEachName(cli, names, async (n) => {
        if (!n.trim()) throw new Error('Container name cannot be empty');
        await client.removeContainer(n, { force: o.force, volumes: o.volumes, link: o.link });
        return n;
      });
    });
}

function defineSimple(
  cmd: Command,
  cli: Cli,
  description: string,
  fn: (c: EngineClient, name: string) => Promise<void>,
) {
  cmd
    .description(description)
    .argument('<container...>')
    .action(async (names: string[]) => {
      const client = await cli.client();
      await forEachName(cli, names, async (n) => {
        await fn(client, n);
        return n;
      });
    });
}

function defineRename(cmd: Command, cli: Cli) {
  cmd
    .description('Rename a container')
    .argument('<container>')
    .argument('<new-name>')
    .action(async (name: string, newName: string) => {
      if (!newName.trim()) throw new StatusError(1, 'Error: Neither old nor new names may be empty');
      const client = await cli.client();
      await client.renameContainer(name, newName);
    });
}

function defineWait(cmd: Command, cli: Cli) {
  cmd
    .description('Block until one or more containers stop, then print their exit codes')
    .argument('<container...>')
    .action(async (names: string[]) => {
      const client = await cli.client();
      await forEachName(cli, names, async (n) => String((await client.waitContainer(n)).StatusCode));
    });
}

// ---- logs ----

function defineLogs(cmd: Command, cli: Cli) {
  cmd
    .description('Fetch the logs of a container')
    .argument('<container>')
    .option('--details', 'Show extra details provided to logs')
    .option('-f, --follow', 'Follow log output')
    .option(
      '--since <time>',
      'Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)',
    )
    .option('-n, --tail <n>', 'Number of lines to show from the end of the logs', 'all')
    .option('-t, --timestamps', 'Show timestamps')
    .option(
      '--until <time>',
      'Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)',
    )
    .action(
      async (
        name: string,
        o: { details?: boolean; follow?: boolean; since?: string; tail: string; timestamps?: boolean; until?: string },
      ) => {
        const client = await cli.client();
        const c = await client.inspectContainer(name);
        let since: string | undefined;
        let until: string | undefined;
        try {
          since = o.since ? parseTimestamp(o.since) : undefined;
          until = o.until ? parseTimestamp(o.until) : undefined;
        } catch (err) {
          throw new StatusError(1, (err as Error).message);
        }
        const abort = new AbortController();
        const stop = () => abort.abort();
        process.once('SIGINT', stop);
        try {
          const body = await client.containerLogs(
            c.Id,
            {
              stdout: true,
              stderr: true,
              follow: o.follow,
              since,
              until,
              timestamps: o.timestamps,
              tail: o.tail,
              details: o.details,
            },
            abort.signal,
          );
          if (c.Config.Tty) await copyRaw(body, cli.out);
          else await demux(body, cli.out, cli.err);
        } catch (err) {
          if (!abort.signal.aborted) throw err;
        } finally {
          process.off('SIGINT', stop);
        }
      },
    );
}

// ---- exec / attach ----

function defineExec(cmd: Command, cli: Cli) {
  cmd
    .description('Execute a command in a running container')
    .helpOption('--help', 'Print usage')
    .argument('<container>')
    .argument('<command...>')
    .option('-d, --detach', 'Detached mode: run command in the background')
    .option('--detach-keys <keys>', 'Override the key sequence for detaching a container')
    .option('-e, --env <KEY=VALUE>', 'Set environment variables', collect)
    .option('--env-file <file>', 'Read in a file of environment variables', collect)
    .option('-i, --interactive', 'Keep STDIN open even if not attached')
    .option('--privileged', 'Give extended privileges to the command')
    .option('-t, --tty', 'Allocate a pseudo-TTY')
    .option('-u, --user <user>', 'Username or UID (format: "<name|uid>[:<group|gid>]")')
    .option('-w, --workdir <dir>', 'Working directory inside the container')
    .passThroughOptions()
    .action(
      async (
        name: string,
        command: string[],
        o: {
          detach?: boolean;
          detachKeys?: string;
          env?: string[];
          envFile?: string[];
          interactive?: boolean;
          privileged?: boolean;
          tty?: boolean;
          user?: string;
          workdir?: string;
        },
      ) => {
        if (o.tty && o.interactive && !o.detach && !process.stdin.isTTY)
          throw new StatusError(1, 'the input device is not a TTY');
        const env = buildCreateConfig('x', [], {
          env: o.env,
          envFile: o.envFile,
          network: 'default',
          pull: 'missing',
          restart: 'no',
        }).Env;
        const client = await cli.client();
        const size = o.tty ? terminalSize() : undefined;
        let execId: string;
        try {
          ({ Id: execId } = await client.createExec(name, {
            AttachStdin: !!o.interactive && !o.detach,
            AttachStdout: !o.detach,
            AttachStderr: !o.detach,
            Tty: !!o.tty,
            Env: env,
            Cmd: command,
            User: o.user,
            WorkingDir: o.workdir,
            Privileged: !!o.privileged,
            DetachKeys: o.detachKeys,
            ConsoleSize: size,
          }));
        } catch (err) {
          throw new StatusError(1, describeError(err, cli.host()));
        }
        if (o.detach) {
          await client.startExecDetached(execId, { Tty: o.tty });
          return;
        }
        const conn = await client.startExecHijacked(execId, { Tty: o.tty, ConsoleSize: size });
        const terminal = o.tty && o.interactive ? makeRaw() : undefined;
        const stopResize = o.tty ? forwardResize((h, w) => client.resizeExec(execId, h, w)) : () => {};
        try {
          await pumpHijacked(conn, {
            tty: !!o.tty,
            stdin: !!o.interactive,
            detachKeys: o.tty && o.interactive ? parseDetachKeys(o.detachKeys || DEFAULT_DETACH_KEYS) : null,
          });
        } catch (err) {
          if (err instanceof DetachedError) return;
          throw err;
        } finally {
          terminal?.restore();
          stopResize();
        }
        // The exit code is known once the process is gone; the stream may close a moment before the engine records it.
        for (let i = 0; i < 100; i++) {
          const info = await client.inspectExec(execId);
          if (!info.Running && info.ExitCode !== null) {
            if (info.ExitCode !== 0) throw new StatusError(info.ExitCode);
            return;
          }
          await new Promise((r) => setTimeout(r, 50));
        }
      },
    );
}

function defineAttach(cmd: Command, cli: Cli) {
  cmd
    .description('Attach local standard input, output, and error streams to a running container')
    .argument('<container>')
    .option('--detach-keys <keys>', 'Override the key sequence for detaching a container')
    .option('--no-stdin', 'Do not attach STDIN')
    .option('--sig-proxy <bool>', 'Proxy all received signals to the process', 'true')
    .action(async (name: string, o: { detachKeys?: string; stdin: boolean; sigProxy: string }) => {
      const client = await cli.client();
      const c = await client.inspectContainer(name);
      if (!c.State.Running) throw new StatusError(1, 'You cannot attach to a stopped container, start it first');
      if (c.State.Paused) throw new StatusError(1, 'You cannot attach to a paused container, unpause it first');
      if (c.State.Restarting)
        throw new StatusError(1, 'You cannot attach to a restarting container, wait until it is running');
      const stdin = o.stdin && !!c.Config.OpenStdin;
      const tty = !!c.Config.Tty;
      if (tty && stdin && !process.stdin.isTTY) throw new StatusError(1, 'the input device is not a TTY');
      const status = await attachStartWait(cli, client, c.Id, {
        tty,
        stdin,
        stdout: true,
        stderr: true,
        start: false,
        autoRemove: false,
        sigProxy: o.sigProxy !== 'false',
        detachKeys: o.detachKeys,
      });
      if (status !== 0) throw new StatusError(status);
    });
}

// ---- cp ----

function splitCpArg(arg: string): { container?: string; path: string } {
  if (arg.startsWith('/') || arg.startsWith('.') || arg === '-') return { path: arg };
  const i = arg.indexOf(':');
  if (i <= 0) return { path: arg };
  return { container: arg.slice(0, i), path: arg.slice(i + 1) };
}

function defineCp(cmd: Command, cli: Cli) {
  cmd
    .description('Copy files/folders between a container and the local filesystem')
    .argument('<src>', 'CONTAINER:SRC_PATH | SRC_PATH | -')
    .argument('<dest>', 'CONTAINER:DEST_PATH | DEST_PATH | -')
    .option('-a, --archive', 'Archive mode (copy all uid/gid information)')
    .option('-L, --follow-link', 'Always follow symbol link in SRC_PATH')
    .option('-q, --quiet', 'Suppress progress output during copy')
    .action(
      async (srcArg: string, destArg: string, o: { archive?: boolean; followLink?: boolean; quiet?: boolean }) => {
        const src = splitCpArg(srcArg);
        const dest = splitCpArg(destArg);
        if (src.container && dest.container) throw new StatusError(1, 'copying between containers is not supported');
        if (!src.container && !dest.container) throw new StatusError(1, 'must specify at least one container source');
        if (src.container && !src.path) throw new StatusError(1, 'filepath can not be empty');
        const client = await cli.client();
        try {
          if (src.container)
            await copyFromContainer(cli, client, src.container, src.path, dest.path, {
              follow: !!o.followLink,
              quiet: !!o.quiet,
            });
          else
            await copyToContainer(cli, client, src.path, dest.container!, dest.path, {
              archive: !!o.archive,
              follow: !!o.followLink,
              quiet: !!o.quiet,
            });
        } catch (err) {
          if (err instanceof StatusError) throw err;
          throw new StatusError(1, describeError(err, cli.host()));
        }
      },
    );
}

async function copyFromContainer(
  cli: Cli,
  client: EngineClient,
  container: string,
  srcPath: string,
  destPath: string,
  o: { follow: boolean; quiet: boolean },
) {
  const quiet = o.quiet;
  // -L: a symlink is copied as what it points to (the engine resolved that inside the container), under its own name.
  let from = srcPath;
  let name: string | undefined;
  if (o.follow) {
    const st = await client.statContainerPath(container, srcPath).catch(() => undefined);
    if (st && (st.mode & (2 ** 27)) !== 0 && st.linkTarget) {
      from = st.linkTarget;
      name = st.name;
    }
  }
  const { tar, stat: got } = await client.getArchive(container, from);
  const stat = name ? { ...got, name } : got;
  const srcName = got.name;
  if (destPath === '-') {
    for await (const chunk of tar)
      if (!cli.out.write(chunk)) await new Promise<void>((r) => cli.out.once('drain', () => r()));
    return;
  }
  const srcIsDir = (stat.mode & 0x80000000) !== 0 || (stat.mode & 0o170000) === 0o040000;
  const contentsOnly = srcPath.endsWith('/.') || srcPath === '.';
  const destStat = await fs.promises.stat(destPath).catch(() => undefined);
  let dir: string;
  let rootName: string;
  if (destStat?.isDirectory()) {
    dir = destPath;
    rootName = contentsOnly && srcIsDir ? '' : stat.name;
  } else if (destStat) {
    if (srcIsDir) throw new StatusError(1, `cannot copy a directory to a file`);
    dir = path.dirname(destPath);
    rootName = path.basename(destPath);
  } else {
    if (destPath.endsWith('/') && !srcIsDir)
      throw new StatusError(1, `destination directory "${destPath}" does not exist`);
    dir = path.dirname(path.resolve(destPath));
    if (!fs.existsSync(dir)) throw new StatusError(1, `destination directory "${dir}" does not exist`);
    rootName = path.basename(path.resolve(destPath));
  }
  const bytes = await extractTo(tar, path.resolve(dir), srcName, rootName);
  if (!quiet && cli.err.isTTY) cli.err.write(`Successfully copied ${humanSize(bytes)} to ${destPath}\n`);
}

async function copyToContainer(
  cli: Cli,
  client: EngineClient,
  srcPath: string,
  container: string,
  destPath: string,
  o: { archive: boolean; follow: boolean; quiet: boolean },
) {
  if (srcPath === '-') {
    await client.putArchive(container, destPath, process.stdin as unknown as Readable, {
      noOverwriteDirNonDir: true,
      copyUIDGID: o.archive,
    });
    return;
  }
  const localStat = await (o.follow ? fs.promises.stat(srcPath) : fs.promises.lstat(srcPath)).catch(() => {
    throw new StatusError(1, `lstat ${path.resolve(srcPath)}: no such file or directory`);
  });
  const contentsOnly = srcPath.endsWith('/.') || srcPath === '.';
  let destStat;
  try {
    destStat = await client.statContainerPath(container, destPath);
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  let dir: string;
  let rootName: string;
  if (destStat && ((destStat.mode & 0x80000000) !== 0 || (destStat.mode & 0o170000) === 0o040000)) {
    dir = destPath;
    rootName = contentsOnly && localStat.isDirectory() ? '' : path.basename(path.resolve(srcPath));
  } else if (destStat) {
    if (localStat.isDirectory()) throw new StatusError(1, 'cannot copy a directory to a file');
    dir = path.posix.dirname(destPath);
    rootName = path.posix.basename(destPath);
  } else {
    if (destPath.endsWith('/'))
      throw new StatusError(
        1,
        `Error response from daemon: Could not find the file ${destPath} in container ${container}`,
      );
    dir = path.posix.dirname(destPath);
    rootName = path.posix.basename(destPath);
  }
  const source = o.follow && localStat.isSymbolicLink() ? await fs.promises.realpath(srcPath) : srcPath;
  const packed = packPath(source, rootName);
  await client.putArchive(container, dir, packed.stream, { noOverwriteDirNonDir: true, copyUIDGID: o.archive });
  if (!o.quiet && cli.err.isTTY)
    cli.err.write(`Successfully copied ${humanSize(packed.bytes())} to ${container}:${destPath}\n`);
}

// ---- update / top / stats / port ----

function defineUpdate(cmd: Command, cli: Cli) {
  cmd
    .description('Update configuration of one or more containers')
    .argument('<container...>')
    .option('--cpus <n>', 'Number of CPUs')
    .option('-c, --cpu-shares <n>', 'CPU shares (relative weight)')
    .option('--cpuset-cpus <list>', 'CPUs in which to allow execution (0-3, 0,1)')
    .option('-m, --memory <bytes>', 'Memory limit')
    .option('--memory-swap <bytes>', 'Swap limit equal to memory plus swap: -1 to enable unlimited swap')
    .option('--memory-reservation <bytes>', 'Memory soft limit')
    .option('--pids-limit <n>', 'Tune container pids limit (set -1 for unlimited)')
    .option('--restart <policy>', 'Restart policy to apply when a container exits')
    .action(
      async (
        names: string[],
        o: {
          cpus?: string;
          cpuShares?: string;
          cpusetCpus?: string;
          memory?: string;
          memorySwap?: string;
          memoryReservation?: string;
          pidsLimit?: string;
          restart?: string;
        },
      ) => {
        const body: Record<string, unknown> = {};
        if (o.cpus) body.NanoCpus = Math.round(Number(o.cpus) * 1e9);
        if (o.cpuShares) body.CpuShares = Number(o.cpuShares);
        if (o.cpusetCpus) body.CpusetCpus = o.cpusetCpus;
        if (o.memory) body.Memory = ramInBytes(o.memory);
        if (o.memorySwap) body.MemorySwap = o.memorySwap === '-1' ? -1 : ramInBytes(o.memorySwap);
        if (o.memoryReservation) body.MemoryReservation = ramInBytes(o.memoryReservation);
        if (o.pidsLimit) body.PidsLimit = Number(o.pidsLimit);
        if (o.restart) {
          try {
            body.RestartPolicy = parseRestart(o.restart);
          } catch (err) {
            throw new StatusError(1, (err as Error).message.replace(/^berth: /, '').split('\n')[0]);
          }
        }
        if (!Object.keys(body).length)
          throw new StatusError(1, 'you must provide one or more flags when using this command');
        const client = await cli.client();
        await forEachName(cli, names, async (n) => {
          const r = await client.updateContainer(n, body);
          for (const w of r?.Warnings ?? []) cli.err.write(`${w}\n`);
          return n;
        });
      },
    );
}

function defineTop(cmd: Command, cli: Cli) {
  cmd
    .description('Display the running processes of a container')
    .argument('<container>')
    .argument('[ps-options...]')
    .passThroughOptions()
    .allowUnknownOption()
    .action(async (name: string, psArgs: string[]) => {
      const client = await cli.client();
      const top = await client.topContainer(name, psArgs.length ? psArgs.join(' ') : undefined);
      const lines = [top.Titles.join('\t'), ...top.Processes.map((p) => p.join('\t'))].join('\n') + '\n';
      cli.out.write(tabwrite(lines, { minwidth: 20, padding: 3 }));
    });
}

class StatsContext extends FormatContext {
  constructor(
    private s: {
      id: string;
      name: string;
      cpu: number;
      mem: number;
      limit: number;
      memPerc: number;
      rx: number;
      tx: number;
      blkRead: number;
      blkWrite: number;
      pids: number;
    },
    private trunc: boolean,
    private ref: string,
  ) {
    super();
  }
  headers() {
    return {
      ID: 'CONTAINER ID',
      Container: 'CONTAINER',
      Name: 'NAME',
      CPUPerc: 'CPU %',
      MemUsage: 'MEM USAGE / LIMIT',
      MemPerc: 'MEM %',
      NetIO: 'NET I/O',
      BlockIO: 'BLOCK I/O',
      PIDs: 'PIDS',
    };
  }
  jsonFields() {
    return ['BlockIO', 'CPUPerc', 'Container', 'ID', 'MemPerc', 'MemUsage', 'Name', 'NetIO', 'PIDs'];
  }
  get ID() {
    return this.trunc ? truncateId(this.s.id) : this.s.id;
  }
  get Container() {
    return this.ref;
  }
  get Name() {
    return this.s.name.replace(/^\//, '') || '--';
  }
  get CPUPerc() {
    return `${this.s.cpu.toFixed(2)}%`;
  }
  get MemUsage() {
    return `${bytesSize(this.s.mem)} / ${bytesSize(this.s.limit)}`;
  }
  get MemPerc() {
    return `${this.s.memPerc.toFixed(2)}%`;
  }
  get NetIO() {
    return `${humanSizeWithPrecision(this.s.rx, 3)} / ${humanSizeWithPrecision(this.s.tx, 3)}`;
  }
  get BlockIO() {
    return `${humanSizeWithPrecision(this.s.blkRead, 3)} / ${humanSizeWithPrecision(this.s.blkWrite, 3)}`;
  }
  get PIDs() {
    return String(this.s.pids);
  }
}

/** docker's stats arithmetic (calculateCPUPercentUnix, memory minus inactive file cache, summed I/O). */
export function computeStats(st: ContainerStats) {
  const cpuDelta = st.cpu_stats.cpu_usage.total_usage - (st.precpu_stats?.cpu_usage?.total_usage ?? 0);
  const sysDelta = (st.cpu_stats.system_cpu_usage ?? 0) - (st.precpu_stats?.system_cpu_usage ?? 0);
  const cpus = st.cpu_stats.online_cpus || st.cpu_stats.cpu_usage.percpu_usage?.length || 1;
  const cpu = sysDelta > 0 && cpuDelta > 0 ? (cpuDelta / sysDelta) * cpus * 100 : 0;
  const ms = st.memory_stats ?? {};
  let mem = ms.usage ?? 0;
  const cache = ms.stats?.total_inactive_file ?? ms.stats?.inactive_file;
  if (cache !== undefined && cache < mem) mem -= cache;
  const limit = ms.limit ?? 0;
  let rx = 0;
  let tx = 0;
  for (const n of Object.values(st.networks ?? {})) {
    rx += n.rx_bytes;
    tx += n.tx_bytes;
  }
  let blkRead = 0;
  let blkWrite = 0;
  for (const e of st.blkio_stats?.io_service_bytes_recursive ?? []) {
    const op = e.op.toLowerCase();
    if (op === 'read') blkRead += e.value;
    if (op === 'write') blkWrite += e.value;
  }
  return {
    cpu,
    mem,
    limit,
    memPerc: limit ? (mem / limit) * 100 : 0,
    rx,
    tx,
    blkRead,
    blkWrite,
    pids: st.pids_stats?.current ?? 0,
  };
}

const DEFAULT_STATS_FORMAT =
  'table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}';

function defineStats(cmd: Command, cli: Cli) {
  cmd
    .description('Display a live stream of container(s) resource usage statistics')
    .argument('[container...]')
    .option('-a, --all', 'Show all containers (default shows just running)')
    .option('--format <format>', 'Format output using a custom template')
    .option('--no-stream', 'Disable streaming stats and only pull the first result')
    .option('--no-trunc', 'Do not truncate output')
    .action(async (names: string[], o: { all?: boolean; format?: string; stream: boolean; trunc: boolean }) => {
      const client = await cli.client();
      const targets: { ref: string; id: string; name: string }[] = [];
      if (names.length) {
        for (const n of names) {
          const c = await client.inspectContainer(n).catch((err) => {
            throw new StatusError(1, describeError(err, cli.host()));
          });
          targets.push({ ref: n, id: c.Id, name: c.Name });
        }
      } else {
        for (const c of await client.listContainers({ all: o.all }))
          targets.push({ ref: truncateId(c.Id), id: c.Id, name: c.Names?.[0] ?? '' });
      }
      const format = pickFormat(o.format, DEFAULT_STATS_FORMAT);
      const sample = new StatsContext(
        { id: '', name: '', cpu: 0, mem: 0, limit: 0, memPerc: 0, rx: 0, tx: 0, blkRead: 0, blkWrite: 0, pids: 0 },
        true,
        '',
      );
      const render = (latest: Map<string, ContainerStats | undefined>) =>
        renderFormat(
          format,
          targets.map((t) => {
            const st = latest.get(t.id);
            const s = st
              ? computeStats(st)
              : { cpu: 0, mem: 0, limit: 0, memPerc: 0, rx: 0, tx: 0, blkRead: 0, blkWrite: 0, pids: 0 };
            return new StatsContext({ id: t.id, name: t.name, ...s }, o.trunc, t.ref);
          }),
          sample,
        );
      if (!o.stream) {
        const latest = new Map<string, ContainerStats | undefined>();
        await Promise.all(
          targets.map(async (t) => latest.set(t.id, await client.containerStatsOnce(t.id).catch(() => undefined))),
        );
        cli.out.write(render(latest));
        return;
      }
      const latest = new Map<string, ContainerStats | undefined>();
      const abort = new AbortController();
      process.once('SIGINT', () => abort.abort());
      for (const t of targets) {
        (async () => {
          for await (const st of client.containerStatsStream(t.id, abort.signal)) latest.set(t.id, st);
        })().catch(() => {});
      }
      while (!abort.signal.aborted) {
        await new Promise((r) => setTimeout(r, 1000));
        const text = render(latest);
        cli.out.write(cli.out.isTTY ? `\x1b[2J\x1b[H${text}` : text);
      }
    });
}

function definePort(cmd: Command, cli: Cli) {
  cmd
    .description('List port mappings or a specific mapping for the container')
    .argument('<container>')
    .argument('[private-port]', 'PRIVATE_PORT[/PROTO]')
    .action(async (name: string, port: string | undefined) => {
      const client = await cli.client();
      const c = await client.inspectContainer(name);
      const ports = c.NetworkSettings?.Ports ?? {};
      const fmt = (b: { HostIp: string; HostPort: string }) =>
        `${b.HostIp.includes(':') ? `[${b.HostIp}]` : b.HostIp || '0.0.0.0'}:${b.HostPort}`;
      if (port) {
        const key = port.includes('/') ? port : `${port}/tcp`;
        const bindings = ports[key];
        if (!bindings?.length) throw new StatusError(1, `Error: No public port '${port}' published for ${name}`);
        for (const b of bindings) cli.out.write(`${fmt(b)}\n`);
        return;
      }
      const lines: string[] = [];
      for (const [k, bindings] of Object.entries(ports))
        for (const b of bindings ?? []) lines.push(`${k} -> ${fmt(b)}`);
      lines.sort((a, b) => {
        const pa = parseInt(a, 10);
        const pb = parseInt(b, 10);
        return pa !== pb ? pa - pb : a < b ? -1 : 1;
      });
      for (const l of lines) cli.out.write(`${l}\n`);
    });
}

function defineContainerInspect(cmd: Command, cli: Cli) {
  cmd
    .description('Display detailed information on one or more containers')
    .argument('<container...>')
    .option('-f, --format <format>', 'Format output using a custom template')
    .option('-s, --size', 'Display total file sizes')
    .action(async (names: string[], o: { format?: string; size?: boolean }) => {
      const client = await cli.client();
      await inspectEach(cli, names, o.format, (n) => client.inspectContainer(n, { size: o.size }));
    });
}

function defineContainerPrune(cmd: Command, cli: Cli) {
  cmd
    .description('Remove all stopped containers')
    .option('--filter <filter>', 'Provide filter values (e.g. "until=<timestamp>")', collect)
    .option('-f, --force', 'Do not prompt for confirmation')
    .action(async (o: { filter?: string[]; force?: boolean }) => {
      if (!o.force && !(await confirm(cli, 'WARNING! This will remove all stopped containers.'))) return;
      const client = await cli.client();
      const report = await client.pruneContainers(parseFilters(o.filter));
      writeDeleted(cli, 'Deleted Containers', report.ContainersDeleted ?? []);
      writeReclaimedSpace(cli, report.SpaceReclaimed ?? 0);
    });
}

export function registerContainerCommands(program: Command, cli: Cli): void {
  const container = program.command('container').description('Manage containers');
  const both = (name: string, define: (cmd: Command) => void, alias?: string) => {
    define(program.command(name));
    const sub = container.command(name === 'ps' ? 'ls' : name);
    if (name === 'ps') sub.alias('list').alias('ps');
    if (alias) sub.alias(alias);
    define(sub);
  };
  both('ps', (c) => definePs(c, cli));
  both('create', (c) => defineCreate(c, cli));
  both('run', (c) => defineRun(c, cli));
  both('start', (c) => defineStart(c, cli));
  both('stop', (c) => defineStop(c, cli, 'stop'));
  both('restart', (c) => defineStop(c, cli, 'restart'));
  both('kill', (c) => defineKill(c, cli));
  both('rm', (c) => defineRm(c, cli), 'remove');
  both('pause', (c) =>
    defineSimple(c, cli, 'Pause all processes within one or more containers', (cl, n) => cl.pauseContainer(n)),
  );
  both('unpause', (c) =>
    defineSimple(c, cli, 'Unpause all processes within one or more containers', (cl, n) => cl.unpauseContainer(n)),
  );
  both('rename', (c) => defineRename(c, cli));
  both('wait', (c) => defineWait(c, cli));
  both('logs', (c) => defineLogs(c, cli));
  both('exec', (c) => defineExec(c, cli));
  both('attach', (c) => defineAttach(c, cli));
  both('cp', (c) => defineCp(c, cli));
  both('update', (c) => defineUpdate(c, cli));
  both('top', (c) => defineTop(c, cli));
  both('stats', (c) => defineStats(c, cli));
  both('port', (c) => definePort(c, cli));
  defineContainerInspect(container.command('inspect'), cli);
  defineContainerPrune(container.command('prune'), cli);
}
