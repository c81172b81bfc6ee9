// The image subsystem: records (Id = config digest), references (tags and digests), pulls, removal with
// Docker's untag-vs-delete rules, prune, history, and garbage collection of blobs and snapshots.
import * as path from 'node:path';
import { type ContentStore, createContentStore } from '../content';
import { invalidParameter, notFound } from '../errdefs';
import type { EventBus } from '../events';
import {
  createRegistryService,
  type Credentials,
  DEFAULT_TAG,
  familiarName,
  familiarString,
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
import { layerDescriptors, layerJobs, pullLayers, resolve } from './pull';
import { Broadcast, type ProgressSink } from './progress';
import { pushImage } from './push';
import { pruneCommitted, pruneImages, removeImage, collect } from './removal';
import { childrenOf, createImageState, mustFind, publish, toImage } from './state';
import type { ImageRecord, LayerDescriptor } from './store';

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

export interface ImageServiceOptions {
  root: string;
  content: ContentStore;
  snapshots: Snapshotter;
  registry: RegistryService;
  events: EventBus;
}

export function createImageService(o: ImageServiceOptions): ImageService {
  const st = createImageState(o);
  const pulls = new Map<string, { broadcast: Broadcast; done: Promise<Image> }>();

  const svc: ImageService & ImageParts = {
    content: st.content,
    snapshots: st.snapshots,
    registry: o.registry,
    events: st.events,
    async get(refOrId) {
      return toImage(st, mustFind(st, refOrId));
    },
    async list() {
      return Promise.all(st.records.all().map((r) => toImage(st, r)));
    },
    setUsageCheck(fn) {
      st.usage = fn;
    },
    layerDirs(image) {
      return [...image.chainIds].reverse().map((c) => st.snapshots.dir(c));
    },
    count: () => st.records.all().length,
    record(id) {
      const r = st.records.get(id);
      if (!r) throw notFound(`No such image: ${id}`);
      return r;
    },
    addRef(ref, id) {
      st.records.setRef(refKey(ref), id);
    },
    layerSize: (chainId) => st.snapshots.meta(chainId).size,
    save: (names) => saveImages(svc, names),
    load: (body, onMessage) => loadImages(svc, body, onMessage),
    push: (name, tag, creds, progress) => pushImage(svc, name, tag, creds, progress),
    login: (serverAddress, creds) => o.registry.login(serverAddress, creds),
    inspectDistribution: (name, creds) => inspectDistribution(svc, name, creds),
    children: (id) => childrenOf(st, id),

    async addLayer(parentChainId, tar) {
      // One read of the tar feeds both the blob and the snapshot (pipe waits for the slower of the two).
      const writer = st.content.writer();
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
      const unpacked = st.snapshots.create(parentChainId, toSnapshot);
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
        descriptor: { digest, mediaType: UNCOMPRESSED_LAYER, size: meta.tarSize ?? st.content.size(digest) },
        empty: meta.diffId === EMPTY_LAYER_DIFF_ID,
      };
    },

    async create(config, { parent, layers, refs = [] }) {
      const diffIds = config.rootfs.diff_ids;
      if (diffIds.length !== layers.length) throw invalidParameter('image config and layers do not match');
      const chains = chainIdsOf(diffIds);
      for (const c of chains) if (!st.snapshots.has(c)) throw notFound(`layer ${c} is not stored`);
      const bytes = Buffer.from(JSON.stringify(config));
      const configDigest = await st.content.put(bytes);
      const existing = st.records.get(configDigest);
      const record: ImageRecord = {
        id: configDigest,
        configDigest,
        chainIds: chains,
        diffIds,
        layers,
        stored: existing?.stored ?? new Date().toISOString(),
        ...(parent ? { parent } : {}),
      };
      st.records.put(record);
      for (const k of refs) st.records.setRef(k, record.id);
      return toImage(st, record);
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
          st.leases.add(k);
          leased.push(k);
        };
        try {
          const resolved = await resolve(o.registry, ref, opts.creds, platform, shown);
          const emit = broadcast.emit;
          emit({ status: `Pulling from ${ref.path}`, id: ref.digest ?? ref.tag });
          const configDigest = resolved.manifest.config.digest;
          lease(configDigest);
          const existing = st.records.get(configDigest);
          const haveAll = existing && existing.chainIds.every((c) => st.snapshots.has(c));
          let record: ImageRecord;
          if (existing && haveAll) {
            record = existing;
          } else {
            if (!st.content.has(configDigest)) {
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
              await st.content.put(Buffer.concat(chunks), configDigest);
            }
            const config = JSON.parse((await st.content.read(configDigest)).toString('utf8')) as ImageConfig;
            const diffIds = config.rootfs?.diff_ids ?? [];
            const jobs = layerJobs(resolved.manifest, diffIds);
            for (const j of jobs) {
              lease(j.desc.digest);
              lease(j.chainId);
            }
            await pullLayers(st.pull, resolved.session, jobs, emit);
            record = {
              id: configDigest,
              configDigest,
              chainIds: jobs.map((j) => j.chainId),
              diffIds,
              layers: layerDescriptors(resolved.manifest),
              stored: new Date().toISOString(),
            };
            st.records.put(record);
          }
          const hadRef =
            st.records.refs().get(refKey(ref.tag ? ref : { ...ref, digest: resolved.repoDigest })) === record.id;
          if (ref.tag) st.records.setRef(refKey(ref), record.id);
          st.records.setRef(refKey({ ...ref, tag: undefined, digest: resolved.repoDigest }), record.id);
          emit({ status: `Digest: ${resolved.repoDigest}` });
          const upToDate = existing && haveAll && hadRef;
          emit({
            status: upToDate
              ? `Status: Image is up to date for ${shown}`
              : `Status: Downloaded newer image for ${shown}`,
          });
          publish(st, 'pull', familiarString(ref), familiarName(ref));
          return await toImage(st, record);
        } finally {
          for (const k of leased) st.leases.delete(k);
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
      const r = mustFind(st, source);
      const ref = parseReference(target);
      if (ref.digest) throw invalidParameter('refusing to create a tag with a digest reference');
      if (!ref.tag) ref.tag = DEFAULT_TAG;
      const key = refKey(ref);
      if (st.records.refs().get(key) !== r.id) {
        st.records.setRef(key, r.id);
        r.lastTagTime = new Date().toISOString();
        st.records.put(r); // a tag that already named this image changes nothing on disk (a cached rebuild's tag)
      }
      publish(st, 'tag', r.id, familiarString(ref));
    },

    async register(rec, refs) {
      const record: ImageRecord = { ...rec, stored: new Date().toISOString() };
      st.records.put(record);
      for (const k of refs) st.records.setRef(k, record.id);
      return toImage(st, record);
    },

    gc() {
      collect(st);
    },

    remove: (refOrId, opts) => removeImage(st, refOrId, opts),
    prune: (opts) => pruneImages(st, opts),
    pruneCommitted: () => pruneCommitted(st),
  };
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
