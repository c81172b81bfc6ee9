// Request bodies checked the way dockerd's encoding/json decodes them into its Go structs: a value of the wrong
// JSON type is a 400 with Go's own text ("json: cannot unmarshal number into Go struct field
// NetworkCreateRequest.Labels of type string"), field names match case-insensitively, null leaves the zero value.
// Clients and their tests read these texts, so they are Go's word for word.
import { invalidParameter } from '../errdefs';

export type GoType =
  | 'string'
  | 'bool'
  | 'int64'
  | 'int'
  | 'uint16'
  | 'uint64'
  | 'float64'
  /** strslice.StrSlice: a string or a list of strings (Cmd, Entrypoint, Shell, Healthcheck.Test, CapAdd). */
  | 'strslice'
  | 'any'
  | { map: GoType }
  | { slice: GoType; name: string }
  | { struct: string; pkg: string; fields: Record<string, GoType> };

// What each Go integer type holds (int is 64 bits on every platform dockerd runs on); JavaScript numbers are exact
// only to 2^53, which is as far as any of these fields is ever used.
const INT_RANGE: Record<string, [number, number]> = {
  int64: [-(2 ** 63), 2 ** 63],
  int: [-(2 ** 63), 2 ** 63],
  uint16: [0, 65535],
  uint64: [0, 2 ** 64],
};

const kindOf = (v: unknown) =>
  Array.isArray(v) ? 'array' : v === null ? 'null' : typeof v === 'boolean' ? 'bool' : typeof v;

const typeName = (t: GoType): string =>
  typeof t === 'string'
    ? t === 'any'
      ? 'interface {}'
      : t
    : 'map' in t
      ? `map[string]${typeName(t.map)}`
      : 'slice' in t
        ? t.name
        : `${t.pkg}.${t.struct}`;

/**
 * The body with every field renamed to its Go spelling, or InvalidParameter with Go's message for the first
 * mismatch (in document order, as Go reports it). Unknown fields pass through untouched, as Go ignores them.
 */
export function decodeGoJson<T = any>(value: unknown, type: GoType & { struct: string }): T {
  if (value === null || value === undefined) return {} as T;
  if (kindOf(value) !== 'object')
    throw invalidParameter(`json: cannot unmarshal ${kindOf(value)} into Go value of type ${typeName(type)}`);
  return decode(value, type, { struct: type.struct, path: [] }) as T;
}

interface Where {
  /** The innermost Go struct being decoded. */
  struct: string;
  /** The JSON field names from the root to here. */
  path: string[];
}

function decode(v: unknown, t: GoType, at: Where): unknown {
  if (v === null || t === 'any') return v;
  const fail = (): never => {
    // Go names a number that does not fit an integer field by its value too.
    const kind = typeof v === 'number' && typeof t === 'string' && t in INT_RANGE ? `number ${v}` : kindOf(v);
    throw invalidParameter(
      `json: cannot unmarshal ${kind} into Go struct field ${at.struct}.${at.path.join('.')} of type ${typeName(t)}`,
    );
  };
  if (t === 'string') return typeof v === 'string' ? v : fail();
  if (t === 'bool') return typeof v === 'boolean' ? v : fail();
  if (t === 'float64') return typeof v === 'number' ? v : fail();
  if (t === 'int64' || t === 'int' || t === 'uint16' || t === 'uint64') {
    if (typeof v !== 'number' || !Number.isInteger(v)) return fail();
    const [min, max] = INT_RANGE[t];
    return v >= min && v <= max ? v : fail();
  }
  if (t === 'strslice') {
    // Its UnmarshalJSON tries []string, then string, and returns the string attempt's error, without context.
    if (typeof v === 'string' || (Array.isArray(v) && v.every((x) => typeof x === 'string' || x === null)))
      return typeof v === 'string' ? [v] : v.map((x) => x ?? '');
    throw invalidParameter(`json: cannot unmarshal ${kindOf(v)} into Go value of type string`);
  }
  if ('map' in t) {
    if (kindOf(v) !== 'object') return fail();
    const out: Record<string, unknown> = {};
    // A null element is the element type's zero value ("a": null in a map[string]string is "").
    const zero = t.map === 'string' ? '' : t.map === 'bool' ? false : t.map === 'int64' || t.map === 'int' ? 0 : null;
    for (const [k, x] of Object.entries(v as object)) out[k] = x === null ? zero : decode(x, t.map, at);
    return out;
  }
  if ('slice' in t) {
    if (!Array.isArray(v)) return fail();
    return v.map((x) => decode(x, t.slice, at));
  }
  if (kindOf(v) !== 'object') return fail();
  const byLower = new Map(Object.keys(t.fields).map((k) => [k.toLowerCase(), k]));
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v as object)) {
    const field = t.fields[k] ? k : byLower.get(k.toLowerCase());
    if (!field) {
      out[k] = x;
      continue;
    }
    out[field] = decode(x, t.fields[field], { struct: t.struct, path: [...at.path, field] });
  }
  return out;
}
