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

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** Unix-seconds-with-fraction (as the CLI sends `since`/`until`) → nanoseconds. */
export function parseTimestampNano(raw: string | null): bigint | undefined {
  if (raw === null || raw === '') return undefined;
  const bad = () => invalidParameter(`failed to parse value as time or duration: "${raw}"`);
  const m = /^(-?\d+)(?:\.(\d{1,9}))?$/.exec(raw);
  if (m) {
    // Go's strconv.ParseInt(…, 64): seconds past int64 are no timestamp.
    const seconds = BigInt(m[1]);
    if (seconds < INT64_MIN || seconds > INT64_MAX) throw bad();
    return seconds * 1_000_000_000n + BigInt((m[2] ?? '').padEnd(9, '0'));
  }
  const ms = Date.parse(raw);
  if (!Number.isNaN(ms)) return BigInt(ms) * 1_000_000n;
  throw bad();
}

const DURATION_UNITS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  µs: 1e3,
  μs: 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

/** Go's time.ParseDuration ("24h", "1h30m", "-1.5s") in nanoseconds, or undefined for anything else. */
export function goDurationNano(raw: string): bigint | undefined {
  const m = /^([-+]?)((?:(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+)$/.exec(raw);
  if (!m) return raw === '0' ? 0n : undefined;
  let ns = 0;
  for (const [, n, unit] of m[2].matchAll(/(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g))
    ns += Number(n) * DURATION_UNITS[unit];
  if (!Number.isFinite(ns) || ns > 2 ** 63) return undefined;
  return BigInt(Math.round(m[1] === '-' ? -ns : ns));
}

/** A prune's `until` filter (moby's getUntilFromPruneFilters and GetTimestamp): a Go duration before now, a time,
 * or Unix seconds; more than one value is refused. */
export function pruneUntil(filters: Filters): bigint | undefined {
  const values = filters.get('until');
  if (!values?.length) return undefined;
  if (values.length > 1) throw invalidParameter('more than one until filter specified');
  const d = values[0] === '0' ? undefined : goDurationNano(values[0]);
  if (d !== undefined) return BigInt(Date.now()) * 1_000_000n - d;
  const t = parseTimestampNano(values[0]);
  if (t === undefined) throw invalidParameter('failed to parse value as time or duration: ""');
  return t;
}
