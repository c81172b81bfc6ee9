// Removing images: `docker rmi` with Docker's untag-vs-delete rules, prune, the build cache's prune, the parents
// a deleted image leaves unheld, and garbage collection of the blobs and snapshots no image references.
import { conflict } from '../errdefs';
import { DEFAULT_TAG, familiarName, familiarString, fullName, parseReference, type Reference } from '../registry';
import type { DeleteResult, Image } from './model';
import { childrenOf, findIdByRefOnly, type ImageState, mustFind, parseKey, publish, toImage } from './state';
import type { LayerDescriptor } from './store';
import { refKey } from './model';

/** All references name one repository, with at most one tag (digest references of it do not count). */
function isSingleReference(refs: Reference[]): boolean {
  if (refs.length <= 1) return refs.length === 1;
  return refs.filter((r) => !r.digest).length <= 1 && new Set(refs.map(fullName)).size === 1;
}

const shortId = (id: string) => id.replace(/^sha256:/, '').slice(0, 12);

/** `docker rmi`: Docker's untag-or-delete rules, then the parents nothing holds and unreferenced blobs. */
export async function removeImage(
  st: ImageState,
  refOrId: string,
  opts: { force?: boolean; noprune?: boolean } = {},
): Promise<DeleteResult[]> {
  const r = mustFind(st, refOrId);
  const out: DeleteResult[] = [];
  const refsOf = () => [...st.records.refs()].filter(([, id]) => id === r.id).map(([k]) => k);
  const untag = (key: string) => {
    st.records.deleteRef(key);
    const ref = parseKey(key);
    const shown = ref.digest ? `${familiarName(ref)}@${ref.digest}` : familiarString(ref);
    out.push({ untagged: shown });
    publish(st, 'untag', r.id, shown);
  };
  const idLike =
    /^(sha256:)?[a-f0-9]{1,64}$/.test(refOrId) && r.id.slice(7).startsWith(refOrId.replace(/^sha256:/, ''));
  const byRef = !idLike || findIdByRefOnly(st, refOrId) === r.id;
  const user = st.usage(r.id);
  if (byRef) {
    const ref = parseReference(refOrId);
    if (!ref.tag && !ref.digest) ref.tag = DEFAULT_TAG;
    let key = refKey(ref);
    if (!st.records.refs().has(key) && ref.tag && ref.digest) key = refKey({ ...ref, tag: undefined });
    // Untagging would leave a container's image dangling when this is its only repository: moby's
    // isSingleReference (one repository, at most one tag, any number of digests) asks for force then.
    if (user && !opts.force && isSingleReference(refsOf().map(parseKey))) {
      throw conflict(
        `conflict: unable to remove repository reference "${refOrId}" (must force) - container ${shortId(user)} is using its referenced image ${shortId(r.id)}`,
      );
    }
    untag(key);
    const name = fullName(ref);
    const left = refsOf();
    if (!ref.digest && !left.some((k) => !parseKey(k).digest && fullName(parseKey(k)) === name)) {
      for (const k of left) if (parseKey(k).digest && fullName(parseKey(k)) === name) untag(k);
    }
    if (refsOf().length > 0) return out;
  } else {
    const refs = refsOf();
    const repos = new Set(refs.map((k) => fullName(parseKey(k))));
    if (repos.size > 1 && !opts.force) {
      throw conflict(
        `conflict: unable to delete ${shortId(r.id)} (must be forced) - image is referenced in multiple repositories`,
      );
    }
    if (user && !opts.force) {
      throw conflict(
        `conflict: unable to delete ${shortId(r.id)} (must be forced) - image is being used by stopped container ${shortId(user)}`,
      );
    }
    for (const k of refs) untag(k);
  }
  if (user) {
    // Forced while a container uses it: the container keeps its layers; the image stays, untagged.
    return out;
  }
  st.records.delete(r.id);
  st.configs.delete(r.id);
  out.push({ deleted: r.id });
  publish(st, 'delete', r.id);
  if (!opts.noprune) {
    for (const id of pruneParents(st, r.parent)) out.push({ deleted: id });
    for (const c of collect(st)) out.push({ deleted: c });
  }
  return out;
}

/** `docker image prune`: dangling images (all unused ones with `all`) that `keep` does not keep. */
export async function pruneImages(
  st: ImageState,
  { all, keep }: { all: boolean; keep?: (img: Image) => boolean },
): Promise<{ deleted: DeleteResult[]; spaceReclaimed: number }> {
  const deleted: DeleteResult[] = [];
  let space = 0;
  for (const r of st.records.all()) {
    if (!st.records.get(r.id) || st.usage(r.id) || childrenOf(st, r.id).length) continue;
    const img = await toImage(st, r);
    if (!all && img.repoTags.length > 0) continue;
    if (keep && !keep(img)) continue;
    const size = img.size;
    for (const k of [...st.records.refs()].filter(([, id]) => id === r.id).map(([k]) => k)) {
      st.records.deleteRef(k);
      const ref = parseKey(k);
      deleted.push({ untagged: ref.digest ? `${familiarName(ref)}@${ref.digest}` : familiarString(ref) });
    }
    st.records.delete(r.id);
    st.configs.delete(r.id);
    deleted.push({ deleted: r.id });
    publish(st, 'delete', r.id);
    space += size;
    for (const id of pruneParents(st, r.parent)) deleted.push({ deleted: id });
  }
  for (const c of collect(st)) deleted.push({ deleted: c });
  st.events.publish('image', 'prune', '', { reclaimed: String(space) });
  return { deleted, spaceReclaimed: space };
}

/** The build cache's prune (ImageService.pruneCommitted). */
export async function pruneCommitted(st: ImageState): Promise<{ deleted: string[]; spaceReclaimed: number }> {
  const named = new Set(st.records.refs().values());
  const doomed = new Set(
    st.records
      .all()
      .filter((r) => r.parent && !named.has(r.id) && !st.usage(r.id))
      .map((r) => r.id),
  );
  for (const r of st.records.all()) {
    if (doomed.has(r.id) || !r.parent || !doomed.has(r.parent)) continue;
    let p: string | undefined = r.parent;
    while (p && doomed.has(p)) p = st.records.get(p)?.parent;
    st.records.put({ ...r, parent: p });
  }
  const before = new Map(st.snapshots.list().map((c) => [c, sizeOfSnapshot(st, c)]));
  for (const id of doomed) {
    st.records.delete(id);
    st.configs.delete(id);
    publish(st, 'delete', id);
  }
  let space = 0;
  for (const c of collect(st)) space += before.get(c) ?? 0;
  return { deleted: [...doomed], spaceReclaimed: space };
}

/**
 * After an image is deleted: its parent goes too when nothing else holds it (no tag or digest, no other child,
 * no container), and so on up the chain — the intermediate images of a build leave with its result.
 */
function pruneParents(st: ImageState, parent: string | undefined): string[] {
  const out: string[] = [];
  while (parent) {
    const p = st.records.get(parent);
    if (!p || st.usage(p.id) || childrenOf(st, p.id).length) break;
    if ([...st.records.refs().values()].includes(p.id)) break;
    st.records.delete(p.id);
    st.configs.delete(p.id);
    out.push(p.id);
    publish(st, 'delete', p.id);
    parent = p.parent;
  }
  return out;
}

function sizeOfSnapshot(st: ImageState, chainId: string): number {
  try {
    return st.snapshots.meta(chainId).size;
  } catch {
    return 0;
  }
}

/** Removes snapshots and blobs nothing references; returns the chain IDs of removed snapshots. */
export function collect(st: ImageState): string[] {
  const keepSnaps = new Set<string>();
  const keepBlobs = new Set<string>();
  for (const r of st.records.all()) {
    r.chainIds.forEach((c) => keepSnaps.add(c));
    keepBlobs.add(r.configDigest);
    r.layers.forEach((l: LayerDescriptor) => keepBlobs.add(l.digest));
  }
  const removed: string[] = [];
  for (const c of st.snapshots.list()) {
    if (keepSnaps.has(c) || st.leases.has(c) || st.pull.layerWork.has(c)) continue;
    st.snapshots.remove(c);
    removed.push(c);
  }
  for (const d of st.content.list()) {
    if (keepBlobs.has(d) || st.leases.has(d)) continue;
    st.content.delete(d);
  }
  return removed;
}
