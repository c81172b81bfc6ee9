// network create | ls | inspect | rm | connect | disconnect | prune.
import type { Command } from 'commander';
import { type Cli, StatusError, collect, confirm, forEachName, parseFilters, parseKeyValues } from '../cli';
import { DEFAULT_NETWORK_FORMAT, NetworkContext, pickFormat, renderFormat } from '../format';
import { inspectEach } from './shared';

export function registerNetworkCommands(program: Command, cli: Cli): void {
  const network = program.command('network').description('Manage networks');

  network
    .command('create')
    .description('Create a network')
    .argument('<network>')
    .option('-d, --driver <driver>', 'Driver to manage the Network', 'bridge')
    .option('--gateway <ip>', 'IPv4 or IPv6 Gateway for the master subnet', collect)
    .option('--subnet <cidr>', 'Subnet in CIDR format that represents a network segment', collect)
    .option('--ip-range <cidr>', 'Allocate container ip from a sub-range', collect)
    .option('--internal', 'Restrict external access to the network')
    .option('--ipv6', 'Enable or disable IPv6 networking')
    .option('--attachable', 'Enable manual container attachment')
    .option('--label <label>', 'Set metadata on a network', collect)
    .option('-o, --opt <opt>', 'Set driver specific options', collect)
    .action(
      async (
        name: string,
        o: {
          driver: string;
          gateway?: string[];
          subnet?: string[];
          ipRange?: string[];
          internal?: boolean;
          ipv6?: boolean;
          attachable?: boolean;
          label?: string[];
          opt?: string[];
        },
      ) => {
        const client = await cli.client();
        const subnets = o.subnet ?? [];
        if ((o.gateway?.length ?? 0) > subnets.length)
          throw new StatusError(1, 'every ip-range or gateway must have a corresponding subnet');
        const config = subnets.map((s, i) => ({ Subnet: s, Gateway: o.gateway?.[i], IPRange: o.ipRange?.[i] }));
        const r = await client.createNetwork({
          Name: name,
          Driver: o.driver,
          Internal: !!o.internal,
          EnableIPv6: !!o.ipv6,
          Attachable: !!o.attachable,
          IPAM: { Driver: 'default', Config: config, Options: {} },
          Options: parseKeyValues(o.opt),
          Labels: parseKeyValues(o.label),
        });
        if (r.Warning) cli.err.write(`${r.Warning}\n`);
        cli.out.write(`${r.Id}\n`);
      },
    );

  network
    .command('ls')
    .alias('list')
    .description('List networks')
    .option('-f, --filter <filter>', 'Provide filter values (e.g. "driver=bridge")', collect)
    .option('--format <format>', 'Format output using a custom template')
    .option('--no-trunc', 'Do not truncate the output')
    .option('-q, --quiet', 'Only display network IDs')
    .action(async (o: { filter?: string[]; format?: string; trunc: boolean; quiet?: boolean }) => {
      const client = await cli.client();
      const list = await client.listNetworks(parseFilters(o.filter));
      const rows = [...list]
        .sort((a, b) => (a.Name < b.Name ? -1 : a.Name > b.Name ? 1 : 0))
        .map((n) => new NetworkContext(n, o.trunc));
      const format = o.quiet ? '{{.ID}}' : pickFormat(o.format, DEFAULT_NETWORK_FORMAT);
      cli.out.write(
        renderFormat(
          format,
          rows,
          new NetworkContext({ Id: '', Name: '', Created: new Date(0).toISOString() } as never),
        ),
      );
    });

  network
    .command('inspect')
    .description('Display detailed information on one or more networks')
    .argument('<network...>')
    .option('-f, --format <format>', 'Format output using a custom template')
    .action(async (names: string[], o: { format?: string }) => {
      const client = await cli.client();
      await inspectEach(cli, names, o.format, (n) => client.inspectNetwork(n));
    });

  network
    .command('rm')
    .alias('remove')
    .description('Remove one or more networks')
    .argument('<network...>')
    .option('-f, --force', 'Do not error if the network does not exist')
    .action(async (names: string[], o: { force?: boolean }) => {
      const client = await cli.client();
      await forEachName(cli, names, async (n) => {
        try {
          await client.removeNetwork(n);
        } catch (err) {
          if (o.force && (err as { status?: number }).status === 404) return undefined;
          throw err;
        }
        return n;
      });
    });

  network
    .command('connect')
    .description('Connect a container to a network')
    .argument('<network>')
    .argument('<container>')
    .option('--alias <alias>', 'Add network-scoped alias for the container', collect)
    .option('--ip <ip>', 'IPv4 address (e.g., "172.30.100.104")')
    .action(async (net: string, container: string, o: { alias?: string[]; ip?: string }) => {
      const client = await cli.client();
      await client.connectNetwork(net, container, {
        Aliases: o.alias,
        IPAMConfig: o.ip ? { IPv4Address: o.ip } : undefined,
      });
    });

  network
    .command('disconnect')
    .description('Disconnect a container from a network')
    .argument('<network>')
    .argument('<container>')
    .option('-f, --force', 'Force the container to disconnect from a network')
    .action(async (net: string, container: string, o: { force?: boolean }) => {
      const client = await cli.client();
      await client.disconnectNetwork(net, container, o.force);
    });

  network
    .command('prune')
    .description('Remove all unused networks')
    .option('--filter <filter>', 'Provide filter values (e.g. "until=<timestamp>")', collect)
    .option('-f, --force', 'Do not prompt for confirmation')
    .action(async (o: { filter?: string[]; force?: boolean }) => {
      if (
        !o.force &&
        !(await confirm(cli, 'WARNING! This will remove all custom networks not used by at least one container.'))
      )
        return;
      const client = await cli.client();
      const report = await client.pruneNetworks(parseFilters(o.filter));
      const deleted = report.NetworksDeleted ?? [];
      if (deleted.length) cli.out.write(`Deleted Networks:\n${deleted.map((d) => `${d}\n`).join('')}`);
    });
}
