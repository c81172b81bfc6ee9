// berth events (and system events): the engine's event stream, filtered and formatted.
import type { Command } from 'commander';
import { type Cli, collect, parseFilters } from '../../cli';
import { Template, parseTimestamp, rfc3339NanoFixed } from '../../format';

export function defineEvents(cmd: Command, cli: Cli) {
  cmd
    .description('Get real time events from the server')
    .option('-f, --filter <filter>', 'Filter output based on conditions provided', collect)
    .option('--format <format>', 'Format output using a custom template')
    .option('--since <time>', 'Show all events created since timestamp')
    .option('--until <time>', 'Stream events until this timestamp')
    .action(async (o: { filter?: string[]; format?: string; since?: string; until?: string }) => {
      const client = await cli.client();
      const tmpl = o.format ? new Template(o.format === 'json' ? '{{json .}}' : o.format) : undefined;
      const abort = new AbortController();
      process.once('SIGINT', () => abort.abort());
      const filters = parseFilters(o.filter);
      const lines = client.lines('GET', '/events', {
        query: {
          since: o.since ? parseTimestamp(o.since) : undefined,
          until: o.until ? parseTimestamp(o.until) : undefined,
          filters: Object.keys(filters).length ? filters : undefined,
        },
        signal: abort.signal,
      });
      const print = (line: string) => {
        const e = JSON.parse(line);
        if (tmpl) {
          cli.out.write(tmpl.execute(e) + '\n');
          return;
        }
        // timeNano exceeds a double's precision: read it from the text.
        const nano = /"timeNano":(\d+)/.exec(line)?.[1];
        let s = nano
          ? `${rfc3339NanoFixed(BigInt(nano))} `
          : e.time
            ? `${rfc3339NanoFixed(BigInt(e.time) * 1_000_000_000n)} `
            : '';
        s += `${e.Type} ${e.Action} ${e.Actor?.ID ?? ''}`;
        const attrs = e.Actor?.Attributes ?? {};
        const keys = Object.keys(attrs).sort();
        if (keys.length) s += ` (${keys.map((k) => `${k}=${attrs[k]}`).join(', ')})`;
        cli.out.write(`${s}\n`);
      };
      try {
        for await (const line of lines) print(line);
      } catch (err) {
        if (!abort.signal.aborted) throw err;
      }
    });
}
