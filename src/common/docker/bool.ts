// Docker's three ways of reading a boolean from a request, each where dockerd uses it.

/**
 * A query parameter (httputils.BoolValue): false when absent, empty, "0", "no", "false" or "none" (any case,
 * spaces ignored); true otherwise.
 */
export function queryBool(value: string | null | undefined): boolean {
  const s = (value ?? '').trim().toLowerCase();
  return !(s === '' || s === '0' || s === 'no' || s === 'false' || s === 'none');
}

/** Go's strconv.ParseBool; undefined for anything else. */
export function parseGoBool(value: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(value)) return false;
  return undefined;
}

/**
 * A boolean filter (filters.Args.GetBoolOrDefault): exactly one value, "true"/"1" or "false"/"0" (any case for
 * the words); undefined for anything else, which the caller reports as an invalid filter.
 */
export function filterBool(values: string[]): boolean | undefined {
  if (values.length !== 1) return undefined;
  const v = values[0].toLowerCase();
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  return undefined;
}
