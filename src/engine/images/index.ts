// The image subsystem: records (Id = config digest), references (tags and digests), pulls, removal with
// Docker's untag-vs-delete rules, prune, history, and garbage collection of blobs and snapshots.
import * as path from 'node:path';
import { type ContentStore, createContentStore } from '../content';
import { conflict, invalidParameter, notFound } from '../errdefs';
import type { EventBus } from '../events';
import {
  createRegistryService,
  type Credentials,
  DEFAULT_TAG,
  familiarName,
  familiarString,
  fullName,
  parseReference,
  type Reference,
  type RegistryService,
} from '../registry';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { chainIds as chainIdsOf, createSnapshotter, EMPTY_LAYER_DIFF_ID, type Snapshotter } from '../snapshots';
import { loadImages, type LoadResult, saveImages } from './archive';
import { type DistributionInfo, inspectDistribution } from './distribution';
import { parsePlatform } from './manifest';
import { type DeleteResult, type Image, type ImageConfig, type ImageParts, refKey } from './model';
import {
  layerDescriptors,
  layerJobs,
  MAX_CONCURRENT_DOWNLOADS,
  pullLayers,
  type PullContext,
  resolve,
  Semaphore,
} from './pull';
import { Broadcast, type ProgressSink } from './progress';
import { pushImage } from './push';
import { createRecordStore, type ImageRecord, type LayerDescriptor, type RecordStore } from './store';

export type { Progress, ProgressSink } from './progress';
export { throttled } from './progress';
export type { LoadResult } from './archive';
export type { DistributionInfo } from './distribution';
export type { DeleteResult, Image, ImageConfig } from './model';
export { refKey } from './model';
export type { ImageRecord, LayerDescriptor } from './store';
export { parsePlatform, platformString } from './manifest';

/** A layer this engine made (a commit or a build step), stored and unpacked. */
export interface NewLayer {
  diffId: string;
  chainId: string;
  descriptor: LayerDescriptor;
  /** Nothing changed: Docker records such a step as an empty_layer and keeps no layer for it. */
  empty: boolean;
}

/** The media type of the uncompressed layers this engine makes (as dockerd's layer store keeps them). */
export const UNCOMPRESSED_LAYER = 'application/vnd.docker.image.rootfs.diff.tar';

export interface PullOptions {
  platform?: string;
  creds?: Credentials;
  progress: ProgressSink;
}

export interface ImageService {
  get(refOrId: string): Promise<Image>;
  list(): Promise<Image[]>;
  /** The containers subsystem registers who uses an image, so rmi answers 409 like Docker. */
  setUsageCheck(fn: (imageId: string) => string | undefined): void;
  /** Overlay lowerdirs for an image, topmost first (the order overlayfs `lowerdir=` wants). */
  layerDirs(image: Image): string[];
  /** Pulls `ref` (tag defaults to latest); progress as Docker reports it. */
  pull(ref: string, opts: PullOptions): Promise<Image>;
  tag(source: string, target: string): Promise<void>;
  remove(refOrId: string, opts?: { force?: boolean; noprune?: boolean }): Promise<DeleteResult[]>;
  prune(opts: {
    all: boolean;
    keep?: (img: Image) => boolean;
  }): Promise<{ deleted: DeleteResult[]; spaceReclaimed: number }>;
  /** The stored record behind an image (layer blobs, diff IDs), for save and push. */
  record(id: string): ImageRecord;
  /** Registers an image whose config and layer blobs are in the content store and snapshots unpacked. */
  register(record: Omit<ImageRecord, 'stored'>, refs: string[]): Promise<Image>;
  /** Adds a full reference (docker.io/library/x:tag or …@digest) to an image. */
  addRef(ref: Reference, id: string): void;
  /** Images committed on `id` (build steps and commits made from it). */
  children(id: string): string[];
  /**
   * Stores a layer made here from its uncompressed tar: the blob in the content store and the snapshot over
   * `parentChainId`, both from one pass over the stream.
   */
  addLayer(parentChainId: string | undefined, tar: Readable): Promise<NewLayer>;
  /**
   * A new image from a config this engine wrote (its rootfs.diff_ids match `layers`): the config stored, the
   * record made with `parent`, tagged with `refs` (full references). Layers must be stored already.
   */
  create(config: ImageConfig, opts: { parent?: string; layers: LayerDescriptor[]; refs?: string[] }): Promise<Image>;
  /**
   * The build cache's prune: images committed here (they have a parent) that no reference names and no container
   * uses. Their children keep their nearest remaining ancestor as parent.
   */
  pruneCommitted(): Promise<{ deleted: string[]; spaceReclaimed: number }>;
  count(): number;
  /** Removes blobs and snapshots no image references (and no pull is using). */
  gc(): void;
  /** Bytes of one layer's unpacked snapshot (by chain ID); throws when it is missing. */
  layerSize(chainId: string): number;
  /** `docker save`: the images as one tar stream. */
  save(names: string[]): Promise<Readable>;
  /** `docker load`: a save archive (plain or compressed); `onMessage` gets each progress line. */
  load(body: Readable, onMessage: (line: string) => void): Promise<LoadResult>;
  /** `docker push` of `name` (all its tags in that repository when `tag` is empty). */
  push(name: string, tag: string | undefined, creds: Credentials | undefined, progress: ProgressSink): Promise<void>;
  /** `docker login`: resolves when the registry accepts the credentials. */
  login(serverAddress: string, creds: Credentials): Promise<void>;
  /** The manifest a registry serves for `name` and the platforms it covers (`docker buildx imagetools`). */
  inspectDistribution(name: string, creds: Credentials | undefined): Promise<DistributionInfo>;
}

/** All references name one repository, with at most one tag (digest references of it do not count). */
function isSingleReference(refs: Reference[]): boolean {
  if (refs.length <= 1) return refs.length === 1;
  return refs.filter((r) => !r.digest).length <= 1 && new Set(refs.map(fullName)).size === 1;
}

function parseKey(key: string): Reference {
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

const shortId = (id: string) => id.replace(/^sha256:/, '').slice(0, 12);

export interface ImageServiceOptions {
  root: string;
  content: ContentStore;
  snapshots: Snapshotter;
  registry: RegistryService;
  events: EventBus;
}

export function createImageService(o: ImageServiceOptions): ImageService {
  const records: RecordStore = createRecordStore(path.join(o.root));
  const configs = new Map<string, ImageConfig>();
  let usage: (imageId: string) => string | undefined = () => undefined;
  const pulls = new Map<string, { broadcast: Broadcast; done: Promise<Image> }>();
  const ctx: PullContext = {
    content: o.content,
    snapshots: o.snapshots,
    downloads: new Semaphore(MAX_CONCURRENT_DOWNLOADS),
    layerWork: new Map(),
  };
  /** Blobs and snapshots in use by pulls in progress: GC leaves them alone. */
  const leases = new Set<string>();

  const configOf = async (r: ImageRecord): Promise<ImageConfig> => {
    let c = configs.get(r.id);
    if (!c) {
      c = JSON.parse((await o.content.read(r.configDigest)).toString('utf8')) as ImageConfig;
      configs.set(r.id, c);
    }
    return c;
  };

  const sizeOf = (r: ImageRecord): number => {
    let size = 0;
    for (const c of r.chainIds) {
      try {
        size += o.snapshots.meta(c).size;
      } catch {
        /* missing snapshot: counts nothing */
      }
    }
    return size;
  };

  const toImage = async (r: ImageRecord): Promise<Image> => {
    const config = await configOf(r);
    const repoTags: string[] = [];
    const repoDigests: string[] = [];
    for (const [key, id] of records.refs()) {
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
      size: sizeOf(r),
      config,
      chainIds: r.chainIds,
      parent: r.parent,
    };
  };

  const findId = (refOrId: string): string | undefined => {
    const idLike = /^(sha256:)?([a-f0-9]{1,64})$/.exec(refOrId);
    if (idLike && idLike[1] && idLike[2].length === 64) return records.get(refOrId) ? refOrId : undefined;
    let ref: Reference | undefined;
    try {
      ref = parseReference(refOrId);
    } catch {
      /* not a reference; maybe an ID prefix */
    }
    if (ref) {
      if (!ref.tag && !ref.digest) ref.tag = DEFAULT_TAG;
      const id = records.refs().get(refKey(ref));
      if (id) return id;
      if (ref.tag && ref.digest) {
        const byDigest = records.refs().get(refKey({ ...ref, tag: undefined }));
        if (byDigest) return byDigest;
      }
    }
    if (idLike) {
      const matches = records.all().filter((r) => r.id.slice(7).startsWith(idLike[2]));
      if (matches.length === 1) return matches[0].id;
    }
    return undefined;
  };

  const mustFind = (refOrId: string): ImageRecord => {
    const id = findId(refOrId);
    const r = id ? records.get(id) : undefined;
    if (!r) throw notFound(`No such image: ${refOrId}`);
    return r;
  };

  const publish = (action: string, id: string, name?: string) => {
    o.events.publish('image', action, id, name ? { name } : {});
  };

  const svc: ImageService & ImageParts = {
    content: o.content,
    snapshots: o.snapshots,
    registry: o.registry,
    events: o.events,
    async get(refOrId) {
      return toImage(mustFind(refOrId));
    },
    async list() {
      return Promise.all(records.all().map(toImage));
    },
    setUsageCheck(fn) {
      usage = fn;
    },
    layerDirs(image) {
      return [...image.chainIds].reverse().map((c) => o.snapshots.dir(c));
    },
    count: () => records.all().length,
    record(id) {
      const r = records.get(id);
      if (!r) throw notFound(`No such image: ${id}`);
      return r;
    },
    addRef(ref, id) {
      records.setRef(refKey(ref), id);
    },
    layerSize: (chainId) => o.snapshots.meta(chainId).size,
    save: (names) => saveImages(svc, names),
    load: (body, onMessage) => loadImages(svc, body, onMessage),
    push: (name, tag, creds, progress) => pushImage(svc, name, tag, creds, progress),
    login: (serverAddress, creds) => o.registry.login(serverAddress, creds),
    inspectDistribution: (name, creds) => inspectDistribution(svc, name, creds),
    children: (id) => childrenOf(id),

    async addLayer(parentChainId, tar) {
      // One read of the tar feeds both the blob and the snapshot (pipe waits for the slower of the two).
      const writer = o.content.writer();
      const toBlob = new PassThrough({ highWaterMark: 1 << 20 });
      const toSnapshot = new PassThrough({ highWaterMark: 1 << 20 });
      const fail = (err: Error) => {
        tar.destroy();
        toBlob.destroy(err);
        toSnapshot.destroy(err);
      };
      tar.once('error', fail);
      tar.pipe(toBlob);
      tar.pipe(toSnapshot);
      const stored = pipeline(toBlob, writer.stream);
      const unpacked = o.snapshots.create(parentChainId, toSnapshot);
      try {
        const failFast = <T>(p: Promise<T>) =>
          p.catch((e) => {
            fail(e);
            throw e;
          });
        await Promise.all([failFast(stored), failFast(unpacked)]);
      } catch (err) {
        await writer.abort();
        await Promise.allSettled([stored, unpacked]);
        throw err;
      }
      const digest = await writer.commit();
      const meta = await unpacked;
      return {
        diffId: meta.diffId,
        chainId: meta.chainId,
        descriptor: { digest, mediaType: UNCOMPRESSED_LAYER, size: meta.tarSize ?? o.content.size(digest) },
        empty: meta.diffId === EMPTY_LAYER_DIFF_ID,
      };
    },

    async create(config, { parent, layers, refs = [] }) {
      const diffIds = config.rootfs.diff_ids;
      if (diffIds.length !== layers.length) throw invalidParameter('image config and layers do not match');
      const chains = chainIdsOf(diffIds);
      for (const c of chains) if (!o.snapshots.has(c)) throw notFound(`layer ${c} is not stored`);
      const bytes = Buffer.from(JSON.stringify(config));
      const configDigest = await o.content.put(bytes);
      const existing = records.get(configDigest);
      const record: ImageRecord = {
        id: configDigest,
        configDigest,
        chainIds: chains,
        diffIds,
        layers,
        stored: existing?.stored ?? new Date().toISOString(),
        ...(parent ? { parent } : {}),
      };
      records.put(record);
      for (const k of refs) records.setRef(k, record.id);
      return toImage(record);
    },

    async pull(refText, opts) {
      const ref = parseReference(refText);
      if (!ref.tag && !ref.digest) ref.tag = DEFAULT_TAG;
      const platform = parsePlatform(opts.platform);
      const key = `${refKey(ref)}|${opts.platform ?? ''}`;
      const running = pulls.get(key);
      if (running) {
        const stop = running.broadcast.follow(opts.progress);
        try {
          return await running.done;
        } finally {
          stop();
        }
      }
      const broadcast = new Broadcast();
      const stop = broadcast.follow(opts.progress);
      const done = (async (): Promise<Image> => {
        const shown = familiarString(ref);
        const leased: string[] = [];
        const lease = (k: string) => {
          leases.add(k);
          leased.push(k);
        };
        try {
          const resolved = await resolve(o.registry, ref, opts.creds, platform, shown);
          const emit = broadcast.emit;
          emit({ status: `Pulling from ${ref.path}`, id: ref.digest ?? ref.tag });
          const configDigest = resolved.manifest.config.digest;
          lease(configDigest);
          const existing = records.get(configDigest);
          const haveAll = existing && existing.chainIds.every((c) => o.snapshots.has(c));
          let record: ImageRecord;
          if (existing && haveAll) {
            record = existing;
          } else {
            if (!o.content.has(configDigest)) {
              const blob = await resolved.session.getBlob(configDigest);
              const chunks: Buffer[] = [];
              let size = 0;
              for await (const c of blob.body) {
                size += (c as Buffer).length;
                if (size > 8 * 1024 * 1024) {
                  blob.body.destroy();
                  throw invalidParameter('image config too large');
                }
                chunks.push(c as Buffer);
              }
              await o.content.put(Buffer.concat(chunks), configDigest);
            }
            const config = JSON.parse((await o.content.read(configDigest)).toString('utf8')) as ImageConfig;
            const diffIds = config.rootfs?.diff_ids ?? [];
            const jobs = layerJobs(resolved.manifest, diffIds);
            for (const j of jobs) {
              lease(j.desc.digest);
              lease(j.chainId);
            }
            await pullLayers(ctx, resolved.session, jobs, emit);
            record = {
              id: configDigest,
              configDigest,
              chainIds: jobs.map((j) => j.chainId),
              diffIds,
              layers: layerDescriptors(resolved.manifest),
              stored: new Date().toISOString(),
            };
            records.put(record);
          }
          const hadRef =
            records.refs().get(refKey(ref.tag ? ref : { ...ref, digest: resolved.repoDigest })) === record.id;
          if (ref.tag) records.setRef(refKey(ref), record.id);
          records.setRef(refKey({ ...ref, tag: undefined, digest: resolved.repoDigest }), record.id);
          emit({ status: `Digest: ${resolved.repoDigest}` });
          const upToDate = existing && haveAll && hadRef;
          emit({
            status: upToDate
              ? `Status: Image is up to date for ${shown}`
              : `Status: Downloaded newer image for ${shown}`,
          });
          publish('pull', familiarString(ref), familiarName(ref));
          return await toImage(record);
        } finally {
          for (const k of leased) leases.delete(k);
        }
      })();
      pulls.set(key, { broadcast, done });
      try {
        return await done;
      } finally {
        pulls.delete(key);
        stop();
      }
    },

    async tag(source, target) {
      const r = mustFind(source);
      const ref = parseReference(target);
      if (ref.digest) throw invalidParameter('refusing to create a tag with a digest reference');
      if (!ref.tag) ref.tag = DEFAULT_TAG;
      const key = refKey(ref);
      if (records.refs().get(key) !== r.id) {
        records.setRef(key, r.id);
        r.lastTagTime = new Date().toISOString();
        records.put(r); // a tag that already named this image changes nothing on disk (a cached rebuild's tag)
      }
      publish('tag', r.id, familiarString(ref));
    },

    async remove(refOrId, opts = {}) {
      const r = mustFind(refOrId);
      const out: DeleteResult[] = [];
      const refsOf = () => [...records.refs()].filter(([, id]) => id === r.id).map(([k]) => k);
      const untag = (key: string) => {
        records.deleteRef(key);
        const ref = parseKey(key);
        const shown = ref.digest ? `${familiarName(ref)}@${ref.digest}` : familiarString(ref);
        out.push({ untagged: shown });
        publish('untag', r.id, shown);
      };
      const idLike =
        /^(sha256:)?[a-f0-9]{1,64}$/.test(refOrId) && r.id.slice(7).startsWith(refOrId.replace(/^sha256:/, ''));
      const byRef = !idLike || findIdByRefOnly(refOrId) === r.id;
      const user = usage(r.id);
      if (byRef) {
        const ref = parseReference(refOrId);
        if (!ref.tag && !ref.digest) ref.tag = DEFAULT_TAG;
        let key = refKey(ref);
        if (!records.refs().has(key) && ref.tag && ref.digest) key = refKey({ ...ref, tag: undefined });
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
      records.delete(r.id);
      configs.delete(r.id);
      out.push({ deleted: r.id });
      publish('delete', r.id);
      if (!opts.noprune) {
        for (const id of pruneParents(r.parent)) out.push({ deleted: id });
        for (const c of collect()) out.push({ deleted: c });
      }
      return out;
    },

    async prune({ all, keep }) {
      const deleted: DeleteResult[] = [];
      let space = 0;
      for (const r of records.all()) {
        if (!records.get(r.id) || usage(r.id) || childrenOf(r.id).length) continue;
        const img = await toImage(r);
        if (!all && img.repoTags.length > 0) continue;
        if (keep && !keep(img)) continue;
        const size = img.size;
        for (const k of [...records.refs()].filter(([, id]) => id === r.id).map(([k]) => k)) {
          records.deleteRef(k);
          const ref = parseKey(k);
          deleted.push({ untagged: ref.digest ? `${familiarName(ref)}@${ref.digest}` : familiarString(ref) });
        }
        records.delete(r.id);
        configs.delete(r.id);
        deleted.push({ deleted: r.id });
        publish('delete', r.id);
        space += size;
        for (const id of pruneParents(r.parent)) deleted.push({ deleted: id });
      }
      for (const c of collect()) deleted.push({ deleted: c });
      o.events.publish('image', 'prune', '', { reclaimed: String(space) });
      return { deleted, spaceReclaimed: space };
    },

    async register(rec, refs) {
      const record: ImageRecord = { ...rec, stored: new Date().toISOString() };
      records.put(record);
      for (const k of refs) records.setRef(k, record.id);
      return toImage(record);
    },

    gc() {
      collect();
    },

    async pruneCommitted() {
      const named = new Set(records.refs().values());
      const doomed = new Set(
        records
          .all()
          .filter((r) => r.parent && !named.has(r.id) && !usage(r.id))
          .map((r) => r.id),
      );
      for (const r of records.all()) {
        if (doomed.has(r.id) || !r.parent || !doomed.has(r.parent)) continue;
        let p: string | undefined = r.parent;
        while (p && doomed.has(p)) p = records.get(p)?.parent;
        records.put({ ...r, parent: p });
      }
      const before = new Map(o.snapshots.list().map((c) => [c, sizeOfSnapshot(c)]));
      for (const id of doomed) {
        records.delete(id);
        configs.delete(id);
        publish('delete', id);
      }
      let space = 0;
      for (const c of collect()) space += before.get(c) ?? 0;
      return { deleted: [...doomed], spaceReclaimed: space };
    },
  };

  /**
   * After an image is deleted: its parent goes too when nothing else holds it (no tag or digest, no other child,
   * no container), and so on up the chain — the intermediate images of a build leave with its result.
   */
  function pruneParents(parent: string | undefined): string[] {
    const out: string[] = [];
    while (parent) {
      const p = records.get(parent);
      if (!p || usage(p.id) || childrenOf(p.id).length) break;
      if ([...records.refs().values()].includes(p.id)) break;
      records.delete(p.id);
      configs.delete(p.id);
      out.push(p.id);
      publish('delete', p.id);
      parent = p.parent;
    }
    return out;
  }

  function sizeOfSnapshot(chainId: string): number {
    try {
      return o.snapshots.meta(chainId).size;
    } catch {
      return 0;
    }
  }

  function childrenOf(id: string): string[] {
    return records
      .all()
      .filter((r) => r.parent === id)
      .map((r) => r.id);
  }

  function findIdByRefOnly(refOrId: string): string | undefined {
    try {
      const ref = parseReference(refOrId);
      if (!ref.tag && !ref.digest) ref.tag = DEFAULT_TAG;
      return records.refs().get(refKey(ref));
    } catch {
      return undefined;
    }
  }

  /** Removes snapshots and blobs nothing references; returns the chain IDs of removed snapshots. */
  function collect(): string[] {
    const keepSnaps = new Set<string>();
    const keepBlobs = new Set<string>();
    for (const r of records.all()) {
      r.chainIds.forEach((c) => keepSnaps.add(c));
      keepBlobs.add(r.configDigest);
      r.layers.forEach((l: LayerDescriptor) => keepBlobs.add(l.digest));
    }
    const removed: string[] = [];
    for (const c of o.snapshots.list()) {
      if (keepSnaps.has(c) || leases.has(c) || ctx.layerWork.has(c)) continue;
      o.snapshots.remove(c);
      removed.push(c);
    }
    for (const d of o.content.list()) {
      if (keepBlobs.has(d) || leases.has(d)) continue;
      o.content.delete(d);
    }
    return removed;
  }

  return svc;
}

/** The image subsystem with its stores under the data root; registry settings are re-read on every use (SIGHUP). */
export function openImageService(
  dataRoot: string,
  config: () => {
    registryMirrors: string[];
    insecureRegistries: string[];
    configFile: string;
    rootless?: { hostGateway: string };
  },
  events: EventBus,
): ImageService {
  return createImageService({
    root: path.join(dataRoot, 'image'),
    content: createContentStore(path.join(dataRoot, 'content')),
    snapshots: createSnapshotter(path.join(dataRoot, 'snapshots')),
    registry: createRegistryService(() => {
      const c = config();
      return {
        mirrors: c.registryMirrors,
        insecure: c.insecureRegistries,
        certsDir: path.join(path.dirname(c.configFile), 'certs.d'),
        loopbackVia: c.rootless?.hostGateway,
      };
    }),
    events,
  });
}
