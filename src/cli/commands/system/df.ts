// berth system df and system prune: disk usage and what prune frees.
import type { Command } from 'commander';
import { type Cli, collect, confirm, isNotFound, parseFilters } from '../../cli';
import {
  ContainerContext,
  FormatContext,
  ImageContext,
  VolumeContext,
  familiarName,
  normalizeReference,
  splitReference,
  humanSize,
  pickFormat,
  renderFormat,
  tabwrite,
} from '../../format';
import { prunedImageLines } from '../image';
import { writeDeleted, writeReclaimedSpace } from '../shared';

class DiskUsageContext extends FormatContext {
  constructor(
    readonly Type: string,
    readonly TotalCount: string,
    readonly Active: string,
    readonly Size: string,
    readonly Reclaimable: string,
  ) {
    super();
  }
  headers() {
    return { Type: 'TYPE', TotalCount: 'TOTAL', Active: 'ACTIVE', Size: 'SIZE', Reclaimable: 'RECLAIMABLE' };
  }
  jsonFields() {
    return ['Active', 'Reclaimable', 'Size', 'TotalCount', 'Type'];
  }
}

export function defineDf(cmd: Command, cli: Cli) {
  cmd
    .description('Show docker disk usage')
    .option('--format <format>', 'Format output using a custom template')
    .option('-v, --verbose', 'Show detailed information on space usage')
    .action(async (o: { format?: string; verbose?: boolean }) => {
      const client = await cli.client();
      const df = await client.systemDf();
      const pct = (part: number, total: number) => (total > 0 ? ` (${Math.trunc((part * 100) / total)}%)` : '');
      const images = df.Images ?? [];
      const imgTotal = df.LayersSize ?? 0;
      let used = 0;
      for (const i of images)
        if (i.Containers !== 0 && i.Size !== -1 && i.SharedSize !== -1) used += i.Size - (i.SharedSize ?? 0);
      const containers = df.Containers ?? [];
      const active = (s: string) => s === 'running' || s === 'paused' || s === 'restarting';
      const cTotal = containers.reduce((a, c) => a + (c.SizeRw ?? 0), 0);
      const cReclaim = containers.filter((c) => !active(c.State)).reduce((a, c) => a + (c.SizeRw ?? 0), 0);
      const volumes = df.Volumes ?? [];
      const vSize = volumes.reduce((a, v) => a + (v.UsageData && v.UsageData.Size > 0 ? v.UsageData.Size : 0), 0);
      const vReclaim = volumes
        .filter((v) => (v.UsageData?.RefCount ?? 0) === 0)
        .reduce((a, v) => a + (v.UsageData && v.UsageData.Size > 0 ? v.UsageData.Size : 0), 0);
      const cache = df.BuildCache ?? [];
      const bSize = cache.reduce((a, b) => a + b.Size, 0);
      const bReclaim = cache.filter((b) => !b.InUse && !b.Shared).reduce((a, b) => a + b.Size, 0);
      const rows = [
        new DiskUsageContext(
          'Images',
          String(images.length),
          String(images.filter((i) => i.Containers > 0).length),
          humanSize(imgTotal),
          `${humanSize(imgTotal - used)}${pct(imgTotal - used, imgTotal)}`,
        ),
        new DiskUsageContext(
          'Containers',
          String(containers.length),
          String(containers.filter((c) => active(c.State)).length),
          humanSize(cTotal),
          `${humanSize(cReclaim)}${pct(cReclaim, cTotal)}`,
        ),
        new DiskUsageContext(
          'Local Volumes',
          String(volumes.length),
          String(volumes.filter((v) => (v.UsageData?.RefCount ?? 0) > 0).length),
          humanSize(vSize),
          `${humanSize(vReclaim)}${pct(vReclaim, vSize)}`,
        ),
        new DiskUsageContext(
          'Build Cache',
          String(cache.length),
          String(cache.filter((b) => b.InUse).length),
          humanSize(bSize),
          humanSize(bReclaim),
        ),
      ];
      if (!o.verbose) {
        cli.out.write(
          renderFormat(
            pickFormat(o.format, 'table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}'),
            rows,
          ),
        );
        return;
      }
      // docker system df -v: a table per kind, in docker's layout.
      const imageSample = new ImageContext({ Id: '', Created: 0, Size: 0 } as never, '', '', '');
      cli.out.write('Images space usage:\n\n');
      cli.out.write(
        renderFormat(
          'table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}',
          // One row per image, named by its first tag, as docker's verbose df does.
          images.map((i) => {
            const first = (i.RepoTags ?? []).find((t) => t !== '<none>:<none>');
            const ref = first ? splitReference(first) : undefined;
            return new ImageContext(
              i,
              ref ? familiarName(normalizeReference(ref.repo).name) : '<none>',
              ref?.tag ?? '<none>',
              '',
            );
          }),
          imageSample,
        ),
      );
      cli.out.write('\nContainers space usage:\n\n');
      cli.out.write(
        renderFormat(
          'table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}',
          containers.map((c) => new ContainerContext({ ...c, SizeRootFs: 0 })),
          new ContainerContext({} as never),
        ),
      );
      cli.out.write('\nLocal Volumes space usage:\n\n');
      cli.out.write(
        renderFormat(
          'table {{.Name}}\t{{.Links}}\t{{.Size}}',
          volumes.map((v) => new VolumeContext(v)),
          new VolumeContext({} as never),
        ),
      );
      cli.out.write(`\nBuild cache usage: ${humanSize(bSize)}\n\n`);
      cli.out.write(tabwrite('CACHE ID\tCACHE TYPE\tSIZE\tCREATED\tLAST USED\tUSAGE\tSHARED\n'));
    });
}

export function definePrune(cmd: Command, cli: Cli) {
  cmd
    .description('Remove unused data')
    .option('-a, --all', 'Remove all unused images not just dangling ones')
    .option('--filter <filter>', 'Provide filter values (e.g. "label=<key>=<value>")', collect)
    .option('-f, --force', 'Do not prompt for confirmation')
    .option('--volumes', 'Prune anonymous volumes')
    .action(async (o: { all?: boolean; filter?: string[]; force?: boolean; volumes?: boolean }) => {
      const items = ['all stopped containers', 'all networks not used by at least one container'];
      if (o.volumes) items.push('all anonymous volumes not used by at least one container');
      items.push(o.all ? 'all images without at least one container associated to them' : 'all dangling images');
      items.push(o.all ? 'all build cache' : 'unused build cache');
      const warning = `WARNING! This will remove:\n${items.map((i) => `  - ${i}\n`).join('')}`;
      if (!o.force && !(await confirm(cli, warning))) return;
      const client = await cli.client();
      const filters = parseFilters(o.filter);
      let reclaimed = 0;
      const c = await client.pruneContainers(filters);
      writeDeleted(cli, 'Deleted Containers', c.ContainersDeleted ?? []);
      reclaimed += c.SpaceReclaimed ?? 0;
      try {
        const n = await client.pruneNetworks(filters);
        writeDeleted(cli, 'Deleted Networks', n.NetworksDeleted ?? []);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
      if (o.volumes) {
        const v = await client.pruneVolumes(filters);
        writeDeleted(cli, 'Deleted Volumes', v.VolumesDeleted ?? []);
        reclaimed += v.SpaceReclaimed ?? 0;
      }
      const i = await client.pruneImages({ ...filters, dangling: [o.all ? 'false' : 'true'] });
      writeDeleted(cli, 'Deleted Images', prunedImageLines(i.ImagesDeleted ?? []));
      reclaimed += i.SpaceReclaimed ?? 0;
      writeReclaimedSpace(cli, reclaimed);
    });
}
