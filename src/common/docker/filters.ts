// Docker's rules for matching filter values (the `filters` query parameter and `--filter` flags) against objects.

/** One `label` filter value: "key" (the label is set) or "key=value" (set to exactly that). */
export function matchLabel(want: string, labels: Record<string, string>): boolean {
  const i = want.indexOf('=');
  if (i < 0) return want in labels;
  return labels[want.slice(0, i)] === want.slice(i + 1);
}

/** `label` filters: every one must match (no filter matches everything). */
export function matchLabels(filter: string[] | undefined, labels: Record<string, string> | undefined | null): boolean {
  if (!filter) return true;
  const l = labels ?? {};
  return filter.every((f) => matchLabel(f, l));
}

/** Docker's filters.Match: the filter value as a regular expression (a substring match), or as a plain substring
 * when it is no valid expression. */
export function fuzzyMatch(want: string, value: string): boolean {
  try {
    return new RegExp(want).test(value);
  } catch {
    return value.includes(want);
  }
}
