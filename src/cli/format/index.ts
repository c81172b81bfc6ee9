// docker's formatter: the default tables, -q, --format with "table" and "json", and the per-object contexts
// (ContainerContext, ImageContext, …) whose fields the templates read.
import type { ContainerSummary, ImageSummary, Network, Port, Volume } from '../../client';
import { tabwrite } from './tabwriter';
import { Template, goJson } from './template';
import { goTimeString, humanDuration, humanSize, humanSizeWithPrecision } from '../../common/docker';

export { tabwrite } from './tabwriter';
export { Template, TemplateError, goJson, printValue } from './template';
export * from '../../common/docker/units';

/** A row's fields for templates: plain values or no-argument getters; methods with arguments (Label "x") too. */
export abstract class FormatContext {
  /** Column titles for the table header, by field name. */
  abstract headers(): Record<string, string>;
  /** The fields `{{json .}}` shows (docker marshals every no-argument method). */
  abstract jsonFields(): string[];
  toJSON(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const f of this.jsonFields().sort()) out[f] = (this as unknown as Record<string, unknown>)[f];
    return out;
  }
}

/** Header row context: every field answers its column title, Label "x" answers x (as docker prints). */
function headerContext(ctx: FormatContext): Record<string, unknown> {
  const h: Record<string, unknown> = { ...ctx.headers() };
  h.Label = (name: string) => name;
  return h;
}

/** The format to use: the user's, or the default table (also for a bare `--format table`, as docker). */
export function pickFormat(user: string | undefined, defaultTable: string): string {
  return user === undefined || user.trim() === 'table' ? defaultTable : user;
}

export function isTableFormat(format: string): boolean {
  return format.startsWith('table');
}

/** `\t` and `\n` typed literally on the command line mean tab and newline, as in docker. */
function unescapeFormat(format: string): string {
  return format.replace(/\\t/g, '\t').replace(/\\n/g, '\n');
}

/**
 * Renders rows with a docker format: "table …" (tabwriter with a header row), "json" ({{json .}} per line), or
 * any other template (one execution per row).
 */
export function renderFormat(format: string, rows: FormatContext[], sample?: FormatContext): string {
  if (format === 'json') format = '{{json .}}';
  const table = isTableFormat(format);
  const tmpl = new Template(unescapeFormat(table ? format.slice(5).replace(/^\s/, '') : format));
  let body = '';
  for (const r of rows) body += tmpl.execute(r) + '\n';
  if (!table) return body;
  const headerFrom = rows[0] ?? sample;
  const header = headerFrom ? tmpl.executeHeader(headerContext(headerFrom)) : '';
  return tabwrite(`${header}\n${body}`);
}

// ---- helpers shared by the contexts ----

export function truncateId(id: string): string {
  const i = id.indexOf(':');
  const s = i >= 0 ? id.slice(i + 1) : id;
  return s.slice(0, 12);
}

/** docker's Ellipsis: at most `max` characters, the last one "…" when cut. */
export function ellipsis(s: string, max: number): string {
  const r = [...s];
  if (r.length <= max) return s;
  if (max <= 0) return '';
  return r.slice(0, max - 1).join('') + '…';
}

/** Splits "repo[:tag][@digest]" (the tag's colon is after the last slash). */
export function splitReference(ref: string): { repo: string; tag?: string; digest?: string } {
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  const slash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  let tag: string | undefined;
  if (colon > slash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  return { repo: rest, tag, digest };
}

/** reference.FamiliarName: drops docker.io/ and library/ as docker prints names. */
export function familiarName(repo: string): string {
  let r = repo;
  if (r.startsWith('docker.io/')) r = r.slice('docker.io/'.length);
  else if (r.startsWith('index.docker.io/')) r = r.slice('index.docker.io/'.length);
  if (r !== repo && r.startsWith('library/') && r.split('/').length === 2) r = r.slice('library/'.length);
  return r;
}

/** Normalises a user-typed image reference the way docker does: busybox → docker.io/library/busybox:latest. */
export function normalizeReference(ref: string): { name: string; tag?: string; digest?: string; familiar: string } {
  const { repo, tag, digest } = splitReference(ref);
  const first = repo.split('/')[0];
  const hasDomain = repo.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  let name = hasDomain ? repo : `docker.io/${repo.includes('/') ? repo : `library/${repo}`}`;
  if (name.startsWith('index.docker.io/')) name = `docker.io/${name.slice('index.docker.io/'.length)}`;
  return { name, tag, digest, familiar: familiarName(name) };
}

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

function labelsString(labels: Record<string, string> | null | undefined): string {
  return Object.entries(labels ?? {})
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

// ---- containers ----

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

// ---- images ----

export class ImageContext extends FormatContext {
  constructor(
    private i: ImageSummary,
    private repo: string,
    private tag: string,
    private digest: string,
    private trunc = true,
    private now = Date.now(),
  ) {
    super();
  }
  headers() {
    return {
      ID: 'IMAGE ID',
      Repository: 'REPOSITORY',
      Tag: 'TAG',
      Digest: 'DIGEST',
      CreatedSince: 'CREATED',
      CreatedAt: 'CREATED AT',
      Size: 'SIZE',
      Containers: 'CONTAINERS',
      VirtualSize: 'VIRTUAL SIZE',
      SharedSize: 'SHARED SIZE',
      UniqueSize: 'UNIQUE SIZE',
    };
  }
  jsonFields() {
    return [
      'Containers',
      'CreatedAt',
      'CreatedSince',
      'Digest',
      'ID',
      'Repository',
      'SharedSize',
      'Size',
      'Tag',
      'UniqueSize',
      'VirtualSize',
    ];
  }
  get ID() {
    return this.trunc ? truncateId(this.i.Id) : this.i.Id;
  }
  get Repository() {
    return this.repo;
  }
  get Tag() {
    return this.tag;
  }
  get Digest() {
    return this.digest;
  }
  get CreatedSince() {
    return this.i.Created > 0 ? `${humanDuration(this.now - this.i.Created * 1000)} ago` : 'N/A';
  }
  get CreatedAt() {
    return goTimeString(this.i.Created);
  }
  get Size() {
    return humanSizeWithPrecision(this.i.Size, 3);
  }
  get Containers() {
    return this.i.Containers === -1 || this.i.Containers === undefined ? 'N/A' : String(this.i.Containers);
  }
  get VirtualSize() {
    return humanSize(this.i.VirtualSize ?? this.i.Size);
  }
  get SharedSize() {
    return this.i.SharedSize === -1 || this.i.SharedSize === undefined ? 'N/A' : humanSize(this.i.SharedSize);
  }
  get UniqueSize() {
    return this.i.SharedSize === -1 || this.i.SharedSize === undefined
      ? 'N/A'
      : humanSize(this.i.Size - this.i.SharedSize);
  }
}

/** One row per repository:tag (and digest with --digests), like docker images. */
export function imageRows(images: ImageSummary[], opts: { digests: boolean; trunc: boolean }): ImageContext[] {
  const rows: ImageContext[] = [];
  for (const img of images) {
    const tags = (img.RepoTags ?? []).filter((t) => t !== '<none>:<none>');
    const digests = (img.RepoDigests ?? []).filter((d) => d !== '<none>@<none>');
    if (!tags.length && !digests.length) {
      rows.push(new ImageContext(img, '<none>', '<none>', '<none>', opts.trunc));
      continue;
    }
    const repoTags = new Map<string, string[]>();
    const repoDigests = new Map<string, string[]>();
    for (const t of tags) {
      const { repo, tag } = splitReference(t);
      if (!tag) continue;
      const name = familiarName(normalizeReference(repo).name);
      repoTags.set(name, [...(repoTags.get(name) ?? []), tag]);
    }
    for (const d of digests) {
      const { repo, digest } = splitReference(d);
      if (!digest) continue;
      const name = familiarName(normalizeReference(repo).name);
      repoDigests.set(name, [...(repoDigests.get(name) ?? []), digest]);
    }
    for (const [repo, ts] of repoTags) {
      const ds = opts.digests ? (repoDigests.get(repo) ?? []) : [];
      repoDigests.delete(repo);
      for (const tag of ts) {
        if (!ds.length) rows.push(new ImageContext(img, repo, tag, '<none>', opts.trunc));
        for (const d of ds) rows.push(new ImageContext(img, repo, tag, d, opts.trunc));
      }
    }
    for (const [repo, ds] of repoDigests) {
      if (opts.digests) for (const d of ds) rows.push(new ImageContext(img, repo, '<none>', d, opts.trunc));
      else rows.push(new ImageContext(img, repo, '<none>', '', opts.trunc));
    }
  }
  return rows;
}

export const DEFAULT_IMAGES_FORMAT = 'table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}';
export const DEFAULT_IMAGES_DIGESTS_FORMAT =
  'table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}';

// ---- volumes ----

export class VolumeContext extends FormatContext {
  constructor(private v: Volume) {
    super();
  }
  headers() {
    return {
      Name: 'VOLUME NAME',
      Driver: 'DRIVER',
      Scope: 'SCOPE',
      Mountpoint: 'MOUNTPOINT',
      Labels: 'LABELS',
      Links: 'LINKS',
      Size: 'SIZE',
      Group: 'GROUP',
      Availability: 'AVAILABILITY',
      Status: 'STATUS',
    };
  }
  jsonFields() {
    return ['Availability', 'Driver', 'Group', 'Labels', 'Links', 'Mountpoint', 'Name', 'Scope', 'Size', 'Status'];
  }
  get Name() {
    return this.v.Name;
  }
  get Driver() {
    return this.v.Driver;
  }
  get Scope() {
    return this.v.Scope;
  }
  get Mountpoint() {
    return this.v.Mountpoint;
  }
  get Labels() {
    return labelsString(this.v.Labels);
  }
  Label(name: string) {
    return this.v.Labels?.[name] ?? '';
  }
  get Links() {
    return this.v.UsageData && this.v.UsageData.RefCount >= 0 ? String(this.v.UsageData.RefCount) : 'N/A';
  }
  get Size() {
    return this.v.UsageData && this.v.UsageData.Size >= 0 ? humanSize(this.v.UsageData.Size) : 'N/A';
  }
  get Group() {
    return 'N/A';
  }
  get Availability() {
    return 'N/A';
  }
  get Status() {
    return 'N/A';
  }
}

export const DEFAULT_VOLUME_FORMAT = 'table {{.Driver}}\t{{.Name}}';

// ---- networks ----

export class NetworkContext extends FormatContext {
  constructor(
    private n: Network,
    private trunc = true,
  ) {
    super();
  }
  headers() {
    return {
      ID: 'NETWORK ID',
      Name: 'NAME',
      Driver: 'DRIVER',
      Scope: 'SCOPE',
      IPv4: 'IPV4',
      IPv6: 'IPV6',
      Internal: 'INTERNAL',
      Labels: 'LABELS',
      CreatedAt: 'CREATED AT',
    };
  }
  jsonFields() {
    return ['CreatedAt', 'Driver', 'ID', 'IPv4', 'IPv6', 'Internal', 'Labels', 'Name', 'Scope'];
  }
  get ID() {
    return this.trunc ? truncateId(this.n.Id) : this.n.Id;
  }
  get Name() {
    return this.n.Name;
  }
  get Driver() {
    return this.n.Driver;
  }
  get Scope() {
    return this.n.Scope;
  }
  get IPv4() {
    return String(this.n.EnableIPv4 ?? false);
  }
  get IPv6() {
    return String(this.n.EnableIPv6);
  }
  get Internal() {
    return String(this.n.Internal);
  }
  get Labels() {
    return labelsString(this.n.Labels);
  }
  Label(name: string) {
    return this.n.Labels?.[name] ?? '';
  }
  get CreatedAt() {
    return goTimeStringNanos(this.n.Created);
  }
}

/** time.Time.String() with nanoseconds for an RFC 3339 timestamp. */
function goTimeStringNanos(rfc3339: string): string {
  const m = /\.(\d+)/.exec(rfc3339);
  const base = goTimeString(Math.floor(Date.parse(rfc3339) / 1000));
  if (!m || /^0+$/.test(m[1])) return base;
  return base.replace(/^(\S+ \S+)/, `$1.${m[1].replace(/0+$/, '')}`);
}

export const DEFAULT_NETWORK_FORMAT = 'table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}';

/** docker inspect's output: the raw objects, indented by four spaces, HTML characters escaped like Go. */
export function inspectJson(objects: unknown[]): string {
  if (!objects.length) return '[]\n';
  return (
    JSON.stringify(objects, null, 4).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026') + '\n'
  );
}

export { goJson as json };
