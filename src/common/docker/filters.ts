// Docker's rules for matching filter values (the `filters` query parameter and `--filter` flags) against objects.
// Filter values come from whoever can reach the API, so matching must neither be fooled by JavaScript's object
// model (a label filter "constructor" is no label of an object that has none) nor let one request stall the
// event loop: expressions run on RE2 (re2js, linear in the input, the very syntax of Go's regexp), never on
// JavaScript's backtracking RegExp.
import { RE2JS } from 're2js';

/** One `label` filter value: "key" (the label is set) or "key=value" (set to exactly that). */
export function matchLabel(want: string, labels: Record<string, string>): boolean {
  const i = want.indexOf('=');
  const key = i < 0 ? want : want.slice(0, i);
  if (!Object.hasOwn(labels, key)) return false;
  return i < 0 || labels[key] === want.slice(i + 1);
}

/** `label` filters: every one must match (no filter matches everything). */
export function matchLabels(filter: string[] | undefined, labels: Record<string, string> | undefined | null): boolean {
  if (!filter) return true;
  const l = labels ?? {};
  return filter.every((f) => matchLabel(f, l));
}

/** Compiled expressions of recent filters (a list request tests one against every object); bounded. */
const compiled = new Map<string, RE2JS | null>();
const COMPILED_MAX = 256;

/** A filter value as Go's regexp would compile it (RE2 syntax), or null when it is no valid expression. */
export function filterRegexp(expr: string): RE2JS | null {
  let re = compiled.get(expr);
  if (re === undefined) {
    try {
      re = RE2JS.compile(expr);
    } catch {
      re = null;
    }
    if (compiled.size >= COMPILED_MAX) compiled.delete(compiled.keys().next().value as string);
    compiled.set(expr, re);
  }
  return re;
}

/** Docker's filters.Match: the value itself, or the filter value as an unanchored Go expression; an invalid
 * expression matches only exactly. */
export function fuzzyMatch(want: string, value: string): boolean {
  if (want === value) return true;
  return filterRegexp(want)?.test(value) ?? false;
}

/** Go's path.Match, as the `reference` filter of images uses it: `*` and `?` within a path segment, `[…]` classes,
 * `\` escapes. Translated to RE2, so no pattern (say "*a*a*a*a*b") can take more than linear time. */
export function pathMatch(pattern: string, name: string): boolean {
  const key = `\0path\0${pattern}`;
  let re = compiled.get(key);
  if (re === undefined) {
    let src = '^';
    for (let i = 0; i < pattern.length; i++) {
      const ch = pattern[i];
      if (ch === '*') src += '[^/]*';
      else if (ch === '?') src += '[^/]';
      else if (ch === '\\' && i + 1 < pattern.length) src += RE2JS.quote(pattern[++i]);
      else if (ch === '[') {
        const end = pattern.indexOf(']', i + 2);
        if (end < 0) {
          src = '';
          break;
        }
        let body = pattern.slice(i + 1, end);
        const negate = body.startsWith('^');
        if (negate) body = body.slice(1);
        src += `[${negate ? '^/' : ''}${body.replace(/[\\\]^[]/g, (c) => (c === '\\' ? '\\\\' : `\\${c}`))}]`;
        i = end;
      } else src += RE2JS.quote(ch);
    }
    try {
      re = src ? RE2JS.compile(`${src}$`) : null;
    } catch {
      re = null;
    }
    if (compiled.size >= COMPILED_MAX) compiled.delete(compiled.keys().next().value as string);
    compiled.set(key, re);
  }
  return re?.test(name) ?? false;
}
