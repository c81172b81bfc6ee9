// Docker's `filters` query parameter: JSON of {"key": ["v", …]} or the legacy {"key": {"v": true}}.
import { invalidParameter } from '../errdefs';

export type Filters = Map<string, string[]>;

const goKind = (v: unknown) =>
  Array.isArray(v) ? 'array' : v === null ? 'null' : typeof v === 'boolean' ? 'bool' : typeof v;

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
    // Docker's two forms: {"key": ["v"]} and the older {"key": {"v": true}}; anything else is refused as Go's
    // decoder refuses it.
    let values: string[];
    if (Array.isArray(value)) {
      const bad = value.find((v) => typeof v !== 'string');
      if (bad !== undefined)
        throw invalidParameter(`invalid filter: json: cannot unmarshal ${goKind(bad)} into Go value of type string`);
      values = value;
    } else if (typeof value === 'object' && value !== null) {
      const bad = Object.values(value).find((v) => typeof v !== 'boolean');
      if (bad !== undefined)
        throw invalidParameter(`invalid filter: json: cannot unmarshal ${goKind(bad)} into Go value of type bool`);
      values = Object.keys(value);
    } else {
      throw invalidParameter(
        `invalid filter: json: cannot unmarshal ${goKind(value)} into Go value of type map[string]bool`,
      );
    }
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
