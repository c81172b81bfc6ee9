import type { Command } from 'commander';
import type { ContainerSummary } from '../../../client';
import { type Cli, StatusError, collect, confirm, parseFilters } from '../../cli';
import { ContainerContext, DEFAULT_PS_FORMAT, pickFormat, renderFormat } from '../../format';
import { inspectEach, writeDeleted, writeReclaimedSpace } from '../shared';

export function definePs(cmd: Command, cli: Cli) {
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

export function definePort(cmd: Command, cli: Cli) {
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

export function defineContainerInspect(cmd: Command, cli: Cli) {
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

export function defineContainerPrune(cmd: Command, cli: Cli) {
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
