// The trees' models as plain records, free of `vscode`: what each row shows, its stable id, its contextValue
// (menus key on it) and its children. The providers only wrap these records in TreeItems, so everything here is
// unit-testable and cheap enough to rebuild from one list call per event (500 containers well under 50 ms).
import type { ContainerSummary, ImageSummary, Port, MountPoint, Volume } from '../client/types';
import { formatAge, formatSize } from './format';
import { type StatsSample, formatStatsShort } from './stats';

export { formatAge, formatSize } from './format';

export type NodeKind =
  | 'group'
  | 'container'
  | 'port'
  | 'mount'
  | 'repository'
  | 'tag'
  | 'volume'
  | 'network'
  | 'files'
  | 'file'
  | 'df'
  | 'registry'
  | 'engine'
  | 'info';

export interface TreeRecord {
  /** Stable across refreshes (VS Code keeps selection and expansion by it). */
  id: string;
  kind: NodeKind;
  label: string;
  description?: string;
  tooltip?: string;
  /** Menus' `when` clauses match `viewItem` against this. */
  contextValue: string;
  /** A codicon id (e.g. `debug-start`), with an optional theme colour id. */
  icon?: { id: string; color?: string };
  /** Set on container rows and their children; image rows carry the image reference. */
  containerId?: string;
  containerName?: string;
  imageRef?: string;
  imageId?: string;
  volumeName?: string;
  /** For ports with a public binding: the URL to open. */
  url?: string;
  /** Network rows and a network's container rows. */
  networkId?: string;
  networkName?: string;
  /** A Compose project's group row. */
  composeProject?: string;
  /** A file or folder inside a container or volume (a berth-container: or berth-volume: URI). */
  fileUri?: string;
  /** Registry rows: the registry's address, and the repository (and tag) below it. */
  registry?: string;
  repository?: string;
  /** Engine rows: the engine's id in the engine list. */
  engineId?: string;
  /** Children come from the provider's loadChildren when expanded. */
  lazy?: boolean;
  /** Overrides the default collapsed/expanded state. */
  expanded?: boolean;
  /** A command that clicking the row runs, with the row as its argument. */
  open?: { command: string; title: string };
  /** Lets VS Code pick the file icon and show the path (file rows). */
  resourceUri?: string;
  children?: TreeRecord[];
  /** Everything a row renders, joined: a changed signature means the row must be redrawn. */
  signature: string;
}

export type GroupBy = 'none' | 'composeProject' | 'label';

export interface ContainerViewOptions {
  groupBy: GroupBy;
  /** The label whose value groups containers when groupBy is `label`. */
  groupByLabel?: string;
  /** What the row's label shows. */
  label: 'name' | 'image' | 'id';
  /** What the description shows, in order. */
  description: ('status' | 'image' | 'ports' | 'name' | 'id' | 'stats')[];
  /** Live CPU and memory of running containers (the shared stats subscription), by container id. */
  stats?: ReadonlyMap<string, StatsSample>;
  /** Adds a lazily listed "Files" row under each container. */
  files?: boolean;
}

export const DEFAULT_CONTAINER_OPTIONS: ContainerViewOptions = {
  groupBy: 'none',
  label: 'name',
  description: ['status', 'stats', 'ports', 'image'],
};

/** Containers the extension made for itself (to reach a volume's files): never shown as the user's. */
export const HELPER_LABEL = 'berth.helper';
export function isHelper(c: Pick<ContainerSummary, 'Labels'>): boolean {
  return !!c.Labels?.[HELPER_LABEL];
}

const COMPOSE_PROJECT = 'com.docker.compose.project';

export function containerName(c: Pick<ContainerSummary, 'Names' | 'Id'>): string {
  const n = c.Names?.[0];
  return n ? n.replace(/^\//, '') : c.Id.slice(0, 12);
}

/** running | paused | restarting | exited | created | dead | removing: the part of contextValue menus key on. */
export function containerState(c: Pick<ContainerSummary, 'State'>): string {
  return (c.State || 'unknown').toLowerCase();
}

const STATE_ICONS: Record<string, { id: string; color?: string }> = {
  running: { id: 'debug-start', color: 'testing.iconPassed' },
  paused: { id: 'debug-pause', color: 'editorWarning.foreground' },
  restarting: { id: 'sync', color: 'editorWarning.foreground' },
  exited: { id: 'debug-stop', color: 'disabledForeground' },
  created: { id: 'circle-outline' },
  dead: { id: 'error', color: 'errorForeground' },
  removing: { id: 'trash' },
};

export type Health = 'healthy' | 'unhealthy' | 'starting' | undefined;

/** The health docker ps shows in Status: "Up 3 minutes (healthy)", "(unhealthy)", "(health: starting)". */
export function containerHealth(c: Pick<ContainerSummary, 'Status' | 'State'> & { Health?: unknown }): Health {
  const h = (c.Health as { Status?: string } | undefined)?.Status;
  if (h === 'healthy' || h === 'unhealthy' || h === 'starting') return h;
  const m = /\((healthy|unhealthy|health: starting)\)/.exec(c.Status ?? '');
  if (!m) return undefined;
  return m[1] === 'health: starting' ? 'starting' : (m[1] as Health);
}

const HEALTH_ICONS: Record<string, { id: string; color?: string }> = {
  healthy: { id: 'pass-filled', color: 'testing.iconPassed' },
  unhealthy: { id: 'warning', color: 'errorForeground' },
  starting: { id: 'loading~spin', color: 'editorWarning.foreground' },
};

export function formatPort(p: Port): string {
  if (p.PublicPort)
    return `${p.IP && p.IP !== '0.0.0.0' && p.IP !== '::' ? p.IP : ''}${p.IP && p.IP !== '0.0.0.0' && p.IP !== '::' ? ':' : ''}${p.PublicPort}→${p.PrivatePort}/${p.Type}`;
  return `${p.PrivatePort}/${p.Type}`;
}

/** Ports as docker ps shows them, IPv4 and IPv6 bindings of one port folded together. */
function uniquePorts(ports: Port[] | null | undefined): Port[] {
  const seen = new Set<string>();
  const out: Port[] = [];
  for (const p of ports ?? []) {
    const key = `${p.PublicPort ?? ''}/${p.PrivatePort}/${p.Type}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(p);
  }
  return out.sort((a, b) => a.PrivatePort - b.PrivatePort || (a.PublicPort ?? 0) - (b.PublicPort ?? 0));
}

export function portUrl(p: Port): string | undefined {
  if (!p.PublicPort || p.Type !== 'tcp') return undefined;
  const host = !p.IP || p.IP === '0.0.0.0' || p.IP === '::' ? 'localhost' : p.IP.includes(':') ? `[${p.IP}]` : p.IP;
  return `http://${host}:${p.PublicPort}`;
}

export function containerRecord(
  c: ContainerSummary,
  opts: ContainerViewOptions = DEFAULT_CONTAINER_OPTIONS,
): TreeRecord {
  const name = containerName(c);
  const state = containerState(c);
  const ports = uniquePorts(c.Ports);
  const sample = state === 'running' ? opts.stats?.get(c.Id) : undefined;
  const health = state === 'running' ? containerHealth(c) : undefined;
  const parts: Record<string, string> = {
    stats: sample ? formatStatsShort(sample) : '',
    status: c.Status ?? state,
    image: c.Image,
    ports: ports
      .filter((p) => p.PublicPort)
      .map(formatPort)
      .join(', '),
    name,
    id: c.Id.slice(0, 12),
  };
  const label = opts.label === 'image' ? c.Image : opts.label === 'id' ? parts.id : name;
  const description = opts.description
    .map((k) => parts[k])
    .filter(Boolean)
    .join(' · ');
  const hasPublished = ports.some((p) => portUrl(p));
  // contextValue: `container.<state>` plus flags menus test with regex (`viewItem =~ /^container\.running/`).
  const contextValue = `container.${state}${hasPublished ? '.web' : ''}`;
  const id = `container:${c.Id}`;
  const children: TreeRecord[] = [];
  if (opts.files)
    children.push({
      id: `${id}:files`,
      kind: 'files',
      label: 'Files',
      contextValue: 'files.container',
      icon: { id: 'files' },
      containerId: c.Id,
      containerName: name,
      fileUri: `berth-container://${c.Id}/`,
      lazy: true,
      expanded: false,
      signature: 'Files',
    });
  for (const p of ports) {
    const text = formatPort(p);
    const url = portUrl(p);
    children.push(
      leaf(
        `${id}:port:${p.PublicPort ?? ''}:${p.PrivatePort}/${p.Type}`,
        'port',
        text,
        url ? 'port.web' : 'port',
        { id: 'plug' },
        { url, containerId: c.Id, containerName: name, tooltip: url },
      ),
    );
  }
  for (const m of (c.Mounts ?? []) as MountPoint[]) {
    const source = m.Type === 'volume' ? (m.Name ?? m.Source) : m.Source;
    children.push(
      leaf(
        `${id}:mount:${m.Destination}`,
        'mount',
        m.Destination,
        `mount.${m.Type}`,
        { id: m.Type === 'volume' ? 'database' : 'file-symlink-directory' },
        {
          description: `${m.Type} ${source}${m.RW === false ? ' (ro)' : ''}`,
          containerId: c.Id,
          volumeName: m.Type === 'volume' ? m.Name : undefined,
          tooltip: `${m.Type}: ${source} → ${m.Destination}${m.RW === false ? ' (read-only)' : ''}`,
        },
      ),
    );
  }
  const tooltip =
    `${name} (${c.Id.slice(0, 12)})\nImage: ${c.Image}\nCommand: ${c.Command}\nState: ${state} — ${c.Status}` +
    (health ? `\nHealth: ${health}` : '') +
    (sample ? `\n${formatStatsShort(sample)}` : '');
  return {
    id,
    kind: 'container',
    label,
    description,
    tooltip,
    contextValue,
    icon: (health && HEALTH_ICONS[health]) || STATE_ICONS[state] || { id: 'circle-outline' },
    containerId: c.Id,
    containerName: name,
    imageRef: c.Image,
    children: children.length ? children : undefined,
    // The rendered fields that vary; the tooltip derives from these plus Command.
    signature: `${label}|${description}|${contextValue}|${c.Status}|${c.Command}|${children.length}|${health}|${parts.stats}`,
  };
}

function leaf(
  id: string,
  kind: NodeKind,
  label: string,
  contextValue: string,
  icon: TreeRecord['icon'],
  extra: Partial<TreeRecord> = {},
): TreeRecord {
  const r: TreeRecord = { id, kind, label, contextValue, icon, ...extra, signature: '' };
  r.signature = `${label}|${r.description ?? ''}|${contextValue}|${r.tooltip ?? ''}`;
  return r;
}

function groupKey(c: ContainerSummary, opts: ContainerViewOptions): string | undefined {
  if (opts.groupBy === 'composeProject') return c.Labels?.[COMPOSE_PROJECT] ?? undefined;
  if (opts.groupBy === 'label' && opts.groupByLabel) return c.Labels?.[opts.groupByLabel] ?? undefined;
  return undefined;
}

const STATE_ORDER: Record<string, number> = { running: 0, restarting: 1, paused: 2, created: 3, exited: 4, dead: 5 };

function byStateThenName(a: TreeRecord, b: TreeRecord, ca: ContainerSummary, cb: ContainerSummary): number {
  // Plain code-unit order: localeCompare costs ~10x more and 500 rows sort ~4,500 times per refresh.
  return (
    (STATE_ORDER[containerState(ca)] ?? 9) - (STATE_ORDER[containerState(cb)] ?? 9) ||
    (a.label < b.label ? -1 : a.label > b.label ? 1 : 0)
  );
}

/**
 * The containers tree: running first, then by name; grouped by compose project or a label when asked, with the
 * ungrouped containers after the groups.
 */
export function buildContainerTree(
  list: ContainerSummary[],
  opts: ContainerViewOptions = DEFAULT_CONTAINER_OPTIONS,
): TreeRecord[] {
  const rows = list.filter((c) => !isHelper(c)).map((c) => ({ c, r: containerRecord(c, opts) }));
  rows.sort((x, y) => byStateThenName(x.r, y.r, x.c, y.c));
  if (opts.groupBy === 'none') return rows.map((x) => x.r);
  const groups = new Map<string, TreeRecord[]>();
  const loose: TreeRecord[] = [];
  const running = new Map<string, number>();
  for (const { c, r } of rows) {
    const key = groupKey(c, opts);
    if (key === undefined) {
      loose.push(r);
      continue;
    }
    let g = groups.get(key);
    if (!g) groups.set(key, (g = []));
    g.push(r);
    if (containerState(c) === 'running') running.set(key, (running.get(key) ?? 0) + 1);
  }
  const out: TreeRecord[] = [];
  for (const key of [...groups.keys()].sort()) {
    const children = groups.get(key)!;
    const up = running.get(key) ?? 0;
    const description = `${up}/${children.length} running`;
    out.push({
      id: `group:${opts.groupBy}:${opts.groupByLabel ?? ''}:${key}`,
      kind: 'group',
      label: key,
      description,
      contextValue: opts.groupBy === 'composeProject' ? 'group.compose' : 'group.label',
      icon: { id: opts.groupBy === 'composeProject' ? 'layers' : 'tag' },
      composeProject: opts.groupBy === 'composeProject' ? key : undefined,
      children,
      signature: `${key}|${description}`,
    });
  }
  return out.concat(loose);
}

/** Splits `registry:5000/ns/repo:tag` into repository and tag (a port colon is not a tag). */
export function splitReference(ref: string): { repository: string; tag: string } {
  const at = ref.indexOf('@');
  if (at >= 0) return { repository: ref.slice(0, at), tag: ref.slice(at + 1) };
  const slash = ref.lastIndexOf('/');
  const colon = ref.lastIndexOf(':');
  if (colon > slash) return { repository: ref.slice(0, colon), tag: ref.slice(colon + 1) };
  return { repository: ref, tag: 'latest' };
}

/** Images grouped by repository → tags; untagged images under `<none>`. */
export function buildImageTree(list: ImageSummary[], now = Date.now()): TreeRecord[] {
  const repos = new Map<string, TreeRecord[]>();
  for (const img of list) {
    const tags = img.RepoTags?.filter((t) => t !== '<none>:<none>') ?? [];
    const refs = tags.length ? tags : ['<none>:<none>'];
    for (const ref of refs) {
      const { repository, tag } =
        ref === '<none>:<none>'
          ? { repository: '<none>', tag: img.Id.replace(/^sha256:/, '').slice(0, 12) }
          : splitReference(ref);
      const size = formatSize(img.Size);
      const age = formatAge(img.Created, now);
      const description = [size, age].filter(Boolean).join(' · ');
      const inUse = img.Containers > 0;
      const rec: TreeRecord = {
        id: `image:${img.Id}:${ref}`,
        kind: 'tag',
        label: tag,
        description,
        tooltip: `${ref === '<none>:<none>' ? '<untagged>' : ref}\n${img.Id}\nSize: ${size}\nCreated: ${new Date(img.Created * 1000).toISOString()}`,
        contextValue: ref === '<none>:<none>' ? 'image.dangling' : 'image.tagged',
        icon: { id: inUse ? 'package' : 'file-binary' },
        imageRef: ref === '<none>:<none>' ? img.Id : ref,
        imageId: img.Id,
        signature: '',
      };
      rec.signature = `${rec.label}|${description}|${rec.contextValue}|${rec.tooltip}`;
      let g = repos.get(repository);
      if (!g) repos.set(repository, (g = []));
      g.push(rec);
    }
  }
  return [...repos.keys()]
    .sort((a, b) => (a === '<none>' ? 1 : b === '<none>' ? -1 : a.localeCompare(b)))
    .map((repository) => {
      const children = repos.get(repository)!.sort((a, b) => a.label.localeCompare(b.label));
      const description = `${children.length} tag${children.length > 1 ? 's' : ''}`;
      return {
        id: `repository:${repository}`,
        kind: 'repository' as const,
        label: repository,
        description,
        contextValue: 'repository',
        icon: { id: 'repo' },
        children,
        signature: `${repository}|${description}`,
      };
    });
}

/** Volumes with driver, an in-use marker (from the container list's mounts) and the mountpoint as tooltip. */
export function buildVolumeTree(
  volumes: Volume[],
  containers: ContainerSummary[] = [],
  opts: { files?: boolean } = {},
): TreeRecord[] {
  const users = new Map<string, string[]>();
  for (const c of containers)
    for (const m of isHelper(c) ? [] : (c.Mounts ?? [])) {
      if (m.Type !== 'volume' || !m.Name) continue;
      let u = users.get(m.Name);
      if (!u) users.set(m.Name, (u = []));
      u.push(containerName(c));
    }
  return [...volumes]
    .sort((a, b) => a.Name.localeCompare(b.Name))
    .map((v) => {
      const used = users.get(v.Name) ?? [];
      const refs = v.UsageData?.RefCount;
      const inUse = used.length > 0 || (refs !== undefined && refs > 0);
      const description = [v.Driver, inUse ? `in use${used.length ? ` by ${used.join(', ')}` : ''}` : '']
        .filter(Boolean)
        .join(' · ');
      const tooltip = `${v.Name}\nDriver: ${v.Driver}\nMountpoint: ${v.Mountpoint}${v.CreatedAt ? `\nCreated: ${v.CreatedAt}` : ''}`;
      const contextValue = inUse ? 'volume.inuse' : 'volume.unused';
      return {
        id: `volume:${v.Name}`,
        kind: 'volume' as const,
        label: v.Name,
        description,
        tooltip,
        contextValue,
        icon: { id: inUse ? 'database' : 'circle-large-outline' },
        volumeName: v.Name,
        fileUri: `berth-volume://${encodeURIComponent(v.Name)}/`,
        lazy: opts.files,
        signature: `${v.Name}|${description}|${tooltip}|${contextValue}`,
      };
    });
}

export interface TreeDiff {
  /** True when rows were added, removed, moved or regrouped: the view must re-read its roots. */
  structural: boolean;
  /** Rows whose own text changed (patched in place, so VS Code redraws only them). */
  changed: TreeRecord[];
  roots: TreeRecord[];
}

/** Same rows (ids) in the same order, at every level. */
function sameShape(a: TreeRecord[] | undefined, b: TreeRecord[] | undefined): boolean {
  const la = a?.length ?? 0;
  if (la !== (b?.length ?? 0)) return false;
  for (let i = 0; i < la; i++) if (a![i].id !== b![i].id || !sameShape(a![i].children, b![i].children)) return false;
  return true;
}

/**
 * Reconciles a fresh tree with the one the view holds. Unchanged records keep their object identity; changed rows
 * are patched in place so `onDidChangeTreeData(row)` redraws only them.
 */
export function reconcile(previous: TreeRecord[], next: TreeRecord[]): TreeDiff {
  if (!sameShape(previous, next)) return { structural: true, changed: [], roots: next };
  const changed: TreeRecord[] = [];
  const walk = (old: TreeRecord[], fresh: TreeRecord[]) => {
    for (let i = 0; i < old.length; i++) {
      const o = old[i];
      const n = fresh[i];
      if (o.children && n.children) walk(o.children, n.children);
      if (o.signature !== n.signature) {
        const kids = o.children;
        Object.assign(o, n, { children: kids });
        changed.push(o);
      }
    }
  };
  walk(previous, next);
  return { structural: false, changed, roots: previous };
}
