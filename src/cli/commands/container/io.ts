import { attachStartWait } from './run';
import type { Command } from 'commander';
import { type Cli, StatusError, collect, describeError } from '../../cli';
import { parseTimestamp } from '../../format';
import { DEFAULT_DETACH_KEYS } from '../../../common/docker';
import { buildCreateConfig } from '../../runopts';
import {
  DetachedError,
  forwardResize,
  makeRaw,
  parseDetachKeys,
  pumpHijacked,
  demux,
  copyRaw,
  terminalSize,
} from '../../streams';

export function defineLogs(cmd: Command, cli: Cli) {
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

export function defineExec(cmd: Command, cli: Cli) {
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

export function defineAttach(cmd: Command, cli: Cli) {
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
