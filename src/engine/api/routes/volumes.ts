// /volumes in Docker's shapes: create, list, inspect, remove, prune.
import type { EngineServices } from '../services';
import { invalidParameter } from '../../errdefs';
import type { MountPoint, MountSpec, VolumeInfo } from '../../volumes';
import { parseGoBool, queryBool } from '../../../common/docker';
import { parseFilters } from '../filters';
import { compareVersions, type Router } from '../router';
import { VOLUME_CREATE } from '../bodies';
import { decodeGoJson } from '../gojson';

export function renderVolume(v: VolumeInfo, usage?: { size: number }): Record<string, unknown> {
  const out: Record<string, unknown> = {
    CreatedAt: v.createdAt,
    Driver: v.driver,
    Labels: Object.keys(v.labels).length ? v.labels : null,
    Mountpoint: v.mountpoint,
    Name: v.name,
    Options: Object.keys(v.options).length ? v.options : null,
    Scope: 'local',
  };
  if (usage) out.UsageData = { Size: usage.size, RefCount: v.usedBy.length };
  return out;
}

/** Docker's inspect `Mounts` entry for one mount point. */
export function renderMountPoint(m: MountPoint): Record<string, unknown> {
  if (m.type === 'volume') {
    return {
      Type: 'volume',
      Name: m.name,
      Source: m.source,
      Destination: m.destination,
      Driver: m.driver ?? 'local',
      Mode: m.mode,
      RW: m.rw,
      Propagation: m.propagation,
    };
  }
  return {
    Type: m.type,
    Source: m.source,
    Destination: m.destination,
    Mode: m.mode,
    RW: m.rw,
    Propagation: m.propagation,
  };
}

/** One HostConfig.Mounts entry (Docker's mount.Mount) in the engine's shape; shape errors are 400s. */
export function mountSpecFromApi(raw: any): MountSpec {
  if (typeof raw !== 'object' || raw === null) throw invalidParameter('invalid mount: must be an object');
  const str = (v: unknown) => (v === undefined || v === null ? undefined : String(v));
  const spec: MountSpec = {
    type: String(raw.Type ?? ''),
    source: str(raw.Source),
    target: str(raw.Target),
    readOnly: !!raw.ReadOnly,
    consistency: str(raw.Consistency),
  };
  if (raw.BindOptions) {
    spec.bindOptions = {
      propagation: str(raw.BindOptions.Propagation),
      createMountpoint: !!raw.BindOptions.CreateMountpoint,
      nonRecursive: !!raw.BindOptions.NonRecursive,
    };
  }
  if (raw.VolumeOptions) {
    const v = raw.VolumeOptions;
    spec.volumeOptions = {
      noCopy: !!v.NoCopy,
      labels: stringMap(v.Labels, 'VolumeOptions.Labels'),
      driverConfig: v.DriverConfig
        ? {
            name: str(v.DriverConfig.Name),
            options: stringMap(v.DriverConfig.Options, 'VolumeOptions.DriverConfig.Options'),
          }
        : undefined,
      subpath: str(v.Subpath),
    };
  }
  if (raw.TmpfsOptions) {
    const t = raw.TmpfsOptions;
    spec.tmpfsOptions = {
      sizeBytes: t.SizeBytes ? Number(t.SizeBytes) : undefined,
      mode: t.Mode ? Number(t.Mode) : undefined,
      options: Array.isArray(t.Options) ? t.Options : undefined,
    };
  }
  return spec;
}

/** A HostConfig.Mounts entry back in Docker's shape (inspect's HostConfig.Mounts). */
export function renderMountSpec(m: MountSpec): Record<string, unknown> {
  const out: Record<string, unknown> = { Type: m.type };
  if (m.source) out.Source = m.source;
  out.Target = m.target;
  if (m.readOnly) out.ReadOnly = true;
  if (m.consistency) out.Consistency = m.consistency;
  if (m.bindOptions)
    out.BindOptions = {
      ...(m.bindOptions.propagation ? { Propagation: m.bindOptions.propagation } : {}),
      ...(m.bindOptions.createMountpoint ? { CreateMountpoint: true } : {}),
    };
  if (m.volumeOptions) {
    const v = m.volumeOptions;
    out.VolumeOptions = {
      ...(v.noCopy ? { NoCopy: true } : {}),
      ...(v.labels ? { Labels: v.labels } : {}),
      ...(v.driverConfig
        ? {
            DriverConfig: {
              ...(v.driverConfig.name ? { Name: v.driverConfig.name } : {}),
              ...(v.driverConfig.options ? { Options: v.driverConfig.options } : {}),
            },
          }
        : {}),
    };
  }
  if (m.tmpfsOptions)
    out.TmpfsOptions = {
      ...(m.tmpfsOptions.sizeBytes ? { SizeBytes: m.tmpfsOptions.sizeBytes } : {}),
      ...(m.tmpfsOptions.mode ? { Mode: m.tmpfsOptions.mode } : {}),
    };
  return out;
}

const LIST_FILTERS = ['dangling', 'name', 'driver', 'label'] as const;
const PRUNE_FILTERS = ['label', 'label!', 'all'] as const;

function stringMap(v: unknown, what: string): Record<string, string> | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v))
    throw invalidParameter(`invalid ${what}: must be an object of strings`);
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, String(x)]));
}

export function registerVolumeRoutes(router: Router, s: EngineServices): void {
  router.get('/volumes', (ctx) => {
    const f = parseFilters(ctx.query.get('filters'), LIST_FILTERS);
    let dangling: boolean | undefined;
    const d = f.get('dangling');
    if (d) {
      dangling = d.length === 1 ? parseGoBool(d[0]) : undefined;
      if (dangling === undefined) throw invalidParameter(`invalid filter 'dangling=[${d.join(' ')}]'`);
    }
    const vols = s.volumes.list({ dangling, name: f.get('name'), driver: f.get('driver'), label: f.get('label') });
    ctx.send(200, { Volumes: vols.map((v) => renderVolume(v)), Warnings: null });
  });

  router.post('/volumes/create', async (ctx) => {
    const body = decodeGoJson<any>(await ctx.json(), VOLUME_CREATE);
    if (body.Name !== undefined && body.Name !== null && typeof body.Name !== 'string')
      throw invalidParameter('invalid volume name: must be a string');
    const v = await s.volumes.create({
      name: body.Name ?? '',
      driver: body.Driver ?? '',
      labels: stringMap(body.Labels, 'Labels'),
      driverOpts: stringMap(body.DriverOpts, 'DriverOpts'),
    });
    ctx.send(201, renderVolume(v));
  });

  router.post('/volumes/prune', async (ctx) => {
    const f = parseFilters(ctx.query.get('filters'), PRUNE_FILTERS);
    // API 1.42 made prune leave named volumes alone; older clients keep the old meaning.
    let all = compareVersions(ctx.apiVersion, '1.42') < 0;
    const a = f.get('all');
    if (a) {
      if (a.length > 1) throw invalidParameter(`invalid filter 'all=[${a.join(' ')}]': only one value is expected`);
      const b = parseGoBool(a[0]);
      if (b === undefined)
        throw invalidParameter(`invalid filter 'all': strconv.ParseBool: parsing "${a[0]}": invalid syntax`);
      all = b;
    }
    const r = await s.volumes.prune({ all, label: f.get('label'), labelNot: f.get('label!') });
    ctx.send(200, { VolumesDeleted: r.deleted, SpaceReclaimed: r.spaceReclaimed });
  });

  router.get('/volumes/:name', (ctx) => {
    ctx.send(200, renderVolume(s.volumes.get(ctx.params.name)));
  });

  router.delete('/volumes/:name', async (ctx) => {
    const force = queryBool(ctx.query.get('force'));
    await s.volumes.remove(ctx.params.name, { force });
    ctx.send(204);
  });
}
