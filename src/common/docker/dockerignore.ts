// .dockerignore: reading it
// (BuildKit's dockerignore.ReadAll) and matching paths against it (moby's fileutils.PatternMatcher: Go's
// filepath.Match syntax plus `**`, `!` exceptions, last match wins, a pattern matching a parent directory
// matches everything below it). The CLI leaves ignored files out of the context it sends; the engine drops
// the Dockerfile and .dockerignore when they are themselves ignored.

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

interface Pattern {
  exclusion: boolean;
  dirs: number;
  re: RegExp;
}

/** fileutils' pattern → regular expression translation (only `.` and `$` are escaped, as there). */
function compile(pattern: string): RegExp {
  let re = '^';
  const chars = [...pattern];
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i];
    if (ch === '*') {
      if (chars[i + 1] === '*') {
        i++;
        if (chars[i + 1] === '/') i++;
        re += i + 1 >= chars.length ? '.*' : '(.*/)?';
      } else re += '[^/]*';
    } else if (ch === '?') re += '[^/]';
    else if (ch === '.' || ch === '$') re += `\\${ch}`;
    else if (ch === '\\') {
      if (i + 1 < chars.length) re += `\\${chars[++i]}`;
      else re += '\\\\';
    } else re += ch;
  }
  try {
    return new RegExp(`${re}$`, 'u');
  } catch {
    throw new Error(`syntax error in pattern`);
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
      this.patterns.push({ exclusion, dirs: p.split('/').length, re: compile(p) });
    }
    this.exclusions = exclusions;
  }

  /** Whether `file` (slash-separated, relative to the context) is excluded. */
  matches(file: string): boolean {
    let matched = false;
    const parent = file.includes('/') ? file.slice(0, file.lastIndexOf('/')) : '.';
    const parentDirs = parent.split('/');
    for (const p of this.patterns) {
      let match = p.re.test(file);
      if (!match && parent !== '.' && p.dirs <= parentDirs.length)
        match = p.re.test(parentDirs.slice(0, p.dirs).join('/'));
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
