// volume create | ls | inspect | rm | prune.
import type { Command } from 'commander';
import { type Cli, StatusError, collect, confirm, forEachName, parseFilters, parseKeyValues } from '../cli';
import { DEFAULT_VOLUME_FORMAT, VolumeContext, pickFormat, renderFormat } from '../format';
import { inspectEach, writeDeleted, writeReclaimedSpace } from './shared';

export function registerVolumeCommands(program: Command, cli: Cli): void {
  const volume = program.command('volume').description('Manage volumes');

  volume
    .command('create')
    .description('Create a volume')
    .argument('[volume]')
    .option('-d, --driver <driver>', 'Specify volume driver name', 'local')
    .option('--label <label>', 'Set metadata for a volume', collect)
    .option('--name <name>', 'Specify volume name')
    .option('-o, --opt <opt>', 'Set driver specific options', collect)
    .action(
      async (name: string | undefined, o: { driver: string; label?: string[]; name?: string; opt?: string[] }) => {
        if (name && o.name && name !== o.name)
          throw new StatusError(
            1,
            `conflicting options: cannot specify a volume-name through both --name and as a positional arg`,
          );
        const client = await cli.client();
        const v = await client.createVolume({
          Name: name ?? o.name ?? '',
          Driver: o.driver,
          DriverOpts: parseKeyValues(o.opt),
          Labels: parseKeyValues(o.label),
        });
        cli.out.write(`${v.Name}\n`);
      },
    );

  volume
    .command('ls')
    .alias('list')
    .description('List volumes')
    .option('-f, --filter <filter>', 'Provide filter values (e.g. "dangling=true")', collect)
    .option('--format <format>', 'Format output using a custom template')
    .option('-q, --quiet', 'Only display volume names')
    .action(async (o: { filter?: string[]; format?: string; quiet?: boolean }) => {
      const client = await cli.client();
      const { Volumes } = await client.listVolumes(parseFilters(o.filter));
      const rows = [...(Volumes ?? [])]
        .sort((a, b) => (a.Name < b.Name ? -1 : a.Name > b.Name ? 1 : 0))
        .map((v) => new VolumeContext(v));
      const format = o.quiet ? '{{.Name}}' : pickFormat(o.format, DEFAULT_VOLUME_FORMAT);
      cli.out.write(
        renderFormat(
          format,
          rows,
          new VolumeContext({ Name: '', Driver: '', Scope: '', Mountpoint: '', Labels: null, Options: null }),
        ),
      );
    });

  volume
    .command('inspect')
    .description('Display detailed information on one or more volumes')
    .argument('<volume...>')
    .option('-f, --format <format>', 'Format output using a custom template')
    .action(async (names: string[], o: { format?: string }) => {
      const client = await cli.client();
      await inspectEach(
        cli,
        names,
        o.format,
        (n) => client.inspectVolume(n),
        (message) => message.replace(/^Error response from daemon: get /, 'Error: No such volume: '),
      );
    });

  volume
    .command('rm')
    .alias('remove')
    .description('Remove one or more volumes')
    .argument('<volume...>')
    .option('-f, --force', 'Force the removal of one or more volumes')
    .action(async (names: string[], o: { force?: boolean }) => {
      const client = await cli.client();
      await forEachName(cli, names, async (n) => {
        await client.removeVolume(n, o.force);
        return n;
      });
    });

  volume
    .command('prune')
    .description('Remove unused local volumes')
    .option('-a, --all', 'Remove all unused volumes, not just anonymous ones')
    .option('--filter <filter>', 'Provide filter values (e.g. "label=<label>")', collect)
    .option('-f, --force', 'Do not prompt for confirmation')
    .action(async (o: { all?: boolean; filter?: string[]; force?: boolean }) => {
      const warning = o.all
        ? 'WARNING! This will remove all local volumes not used by at least one container.'
        : 'WARNING! This will remove anonymous local volumes not used by at least one container.';
      if (!o.force && !(await confirm(cli, warning))) return;
      const client = await cli.client();
      const filters = parseFilters(o.filter);
      if (o.all && client.apiVersion >= '1.42') filters.all = ['true'];
      const report = await client.pruneVolumes(filters);
      writeDeleted(cli, 'Deleted Volumes', report.VolumesDeleted ?? []);
      writeReclaimedSpace(cli, report.SpaceReclaimed ?? 0);
    });
}
