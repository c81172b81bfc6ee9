// The user namespace's id maps: the user's own id as root inside, then its subordinate ids from /etc/subuid and
// /etc/subgid (what newuidmap/newgidmap allow), or the own id alone when there are none.
import * as fs from 'node:fs';

export interface IdRange {
  inside: number;
  outside: number;
  count: number;
}

export interface IdMaps {
  uid: IdRange[];
  gid: IdRange[];
  /** No subordinate ids: one id mapped, files of other owners in images cannot keep their owner. */
  single: boolean;
}

/** The ranges `/etc/subuid`-style text grants to a user (matched by name or by numeric id, as shadow does). */
export function subordinateRanges(text: string, user: string, id: number): { start: number; count: number }[] {
  const out: { start: number; count: number }[] = [];
  for (const line of text.split('\n')) {
    const [owner, start, count] = line.trim().split(':');
    if (!owner || owner.startsWith('#') || (owner !== user && owner !== String(id))) continue;
    const s = Number(start);
    const c = Number(count);
    if (Number.isInteger(s) && Number.isInteger(c) && c > 0) out.push({ start: s, count: c });
  }
  return out;
}

/** Own id → 0, then the subordinate ranges from 1 upwards, in file order. */
export function idRanges(own: number, subordinate: { start: number; count: number }[]): IdRange[] {
  const out: IdRange[] = [{ inside: 0, outside: own, count: 1 }];
  let next = 1;
  for (const r of subordinate) {
    out.push({ inside: next, outside: r.start, count: r.count });
    next += r.count;
  }
  return out;
}

const readOr = (file: string) => {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
};

export function idMapsFor(user: string, uid: number, gid: number, etc = '/etc'): IdMaps {
  const subUids = subordinateRanges(readOr(`${etc}/subuid`), user, uid);
  const subGids = subordinateRanges(readOr(`${etc}/subgid`), user, uid);
  const single = subUids.length === 0 || subGids.length === 0;
  return {
    uid: idRanges(uid, single ? [] : subUids),
    gid: idRanges(gid, single ? [] : subGids),
    single,
  };
}

/** newuidmap's argument form: inside outside count, repeated. */
export const mapArgs = (ranges: IdRange[]) => ranges.flatMap((r) => [r.inside, r.outside, r.count].map(String));
