// ps's rows: ContainerContext and its ports column (docker's DisplayablePorts).
import { familiarName, normalizeReference, splitReference } from './reference';
import type { ContainerSummary, Port } from '../../client';
import { goTimeString, humanDuration, humanSizeWithPrecision } from '../../common/docker';
import { ellipsis, FormatContext, labelsString, truncateId } from './render';

/** api/types DisplayablePorts: ranges grouped, host mappings listed, as docker ps prints them. */
export function displayablePorts(ports: Port[]): string {
  const sorted = [...ports].sort((a, b) =>
    a.PrivatePort !== b.PrivatePort
      ? a.PrivatePort - b.PrivatePort
      : (a.IP ?? '') !== (b.IP ?? '')
        ? (a.IP ?? '') < (b.IP ?? '')
          ? -1
          : 1
        : (a.PublicPort ?? 0) !== (b.PublicPort ?? 0)
          ? (a.PublicPort ?? 0) - (b.PublicPort ?? 0)
          : a.Type < b.Type
            ? -1
            : a.Type > b.Type
              ? 1
              : 0,
  );
  const joinHostPort = (ip: string, port: string) => (ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`);
  const groups = new Map<string, { first: number; last: number }>();
  const result: string[] = [];
  const hostMappings: string[] = [];
  const formGroup = (key: string, first: number, last: number) => {
    const slash = key.lastIndexOf('/');
    const ip = slash >= 0 ? key.slice(0, slash) : '';
    const type = slash >= 0 ? key.slice(slash + 1) : key;
    let group = String(first);
    if (first !== last) group = `${group}-${last}`;
    if (ip) group = `${joinHostPort(ip, group)}->${group}`;
    return `${group}/${type}`;
  };
  for (const p of sorted) {
    const current = p.PrivatePort;
    let key = p.Type;
    if (p.IP) {
      if (p.PublicPort !== current) {
        hostMappings.push(`${joinHostPort(p.IP, String(p.PublicPort))}->${p.PrivatePort}/${p.Type}`);
        continue;
      }
      key = `${p.IP}/${p.Type}`;
    }
    const g = groups.get(key);
    if (!g) {
      groups.set(key, { first: current, last: current });
      continue;
    }
    if (current === g.last + 1) {
      g.last = current;
      continue;
    }
    result.push(formGroup(key, g.first, g.last));
    groups.set(key, { first: current, last: current });
  }
  for (const [key, g] of groups) result.push(formGroup(key, g.first, g.last));
  return [...result, ...hostMappings].join(', ');
}

export class ContainerContext extends FormatContext {
  constructor(
    private c: ContainerSummary,
    private trunc = true,
    private now = Date.now(),
  ) {
    super();
  }
  headers() {
    return {
      ID: 'CONTAINER ID',
      Image: 'IMAGE',
      Command: 'COMMAND',
      CreatedAt: 'CREATED AT',
      RunningFor: 'CREATED',
      Ports: 'PORTS',
      State: 'STATE',
      Status: 'STATUS',
      Size: 'SIZE',
      Names: 'NAMES',
      Labels: 'LABELS',
      Mounts: 'MOUNTS',
      LocalVolumes: 'LOCAL VOLUMES',
      Networks: 'NETWORKS',
      Platform: 'PLATFORM',
    };
  }
  jsonFields() {
    return [
      'Command',
      'CreatedAt',
      'ID',
      'Image',
      'Labels',
      'LocalVolumes',
      'Mounts',
      'Names',
      'Networks',
      'Platform',
      'Ports',
      'RunningFor',
      'Size',
      'State',
      'Status',
    ];
  }
  get ID() {
    return this.trunc ? truncateId(this.c.Id) : this.c.Id;
  }
  get Names() {
    const names = (this.c.Names ?? []).map((n) => n.replace(/^\//, '')).filter((n) => !this.trunc || !n.includes('/'));
    return names.join(',');
  }
  get Image() {
    const img = this.c.Image;
    if (!img) return '<no image>';
    if (this.trunc) {
      if (truncateId(this.c.ImageID ?? '') === truncateId(img)) return truncateId(img);
      const { repo, tag, digest } = splitReference(img);
      if (digest || tag) return familiarName(normalizeReference(repo).name) + (tag ? `:${tag}` : '');
    }
    return img;
  }
  get Command() {
    return JSON.stringify(this.trunc ? ellipsis(this.c.Command ?? '', 20) : (this.c.Command ?? ''));
  }
  get CreatedAt() {
    return goTimeString(this.c.Created);
  }
  get RunningFor() {
    return `${humanDuration(this.now - this.c.Created * 1000)} ago`;
  }
  get Ports() {
    return displayablePorts(this.c.Ports ?? []);
  }
  get State() {
    return this.c.State;
  }
  get Status() {
    return this.c.Status;
  }
  get Size() {
    const srw = humanSizeWithPrecision(this.c.SizeRw ?? 0, 3);
    const sv = humanSizeWithPrecision(this.c.SizeRootFs ?? 0, 3);
    return (this.c.SizeRootFs ?? 0) > 0 ? `${srw} (virtual ${sv})` : srw;
  }
  get Labels() {
    return labelsString(this.c.Labels);
  }
  Label(name: string) {
    return this.c.Labels?.[name] ?? '';
  }
  get Mounts() {
    return (this.c.Mounts ?? [])
      .map((m) => (this.trunc ? ellipsis(m.Name || m.Source, 15) : m.Name || m.Source))
      .join(',');
  }
  get LocalVolumes() {
    return String((this.c.Mounts ?? []).filter((m) => m.Driver === 'local').length);
  }
  get Networks() {
    return Object.keys(this.c.NetworkSettings?.Networks ?? {})
      .sort()
      .join(',');
  }
  get Platform() {
    const p = (
      this.c.ImageManifestDescriptor as
        | { platform?: { os?: string; architecture?: string; variant?: string } }
        | undefined
    )?.platform;
    return p ? [p.os, p.architecture, p.variant].filter(Boolean).join('/') : null;
  }
}

export const DEFAULT_PS_FORMAT =
  'table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}';
