// berth inspect: any object by name or ID (container, image, volume, network), as docker inspect finds it.
import type { Command } from 'commander';
import { EngineApiError } from '../../../client';
import { type Cli, StatusError, isNotFound } from '../../cli';
import { writeInspect } from '../shared';

/** inspect: containers, then images, volumes and networks, as docker tries each type in turn. */
export function defineInspect(cmd: Command, cli: Cli) {
  cmd
    .description('Return low-level information on Berth objects')
    .argument('<name...>', 'NAME|ID')
    .option('-f, --format <format>', 'Format output using a custom template')
    .option('-s, --size', 'Display total file sizes if the type is container')
    .option('--type <type>', 'Return JSON for specified type')
    .action(async (names: string[], o: { format?: string; size?: boolean; type?: string }) => {
      const client = await cli.client();
      const kinds: Record<string, (n: string) => Promise<unknown>> = {
        container: (n) => client.inspectContainer(n, { size: o.size }),
        image: (n) => client.inspectImage(n),
        volume: (n) => client.inspectVolume(n),
        network: (n) => client.inspectNetwork(n),
      };
      if (o.type && !kinds[o.type]) throw new StatusError(1, `"${o.type}" is not a valid value for --type`);
      const order = o.type ? [o.type] : Object.keys(kinds);
      const found: unknown[] = [];
      const errors: string[] = [];
      for (const n of names) {
        let hit: unknown;
        for (const k of order) {
          try {
            hit = await kinds[k](n);
            break;
          } catch (err) {
            if (!isNotFound(err) && !(err instanceof EngineApiError && (err.status === 400 || err.status === 501)))
              throw err;
          }
        }
        if (hit) found.push(hit);
        else errors.push(`Error: No such ${o.type ?? 'object'}: ${n}`);
      }
      writeInspect(cli, found, o.format);
      if (errors.length) throw new StatusError(1, errors.join('\n'));
    });
}
