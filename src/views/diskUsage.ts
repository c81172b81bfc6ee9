// The Disk Usage view's rows from GET /system/df, summed as `docker system df` sums them (its reclaimable rules),
// with each category's largest items as children.
import type { SystemDf } from '../client/types';
import { containerName, formatSize, isHelper, type TreeRecord } from './model';

export interface DfTotals {
  kind: 'images' | 'containers' | 'volumes' | 'buildCache';
  label: string;
  count: number;
  active: number;
  size: number;
  reclaimable: number;
}

/** docker system df's TYPE/TOTAL/ACTIVE/SIZE/RECLAIMABLE rows. */
export function diskUsageTotals(df: SystemDf): DfTotals[] {
  const images = df.Images ?? [];
  const activeImages = images.filter((i) => i.Containers > 0);
  const usedByActive = activeImages.reduce(
    (a, i) => a + (i.Size >= 0 && i.SharedSize >= 0 ? i.Size - i.SharedSize : 0),
    0,
  );
  const containers = (df.Containers ?? []).filter((c) => !isHelper(c));
  const volumes = df.Volumes ?? [];
  const cache = df.BuildCache ?? [];
  return [
    {
      kind: 'images',
      label: 'Images',
      count: images.length,
      active: activeImages.length,
      size: df.LayersSize ?? 0,
      reclaimable: Math.max(0, (df.LayersSize ?? 0) - usedByActive),
    },
    {
      kind: 'containers',
      label: 'Containers',
      count: containers.length,
      active: containers.filter((c) => c.State === 'running').length,
      size: containers.reduce((a, c) => a + (c.SizeRw ?? 0), 0),
      reclaimable: containers.filter((c) => c.State !== 'running').reduce((a, c) => a + (c.SizeRw ?? 0), 0),
    },
    {
      kind: 'volumes',
      label: 'Local Volumes',
      count: volumes.length,
      active: volumes.filter((v) => (v.UsageData?.RefCount ?? 0) > 0).length,
      size: volumes.reduce((a, v) => a + Math.max(0, v.UsageData?.Size ?? 0), 0),
      reclaimable: volumes
        .filter((v) => (v.UsageData?.RefCount ?? 0) === 0)
        .reduce((a, v) => a + Math.max(0, v.UsageData?.Size ?? 0), 0),
    },
    {
      kind: 'buildCache',
      label: 'Build Cache',
      count: cache.length,
      active: cache.filter((b) => b.InUse).length,
      size: cache.filter((b) => !b.Shared).reduce((a, b) => a + b.Size, 0),
      reclaimable: cache.filter((b) => !b.Shared && !b.InUse).reduce((a, b) => a + b.Size, 0),
    },
  ];
}

const ICONS = { images: 'file-binary', containers: 'package', volumes: 'database', buildCache: 'archive' };
const MAX_ITEMS = 50;

export function buildDiskUsageTree(df: SystemDf): TreeRecord[] {
  const items: Record<DfTotals['kind'], { id: string; label: string; size: number; description: string }[]> = {
    images: (df.Images ?? []).map((i) => ({
      id: i.Id,
      label: i.RepoTags?.find((t) => t !== '<none>:<none>') ?? i.Id.replace(/^sha256:/, '').slice(0, 12),
      size: i.Size,
      description: `${formatSize(i.Size)}${i.SharedSize > 0 ? ` (${formatSize(i.SharedSize)} shared)` : ''}${i.Containers > 0 ? ` · ${i.Containers} container${i.Containers > 1 ? 's' : ''}` : ''}`,
    })),
    containers: (df.Containers ?? [])
      .filter((c) => !isHelper(c))
      .map((c) => ({
        id: c.Id,
        label: containerName(c),
        size: c.SizeRw ?? 0,
        description: `${formatSize(c.SizeRw ?? 0)} · ${c.State}`,
      })),
    volumes: (df.Volumes ?? []).map((v) => ({
      id: v.Name,
      label: v.Name,
      size: Math.max(0, v.UsageData?.Size ?? 0),
      description: `${v.UsageData && v.UsageData.Size >= 0 ? formatSize(v.UsageData.Size) : 'size unknown'}${(v.UsageData?.RefCount ?? 0) > 0 ? ` · ${v.UsageData!.RefCount} container${v.UsageData!.RefCount > 1 ? 's' : ''}` : ' · unused'}`,
    })),
    buildCache: (df.BuildCache ?? []).map((b, i) => ({
      id: String((b as { ID?: string }).ID ?? i),
      label: String((b as { Description?: string }).Description ?? (b as { ID?: string }).ID ?? `cache ${i}`),
      size: b.Size,
      description: `${formatSize(b.Size)}${b.InUse ? ' · in use' : ''}${b.Shared ? ' · shared' : ''}`,
    })),
  };
  return diskUsageTotals(df).map((t) => {
    const description = `${formatSize(t.size)} · ${t.count} (${t.active} active) · ${formatSize(t.reclaimable)} reclaimable`;
    const sorted = items[t.kind].sort((a, b) => b.size - a.size);
    const children: TreeRecord[] = sorted.slice(0, MAX_ITEMS).map((x) => ({
      id: `df:${t.kind}:${x.id}`,
      kind: 'info' as const,
      label: x.label,
      description: x.description,
      contextValue: `df.item.${t.kind}`,
      signature: `${x.label}|${x.description}`,
    }));
    if (sorted.length > MAX_ITEMS)
      children.push({
        id: `df:${t.kind}:more`,
        kind: 'info',
        label: `… ${sorted.length - MAX_ITEMS} more`,
        contextValue: 'df.more',
        signature: String(sorted.length),
      });
    return {
      id: `df:${t.kind}`,
      kind: 'df' as const,
      label: t.label,
      description,
      tooltip: `${t.label}: ${t.count} total, ${t.active} active\nSize: ${formatSize(t.size)}\nReclaimable: ${formatSize(t.reclaimable)}${t.size ? ` (${Math.round((t.reclaimable * 100) / t.size)}%)` : ''}`,
      contextValue: `df.${t.kind}${t.reclaimable > 0 || t.count > t.active ? '.reclaimable' : ''}`,
      icon: { id: ICONS[t.kind] },
      expanded: false,
      children: children.length ? children : undefined,
      signature: `${t.label}|${description}|${children.length}`,
    };
  });
}
