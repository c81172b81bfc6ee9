// Which owners this process can give files. Root on the host: any. Inside a user namespace (a rootless engine):
// the ids its uid_map/gid_map hold — one alone when the user has no subordinate ids. An owner outside the map
// becomes root's (what podman's ignore_chown_errors does), so single-id engines still unpack every image.
import * as fs from 'node:fs';

export interface IdRangeMap {
  inside: number;
  count: number;
}

/** /proc/self/uid_map's ranges (inside, outside, count per line). */
export function parseIdMap(text: string): IdRangeMap[] {
  return text
    .split('\n')
    .map((l) => l.trim().split(/\s+/).map(Number))
    .filter((f) => f.length === 3 && f.every(Number.isFinite))
    .map(([inside, , count]) => ({ inside, count }));
}

export function ownableId(ranges: IdRangeMap[], id: number): number {
  return ranges.some((r) => id >= r.inside && id < r.inside + r.count) ? id : 0;
}

let cached: { uid: IdRangeMap[]; gid: IdRangeMap[] } | undefined;
function maps() {
  const read = (f: string) => {
    try {
      return parseIdMap(fs.readFileSync(f, 'utf8'));
    } catch {
      return [{ inside: 0, count: 2 ** 32 }];
    }
  };
  cached ??= { uid: read('/proc/self/uid_map'), gid: read('/proc/self/gid_map') };
  return cached;
}

/** The owner a file can get here: itself when mapped, else root. */
export function ownableOwner(uid: number, gid: number): { uid: number; gid: number } {
  const m = maps();
  return { uid: ownableId(m.uid, uid), gid: ownableId(m.gid, gid) };
}
