// Docker's detach keys (`--detach-keys`, the `detachKeys` query parameter): the byte sequence that detaches a
// client from a container's or exec's TTY without stopping it.

export const DEFAULT_DETACH_KEYS = 'ctrl-p,ctrl-q';

/**
 * Docker's grammar: comma-separated single characters or ctrl-<a-z, @, [, \, ], ^, _>. An empty spec is no
 * keys. Throws `Invalid detach keys (<key>) provided` naming the first key it cannot read.
 */
export function parseDetachKeys(spec: string): number[] {
  if (!spec) return [];
  return spec.split(',').map((key) => {
    if (key.length === 1) return key.charCodeAt(0);
    const m = /^ctrl-(.)$/.exec(key);
    if (m) {
      const ch = m[1].toLowerCase();
      if (ch >= 'a' && ch <= 'z') return ch.charCodeAt(0) - 96;
      const special = '@[\\]^_'.indexOf(ch);
      if (special >= 0) return special === 0 ? 0 : 27 + special - 1;
    }
    throw new Error(`Invalid detach keys (${key}) provided`);
  });
}
