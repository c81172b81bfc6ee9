// .dockerignore: reading it
// (BuildKit's dockerignore.ReadAll) and matching paths against it (moby's patternmatcher: Go's
// filepath.Match syntax plus `**`, `!` exceptions, last match wins, a pattern matching a parent directory
// matches everything below it). The CLI leaves ignored files out of the context it sends; the engine drops
// the Dockerfile and .dockerignore when they are themselves ignored.
import { RE2JS } from 're2js';

/** Go's path.Clean for slash-separated paths. */
export function cleanPath(p: string): string {
  if (p === '') return '.';
  const rooted = p.startsWith('/');
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length && out[out.length - 1] !== '..') out.pop();
      else if (!rooted) out.push('..');
      continue;
    }
    out.push(part);
  }
  const joined = out.join('/');
  return rooted ? `/${joined}` : joined || '.';
}

/** The patterns of a .dockerignore file, in order (`!` kept as a prefix). */
export function readDockerignore(text: string): string[] {
  const out: string[] = [];
  text
    .replace(/^\uFEFF/, '')
    .split('\n')
    .forEach((raw) => {
      const line = raw.replace(/\r$/, '');
      if (line.startsWith('#')) return;
      let pattern = line.trim();
      if (!pattern) return;
      const invert = pattern[0] === '!';
      if (invert) pattern = pattern.slice(1).trim();
      if (pattern.length) {
        pattern = cleanPath(pattern);
        if (pattern.length > 1 && pattern[0] === '/') pattern = pattern.slice(1);
      }
      out.push(invert ? `!${pattern}` : pattern);
    });
  return out;
}

type MatchType = 'exact' | 'prefix' | 'suffix' | 'regexp';

interface Pattern {
  exclusion: boolean;
  cleaned: string;
  type: MatchType;
  re?: RE2JS;
}

/** Regexp metacharacters with no meaning in a filepath.Match pattern: matched literally (patternmatcher's
 * shouldEscape). */
const LITERAL = new Set('.+()|{}$');

/** patternmatcher's compile: the pattern as a Go regexp, run by RE2 — a .dockerignore comes from the build
 * context, so a pattern like `*a*a*a*a*b` or `(a+)+b` must not take JavaScript's backtracking engine exponential
 * time. Plain names, `prefix**` and `**suffix` skip the expression as they do there. */
function compile(cleaned: string): Pick<Pattern, 'type' | 're'> {
  let re = '^';
  let type: MatchType = 'exact';
  const chars = [...cleaned];
  for (let i = 0, n = 0; i < chars.length; i++, n++) {
    const ch = chars[i];
    if (ch === '*') {
      if (chars[i + 1] === '*') {
        i++;
        if (chars[i + 1] === '/') i++;
        if (i + 1 >= chars.length) {
          if (type === 'exact') type = 'prefix';
          else {
            re += '.*';
            type = 'regexp';
          }
        } else {
          re += '(.*/)?';
          type = 'regexp';
        }
        if (n === 0) type = 'suffix';
      } else {
        re += '[^/]*';
        type = 'regexp';
      }
    } else if (ch === '?') {
      re += '[^/]';
      type = 'regexp';
    } else if (LITERAL.has(ch)) re += `\\${ch}`;
    else if (ch === '\\') {
      if (i + 1 < chars.length) {
        re += `\\${chars[++i]}`;
        type = 'regexp';
      } else re += '\\';
    } else if (ch === '[' || ch === ']') {
      re += ch;
      type = 'regexp';
    } else re += ch;
  }
  if (type !== 'regexp') return { type };
  try {
    return { type, re: RE2JS.compile(`${re}$`) };
  } catch {
    throw new Error('syntax error in pattern');
  }
}

function matchOne(p: Pattern, path: string): boolean {
  switch (p.type) {
    case 'exact':
      return path === p.cleaned;
    case 'prefix':
      return path.startsWith(p.cleaned.slice(0, -2));
    case 'suffix': {
      const suffix = p.cleaned.slice(2);
      return path.endsWith(suffix) || (suffix[0] === '/' && path === suffix.slice(1));
    }
    default:
      return p.re?.test(path) ?? false;
  }
}

export class PatternMatcher {
  private patterns: Pattern[] = [];
  readonly exclusions: boolean;

  constructor(patterns: string[]) {
    let exclusions = false;
    for (let p of patterns) {
      p = p.trim();
      if (!p) continue;
      p = cleanPath(p);
      let exclusion = false;
      if (p[0] === '!') {
        if (p.length === 1) throw new Error('illegal exclusion pattern: "!"');
        exclusion = true;
        exclusions = true;
        p = p.slice(1);
      }
      this.patterns.push({ exclusion, cleaned: p, ...compile(p) });
    }
    this.exclusions = exclusions;
  }

  /** Whether `file` (slash-separated, relative to the context) is excluded: patternmatcher's
   * MatchesOrParentMatches (a pattern matching any parent directory matches the file; the last match wins). */
  matches(file: string): boolean {
    let matched = false;
    const parentDirs = file.includes('/') ? file.slice(0, file.lastIndexOf('/')).split('/') : [];
    for (const p of this.patterns) {
      if (p.exclusion !== matched) continue;
      let match = matchOne(p, file);
      for (let i = 1; !match && i <= parentDirs.length; i++) match = matchOne(p, parentDirs.slice(0, i).join('/'));
      if (match) matched = !p.exclusion;
    }
    return matched;
  }
}

/** fileutils.Matches: one path against a pattern list ("." never matches). */
export function ignored(file: string, patterns: string[]): boolean {
  const clean = cleanPath(file);
  if (clean === '.') return false;
  return new PatternMatcher(patterns).matches(clean);
}
