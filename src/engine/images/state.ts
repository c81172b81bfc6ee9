// The image subsystem's shared state, one explicit object (the service's operations in index.ts and removal.ts
// work on it), and the lookups every operation needs: an image by reference or ID prefix, its config, its size.
import type { ContentStore } from '../content';
import { notFound } from '../errdefs';
import type { EventBus } from '../events';
import { DEFAULT_TAG, familiarName, familiarString, parseReference, type Reference } from '../registry';
import type { Snapshotter } from '../snapshots';
import { type Image, type ImageConfig, refKey } from './model';
import { MAX_CONCURRENT_DOWNLOADS, type PullContext, Semaphore } from './pull';
import { createRecordStore, type ImageRecord, type RecordStore } from './store';

export interface ImageState {
  readonly content: ContentStore;
  readonly snapshots: Snapshotter;
  readonly events: EventBus;
  /** Image records (ID = config digest) and references. */
  readonly records: RecordStore;
  /** Parsed configs by image ID. */
  readonly configs: Map<string, ImageConfig>;
  /** Who uses an image (a container's ID), as the containers subsystem tells: rmi answers 409 then. */
  usage: (imageId: string) => string | undefined;
  /** Blobs and snapshots in use by pulls in progress: GC leaves them alone. */
  readonly leases: Set<string>;
  readonly pull: PullContext;
}

export function createImageState(o: {
  root: string;
  content: ContentStore;
  snapshots: Snapshotter;
  events: EventBus;
}): ImageState {
  return {
    content: o.content,
    snapshots: o.snapshots,
    events: o.events,
    records: createRecordStore(o.root),
    configs: new Map(),
    usage: () => undefined,
    leases: new Set(),
    pull: {
      content: o.content,
      snapshots: o.snapshots,
      downloads: new Semaphore(MAX_CONCURRENT_DOWNLOADS),
      layerWork: new Map(),
    },
  };
}

/** A reference as the record store keys it, back into its parts. */
export function parseKey(key: string): Reference {
  const at = key.indexOf('@');
  const name = at >= 0 ? key.slice(0, at) : key;
  const digest = at >= 0 ? key.slice(at + 1) : undefined;
  const colon = name.lastIndexOf(':');
  const hasTag = colon > name.lastIndexOf('/');
  const full = hasTag ? name.slice(0, colon) : name;
  const slash = full.indexOf('/');
  return {
    domain: full.slice(0, slash),
    path: full.slice(slash + 1),
    tag: hasTag ? name.slice(colon + 1) : undefined,
    digest,
  };
}

export async function configOf(st: ImageState, r: ImageRecord): Promise<ImageConfig> {
  let c = st.configs.get(r.id);
  if (!c) {
    c = JSON.parse((await st.content.read(r.configDigest)).toString('utf8')) as ImageConfig;
    st.configs.set(r.id, c);
  }
  return c;
}

export function sizeOf(st: ImageState, r: ImageRecord): number {
  let size = 0;
  for (const c of r.chainIds) {
    try {
      size += st.snapshots.meta(c).size;
    } catch {
      /* missing snapshot: counts nothing */
    }
  }
  return size;
}

export async function toImage(st: ImageState, r: ImageRecord): Promise<Image> {
  const config = await configOf(st, r);
  const repoTags: string[] = [];
  const repoDigests: string[] = [];
  for (const [key, id] of st.records.refs()) {
    if (id !== r.id) continue;
    const ref = parseKey(key);
    if (ref.digest) repoDigests.push(`${familiarName(ref)}@${ref.digest}`);
    else repoTags.push(familiarString(ref));
  }
  return {
    id: r.id,
    repoTags: repoTags.sort(),
    repoDigests: repoDigests.sort(),
    created: config.created ?? r.stored,
    size: sizeOf(st, r),
    config,
    chainIds: r.chainIds,
    parent: r.parent,
  };
}

export function findId(st: ImageState, refOrId: string): string | undefined {
  const idLike = /^(sha256:)?([a-f0-9]{1,64})$/.exec(refOrId);
  if (idLike && idLike[1] && idLike[2].length === 64) return st.records.get(refOrId) ? refOrId : undefined;
  let ref: Reference | undefined;
  try {
    ref = parseReference(refOrId);
  } catch {
    /* not a reference; maybe an ID prefix */
  }
  if (ref) {
    if (!ref.tag && !ref.digest) ref.tag = DEFAULT_TAG;
    const id = st.records.refs().get(refKey(ref));
    if (id) return id;
    if (ref.tag && ref.digest) {
      const byDigest = st.records.refs().get(refKey({ ...ref, tag: undefined }));
      if (byDigest) return byDigest;
    }
  }
  if (idLike) {
    const matches = st.records.all().filter((r) => r.id.slice(7).startsWith(idLike[2]));
    if (matches.length === 1) return matches[0].id;
  }
  return undefined;
}

export function mustFind(st: ImageState, refOrId: string): ImageRecord {
  const id = findId(st, refOrId);
  const r = id ? st.records.get(id) : undefined;
  if (!r) throw notFound(`No such image: ${refOrId}`);
  return r;
}

export function publish(st: ImageState, action: string, id: string, name?: string) {
  st.events.publish('image', action, id, name ? { name } : {});
}

export function childrenOf(st: ImageState, id: string): string[] {
  return st.records
    .all()
    .filter((r) => r.parent === id)
    .map((r) => r.id);
}

export function findIdByRefOnly(st: ImageState, refOrId: string): string | undefined {
  try {
    const ref = parseReference(refOrId);
    if (!ref.tag && !ref.digest) ref.tag = DEFAULT_TAG;
    return st.records.refs().get(refKey(ref));
  } catch {
    return undefined;
  }
}
