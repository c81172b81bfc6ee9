// How the views and the extension print sizes and ages (plain functions, free of `vscode`).

/** Sizes in decimal units, three significant digits ("1.23 MB", "456 kB"): tree descriptions and tooltips. */
export function formatSize(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '';
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  let n = bytes;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${n >= 100 || i === 0 ? Math.round(n) : n.toFixed(n >= 10 ? 1 : 2)} ${units[i]}`;
}

/** Bytes with one decimal in decimal units ("500.0 kB", "1.2 GB"): what notifications and progress say. */
export function formatBytes(n: number | undefined): string {
  if (!n) return '0 B';
  const u = ['B', 'kB', 'MB', 'GB'];
  let i = 0;
  while (n >= 1000 && i < u.length - 1) {
    n /= 1000;
    i++;
  }
  return `${n.toFixed(i ? 1 : 0)} ${u[i]}`;
}

/** "3 days ago", relative to `now`; used only in descriptions and recomputed only when the list is. */
export function formatAge(createdSeconds: number, now = Date.now()): string {
  const s = Math.max(0, Math.floor(now / 1000 - createdSeconds));
  const steps: [number, string][] = [
    [31536000, 'year'],
    [2592000, 'month'],
    [604800, 'week'],
    [86400, 'day'],
    [3600, 'hour'],
    [60, 'minute'],
  ];
  for (const [secs, unit] of steps) {
    const n = Math.floor(s / secs);
    if (n >= 1) return `${n} ${unit}${n > 1 ? 's' : ''} ago`;
  }
  return 'just now';
}
