// Pulling: resolve the manifest (mirrors first for docker.io), pick the platform, fetch the config, then up to
// three layers at once. Each layer streams from the registry through a digest check into the content store
// and, at the same time, through decompression into its snapshot: download and extraction overlap, and
// nothing is kept unless both the blob digest and the diff ID match.
import { PassThrough, Transform, type TransformCallback } from 'node:stream';
import type { ContentStore } from '../content';
import { DigestMismatchError, sha256 } from '../content';
import { invalidParameter, notFound, system, unavailable, EngineError, forbidden } from '../errdefs';
import {
  type Credentials,
  EndpointError,
  familiarName,
  type Reference,
  RegistryError,
  type RegistryService,
  type RepoSession,
} from '../registry';
import { chainIds as computeChainIds, isUnsafeLayer, type Snapshotter } from '../snapshots';
import {
  type Descriptor,
  type Index,
  isIndex,
  isManifest,
  isSchema1,
  type Manifest,
  MT,
  type Platform,
  platformString,
  selectManifest,
} from './manifest';
import type { ProgressSink } from './progress';
import type { LayerDescriptor } from './store';

export const MAX_CONCURRENT_DOWNLOADS = 3;

export class Semaphore {
  private waiting: (() => void)[] = [];
  constructor(private free: number) {}
  async acquire(): Promise<() => void> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    };
  }
}

export interface ResolvedImage {
  session: RepoSession;
  /** Digest of what the reference named (the index's digest for multi-arch images). */
  repoDigest: string;
  manifestDigest: string;
  manifest: Manifest;
  manifestMediaType: string;
}

const short = (digest: string) => digest.replace(/^sha256:/, '').slice(0, 12);

function asEngineError(err: unknown, ref: Reference, what: string): EngineError {
  if (err instanceof EngineError) return err;
  if (err instanceof RegistryError) {
    if (err.status === 404 || err.code === 'MANIFEST_UNKNOWN' || err.code === 'NAME_UNKNOWN') {
      return notFound(`manifest for ${what} not found: ${err.message}`);
    }
    if (err.status === 401 || err.status === 403 || err.code === 'DENIED' || err.code === 'UNAUTHORIZED') {
      return forbidden(
        `pull access denied for ${familiarName(ref)}, repository does not exist or may require 'docker login': ${err.message}`,
      );
    }
    return system(`error from registry: ${err.message}`);
  }
  if (err instanceof EndpointError) return unavailable(err.message);
  return system(err instanceof Error ? err.message : String(err));
}

/** Finds the manifest on the first endpoint that has it (a mirror failing falls through to the next). */
export async function resolve(
  registry: RegistryService,
  ref: Reference,
  creds: Credentials | undefined,
  platform: Platform,
  refText: string,
): Promise<ResolvedImage> {
  const endpoints = registry.endpoints(ref.domain);
  let lastErr: unknown;
  for (const endpoint of endpoints) {
    const session = registry.open(endpoint, ref.path, endpoint.mirror ? undefined : creds, ['pull']);
    try {
      let { mediaType, body } = await session.getManifest(ref.digest ?? ref.tag!);
      const repoDigest = sha256(body);
      if (ref.digest && repoDigest !== ref.digest)
        throw system(`manifest verification failed for digest ${ref.digest}`);
      if (isSchema1(mediaType)) {
        throw invalidParameter(
          `${refText}: image manifest schema 1 is not supported (deprecated by Docker); push the image again with a current client`,
        );
      }
      let manifestDigest = repoDigest;
      if (isIndex(mediaType)) {
        const index = JSON.parse(body.toString('utf8')) as Index;
        const chosen = selectManifest(index, platform);
        if (!chosen)
          throw notFound(`no matching manifest for ${platformString(platform)} in the manifest list entries`);
        ({ mediaType, body } = await session.getManifest(chosen.digest));
        manifestDigest = sha256(body);
        if (manifestDigest !== chosen.digest) throw system(`manifest verification failed for digest ${chosen.digest}`);
        if (!isManifest(mediaType)) mediaType = chosen.mediaType;
      }
      if (!isManifest(mediaType))
        throw invalidParameter(`${refText}: unsupported manifest media type ${mediaType || '(none)'}`);
      const manifest = JSON.parse(body.toString('utf8')) as Manifest;
      if (!manifest.config?.digest || !Array.isArray(manifest.layers))
        throw invalidParameter(`${refText}: malformed image manifest`);
      return { session, repoDigest, manifestDigest, manifest, manifestMediaType: mediaType };
    } catch (err) {
      lastErr = err;
      // Docker falls back from a mirror on any registry error, and from any endpoint it could not reach.
      if (err instanceof EndpointError || (endpoint.mirror && err instanceof RegistryError)) continue;
      break;
    }
  }
  throw asEngineError(lastErr, ref, refText);
}

/** Counts bytes and reports them (throttled by the sink). */
class Counter extends Transform {
  bytes = 0;
  constructor(private onBytes: (n: number) => void) {
    super();
  }
  _transform(chunk: Buffer, _e: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    this.onBytes(this.bytes);
    cb(null, chunk);
  }
}

export interface LayerJob {
  desc: Descriptor;
  diffId: string;
  chainId: string;
  parent?: string;
}

export interface PullContext {
  content: ContentStore;
  snapshots: Snapshotter;
  downloads: Semaphore;
  /** Shared per chain ID, so concurrent pulls of images with common layers do the work once. */
  layerWork: Map<string, Promise<void>>;
}

function checkLayerMediaType(desc: Descriptor): void {
  const known = [
    MT.dockerLayerGzip,
    MT.dockerLayerForeign,
    MT.ociLayer,
    MT.ociLayerGzip,
    MT.ociLayerZstd,
    'application/vnd.oci.image.layer.nondistributable.v1.tar',
    'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
    'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
    'application/vnd.docker.image.rootfs.diff.tar',
  ];
  if (!known.includes(desc.mediaType as any)) throw invalidParameter(`unsupported layer media type ${desc.mediaType}`);
}

/** Downloads (if needed) and unpacks one layer, reporting Docker's per-layer progress. */
async function pullLayer(ctx: PullContext, session: RepoSession, job: LayerJob, progress: ProgressSink): Promise<void> {
  const id = short(job.desc.digest);
  const release = await ctx.downloads.acquire();
  try {
    if (ctx.snapshots.has(job.chainId)) {
      progress({ status: 'Pull complete', id, layer: true });
      return;
    }
    if (ctx.content.has(job.desc.digest)) {
      progress({ status: 'Verifying Checksum', id, layer: true });
      progress({ status: 'Download complete', id, layer: true });
      const total = ctx.content.size(job.desc.digest);
      await ctx.snapshots.unpack(
        job.chainId,
        job.diffId,
        job.parent,
        ctx.content.readStream(job.desc.digest).pipe(
          new Counter((n) => {
            progress({ status: 'Extracting', id, layer: true, current: n, total });
          }),
        ),
      );
    } else {
      const blob = await session.getBlob(job.desc.digest);
      const total = blob.size >= 0 ? blob.size : job.desc.size;
      const writer = ctx.content.writer({ digest: job.desc.digest, size: job.desc.size });
      const counter = new Counter((n) => progress({ status: 'Downloading', id, layer: true, current: n, total }));
      const tee = new PassThrough({ highWaterMark: 1 << 20 });
      let teeOpen = true;
      let teeWaiting: (() => void) | undefined;
      // The blob store and the unpacker both get every byte; the slower one sets the pace.
      counter.on('data', (chunk: Buffer) => {
        const a = writer.stream.write(chunk);
        const b = teeOpen ? tee.write(chunk) : true;
        if (!a || !b) {
          counter.pause();
          let waiting = (a ? 0 : 1) + (b ? 0 : 1);
          const resume = () => {
            if (--waiting === 0) counter.resume();
          };
          if (!a) writer.stream.once('drain', resume);
          if (!b) {
            teeWaiting = () => {
              teeWaiting = undefined;
              resume();
            };
            tee.once('drain', () => teeWaiting?.());
          }
        }
      });
      counter.on('end', () => {
        writer.stream.end();
        if (teeOpen) tee.end();
      });
      counter.on('error', (err) => {
        tee.destroy(err);
        writer.stream.destroy(err);
      });
      blob.body.on('error', (err) => counter.destroy(err));
      blob.body.pipe(counter);
      const unpacked = ctx.snapshots.unpack(job.chainId, job.diffId, job.parent, tee);
      // If the unpack fails, the download still finishes into the store, so a corrupt blob is reported as such.
      unpacked.catch(() => {
        teeOpen = false;
        teeWaiting?.();
        tee.destroy();
      });
      const committed = writer.commit().then(() => {
        progress({ status: 'Verifying Checksum', id, layer: true });
        progress({ status: 'Download complete', id, layer: true });
      });
      const [c, u] = await Promise.allSettled([committed, unpacked]);
      if (c.status === 'rejected') {
        blob.body.destroy();
        await writer.abort();
        // A blob that failed its check leaves nothing, not even a snapshot unpacked from it meanwhile.
        if (u.status === 'fulfilled') ctx.snapshots.remove(job.chainId);
        throw c.reason;
      }
      if (u.status === 'rejected') {
        ctx.content.delete(job.desc.digest); // authentic but unusable: keep nothing of a failed pull
        throw u.reason;
      }
      progress({ status: 'Extracting', id, layer: true, current: total, total });
    }
    progress({ status: 'Pull complete', id, layer: true });
  } finally {
    release();
  }
}

export async function pullLayers(
  ctx: PullContext,
  session: RepoSession,
  jobs: LayerJob[],
  progress: ProgressSink,
): Promise<void> {
  const work: Promise<void>[] = [];
  let queued = 0;
  for (const job of jobs) {
    checkLayerMediaType(job.desc);
    const id = short(job.desc.digest);
    if (ctx.snapshots.has(job.chainId)) {
      progress({ status: 'Already exists', id, layer: true });
      continue;
    }
    progress({ status: 'Pulling fs layer', id, layer: true });
    const shared = ctx.layerWork.get(job.chainId);
    if (shared) {
      work.push(shared.then(() => progress({ status: 'Pull complete', id, layer: true })));
      continue;
    }
    const p = pullLayer(ctx, session, job, progress);
    ctx.layerWork.set(job.chainId, p);
    p.finally(() => ctx.layerWork.delete(job.chainId)).catch(() => {});
    work.push(p);
    queued++;
  }
  if (queued > MAX_CONCURRENT_DOWNLOADS) {
    // Docker says "Waiting" for the layers queued behind the first three.
    let n = 0;
    for (const job of jobs) {
      if (ctx.snapshots.has(job.chainId)) continue;
      if (++n > MAX_CONCURRENT_DOWNLOADS) progress({ status: 'Waiting', id: short(job.desc.digest), layer: true });
    }
  }
  const results = await Promise.allSettled(work);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    const err = failed.reason;
    if (err instanceof DigestMismatchError) throw system(err.message);
    if (isUnsafeLayer(err)) throw invalidParameter(`failed to register layer: ${err.message}`);
    if (err instanceof EngineError) throw err;
    throw system(`failed to register layer: ${err?.message ?? err}`);
  }
}

/** Config digests and diff IDs → jobs (with chain IDs), checked for consistency with the manifest. */
export function layerJobs(manifest: Manifest, diffIds: string[]): LayerJob[] {
  if (diffIds.length !== manifest.layers.length) {
    throw invalidParameter(
      `image config has ${diffIds.length} diff IDs but the manifest lists ${manifest.layers.length} layers`,
    );
  }
  const chains = computeChainIds(diffIds);
  return manifest.layers.map((desc, i) => ({
    desc,
    diffId: diffIds[i],
    chainId: chains[i],
    parent: i ? chains[i - 1] : undefined,
  }));
}

export function layerDescriptors(manifest: Manifest): LayerDescriptor[] {
  return manifest.layers.map((l) => ({ digest: l.digest, mediaType: l.mediaType, size: l.size }));
}
