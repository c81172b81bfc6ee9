// Docker's `filters` query parameter: JSON of {"key": ["v", …]} or the legacy {"key": {"v": true}}.
import { invalidParameter } from '../errdefs';

export type Filters = Map<string, string[]>;

export function parseFilters(raw: string | null, allowed: readonly string[]): Filters {
  const out: Filters = new Map();
  if (!raw) return out;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (err: any) {
    throw invalidParameter(`invalid filter: ${err.message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw invalidParameter('invalid filter: not an object');
  for (const [key, value] of Object.entries(parsed)) {
    if (!allowed.includes(key)) throw invalidParameter(`invalid filter '${key}'`);
    const values = Array.isArray(value)
      ? value.map(String)
      : typeof value === 'object' && value
        ? Object.keys(value)
        : [String(value)];
    out.set(key, values);
  }
  return out;
}

/** Unix-seconds-with-fraction (as the CLI sends `since`/`until`) → nanoseconds. */
export function parseTimestampNano(raw: string | null): bigint | undefined {
  if (raw === null || raw === '') return undefined;
  const m = /^(-?\d+)(?:\.(\d{1,9}))?$/.exec(raw);
  if (m) return BigInt(m[1]) * 1_000_000_000n + BigInt((m[2] ?? '').padEnd(9, '0'));
  const ms = Date.parse(raw);
  if (!Number.isNaN(ms)) return BigInt(ms) * 1_000_000n;
  throw invalidParameter(`failed to parse value as time or duration: "${raw}"`);
}
