import type { Command } from 'commander';
import type { EngineClient } from '../../../client';
import { type Cli, StatusError, forEachName } from '../../cli';

export function defineStop(cmd: Command, cli: Cli, verb: 'stop' | 'restart') {
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

export function defineKill(cmd: Command, cli: Cli) {
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

export function defineRm(cmd: Command, cli: Cli) {
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

export function defineSimple(
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

export function defineRename(cmd: Command, cli: Cli) {
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

export function defineWait(cmd: Command, cli: Cli) {
  cmd
    .description('Block until one or more containers stop, then print their exit codes')
    .argument('<container...>')
    .action(async (names: string[]) => {
      const client = await cli.client();
      await forEachName(cli, names, async (n) => String((await client.waitContainer(n)).StatusCode));
    });
}
