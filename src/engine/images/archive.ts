// docker save / docker load archives. Save writes Docker 25's format: an OCI image layout (oci-layout,
// index.json, blobs/sha256/… with uncompressed layers) plus Docker's manifest.json and repositories. Load reads
// that and the legacy format (<id>/layer.tar, <hex>.json), streaming every file into the content store (never
// buffering layers) and unpacking layers through the same secure unpacker as pulls.
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as posix from 'node:path/posix';
import * as tar from 'tar-stream';
import { sha256 } from '../content';
import { invalidParameter, notFound, system } from '../errdefs';
import { DEFAULT_TAG, familiarName, familiarString, parseReference, type Reference } from '../registry';
import { chainIds, decompressed } from '../snapshots';
import { type Image, type ImageConfig, type ImageParts, refKey } from './model';
import { MT } from './manifest';

const hex = (d: string) => d.replace(/^sha256:/, '');
const SMALL = 1024 * 1024; // metadata and small layers are read whole; the rest streams

interface SaveItem {
  image: Image;
  tags: Reference[];
}

/** Resolves `docker save` names: a name saves the tag it names (latest by default), an ID no tags. */
async function saveItems(images: ImageParts, names: string[]): Promise<SaveItem[]> {
  const byId = new Map<string, SaveItem>();
  for (const name of names) {
    const image = await images.get(name);
    const item = byId.get(image.id) ?? { image, tags: [] };
    byId.set(image.id, item);
    let ref: Reference | undefined;
    try {
      ref = parseReference(name);
    } catch {
      continue; /* an ID */
    }
    if (ref.digest) continue;
    ref.tag ??= DEFAULT_TAG;
    if (image.repoTags.includes(familiarString(ref)) && !item.tags.some((t) => refKey(t) === refKey(ref!)))
      item.tags.push(ref);
  }
  return [...byId.values()];
}

function entry(pack: tar.Pack, name: string, size: number): Writable {
  return pack.entry({ name, size, mode: 0o644, mtime: new Date(0) }) as unknown as Writable;
}

async function putBuffer(pack: tar.Pack, name: string, data: Buffer): Promise<void> {
  await new Promise<void>((resolve, reject) =>
    pack.entry({ name, size: data.length, mode: 0o644, mtime: new Date(0) }, data, (err) =>
      err ? reject(err) : resolve(),
    ),
  );
}

/** Streams a `docker save` tar of the named images. */
export async function saveImages(images: ImageParts, names: string[]): Promise<Readable> {
  if (!names.length) throw invalidParameter('no images to save');
  const items = await saveItems(images, names);
  // Check every layer is at hand before the first byte goes out.
  for (const { image } of items) {
    const rec = images.record(image.id);
    for (const l of rec.layers) {
      if (!images.content.has(l.digest))
        throw notFound(`layer ${l.digest} of image ${image.id} is not in the store; pull the image again`);
    }
  }
  const pack = tar.pack();
  (async () => {
    const written = new Set<string>();
    const manifestJson: { Config: string; RepoTags: string[] | null; Layers: string[] }[] = [];
    const repositories: Record<string, Record<string, string>> = {};
    const index: object[] = [];
    await putBuffer(pack, 'oci-layout', Buffer.from('{"imageLayoutVersion":"1.0.0"}'));
    for (const { image, tags } of items) {
      const rec = images.record(image.id);
      const blob = (d: string) => `blobs/sha256/${hex(d)}`;
      const config = await images.content.read(rec.configDigest);
      if (!written.has(rec.configDigest)) {
        written.add(rec.configDigest);
        await putBuffer(pack, blob(rec.configDigest), config);
      }
      const layerDescs: { mediaType: string; digest: string; size: number }[] = [];
      for (let i = 0; i < rec.layers.length; i++) {
        const diffId = rec.diffIds[i];
        const size = images.snapshots.meta(rec.chainIds[i]).tarSize;
        if (size === undefined)
          throw system(
            `layer ${diffId}: size unknown (snapshot from an older engine); remove and pull the image again`,
          );
        layerDescs.push({ mediaType: MT.ociLayer, digest: diffId, size });
        if (written.has(diffId)) continue;
        written.add(diffId);
        const plain = await decompressed(images.content.readStream(rec.layers[i].digest));
        await pipeline(plain, entry(pack, blob(diffId), size));
      }
      const manifest = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MT.ociManifest,
          config: { mediaType: MT.ociConfig, digest: rec.configDigest, size: config.length },
          layers: layerDescs,
        }),
      );
      const manifestDigest = sha256(manifest);
      if (!written.has(manifestDigest)) {
        written.add(manifestDigest);
        await putBuffer(pack, blob(manifestDigest), manifest);
      }
      const descriptor = { mediaType: MT.ociManifest, digest: manifestDigest, size: manifest.length };
      if (!tags.length) index.push(descriptor);
      for (const t of tags) {
        index.push({
          ...descriptor,
          annotations: { 'io.containerd.image.name': refKey(t), 'org.opencontainers.image.ref.name': t.tag },
        });
        (repositories[familiarName(t)] ??= {})[t.tag!] = hex(rec.diffIds[rec.diffIds.length - 1] ?? rec.configDigest);
      }
      manifestJson.push({
        Config: blob(rec.configDigest),
        RepoTags: tags.length ? tags.map(familiarString) : null,
        Layers: rec.diffIds.map(blob),
      });
    }
    await putBuffer(
      pack,
      'index.json',
      Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT.ociIndex, manifests: index })),
    );
    await putBuffer(pack, 'manifest.json', Buffer.from(JSON.stringify(manifestJson)));
    if (Object.keys(repositories).length)
      await putBuffer(pack, 'repositories', Buffer.from(JSON.stringify(repositories)));
    pack.finalize();
  })().catch((err) => pack.destroy(err));
  return pack as unknown as Readable;
}

export interface LoadResult {
  loaded: string[];
}

/** Reads a `docker save` archive (plain or compressed) and registers its images. */
export async function loadImages(
  images: ImageParts,
  body: Readable,
  onMessage: (line: string) => void,
): Promise<LoadResult> {
  const extract = tar.extract();
  const files = new Map<string, Buffer>(); // small metadata files by name
  const blobs = new Map<string, string>(); // archive path → stored digest
  const links = new Map<string, string>(); // symlink path → target path
  const plain = await decompressed(body);
  const feeding = pipeline(plain, extract);
  feeding.catch(() => {});
  try {
    for await (const e of extract as AsyncIterable<Readable & { header: tar.Header }>) {
      const name = posix.normalize(e.header.name).replace(/^\.\/|\/$/g, '');
      if (e.header.type === 'symlink' || e.header.type === 'link') {
        const target =
          e.header.type === 'symlink'
            ? posix.normalize(posix.join(posix.dirname(name), e.header.linkname ?? ''))
            : posix.normalize(e.header.linkname ?? '');
        links.set(name, target);
        e.resume();
        continue;
      }
      if (e.header.type !== 'file' && e.header.type !== 'contiguous-file') {
        e.resume();
        continue;
      }
      if ((e.header.size ?? 0) <= SMALL) {
        const chunks: Buffer[] = [];
        for await (const c of e) chunks.push(c as Buffer);
        const data = Buffer.concat(chunks);
        files.set(name, data);
        blobs.set(name, await images.content.put(data));
        continue;
      }
      const writer = images.content.writer();
      try {
        await pipeline(e, writer.stream);
        const digest = await writer.commit();
        blobs.set(name, digest);
      } catch (err) {
        await writer.abort();
        throw err;
      }
    }
    await feeding;
  } catch (err: any) {
    images.gc(); // what the archive's readable part left in the content store
    throw invalidParameter(tarError(err));
  }

  const resolvePath = (p: string): string => {
    let cur = posix.normalize(p);
    for (let i = 0; i < 10 && links.has(cur); i++) cur = links.get(cur)!;
    return cur;
  };
  const manifestText = files.get('manifest.json');
  if (!manifestText) throw invalidParameter('invalid archive: no manifest.json (is this a docker save archive?)');
  let manifest: { Config: string; RepoTags?: string[] | null; Layers: string[] }[];
  try {
    manifest = JSON.parse(manifestText.toString('utf8'));
    if (!Array.isArray(manifest)) throw new Error('not a list');
  } catch (err: any) {
    throw invalidParameter(`invalid archive: manifest.json: ${err.message}`);
  }
  const loaded: string[] = [];
  for (const m of manifest) {
    const configPath = resolvePath(m.Config);
    const configBlob = blobs.get(configPath);
    const configBytes = files.get(configPath) ?? (configBlob ? await images.content.read(configBlob) : undefined);
    if (!configBytes) throw invalidParameter(`invalid archive: config ${m.Config} missing`);
    const configDigest = await images.content.put(configBytes);
    const config = JSON.parse(configBytes.toString('utf8')) as ImageConfig;
    const diffIds = config.rootfs?.diff_ids ?? [];
    if (diffIds.length !== m.Layers.length)
      throw invalidParameter(`invalid archive: ${m.Layers.length} layers for ${diffIds.length} diff IDs`);
    const chains = chainIds(diffIds);
    const layers = [];
    for (let i = 0; i < m.Layers.length; i++) {
      const digest = blobs.get(resolvePath(m.Layers[i]));
      if (!digest) throw invalidParameter(`invalid archive: layer ${m.Layers[i]} missing`);
      if (!images.snapshots.has(chains[i])) {
        onMessage(`Loading layer ${hex(diffIds[i]).slice(0, 12)}`);
        await images.snapshots.unpack(
          chains[i],
          diffIds[i],
          i ? chains[i - 1] : undefined,
          images.content.readStream(digest),
        );
      }
      const head = await firstBytes(images.content.readStream(digest));
      const mediaType =
        head[0] === 0x1f && head[1] === 0x8b
          ? MT.dockerLayerGzip
          : head.readUInt32LE(0) === 0xfd2fb528
            ? MT.ociLayerZstd
            : 'application/vnd.docker.image.rootfs.diff.tar';
      layers.push({ digest, mediaType, size: images.content.size(digest) });
    }
    const refs = (m.RepoTags ?? []).map((t) => {
      const r = parseReference(t);
      if (!r.tag && !r.digest) r.tag = DEFAULT_TAG;
      return r;
    });
    const img = await images.register(
      { id: configDigest, configDigest, chainIds: chains, diffIds, layers },
      refs.map(refKey),
    );
    if (refs.length)
      for (const r of refs) {
        loaded.push(`Loaded image: ${familiarString(r)}`);
        images.events.publish('image', 'load', img.id, { name: familiarString(r) });
      }
    else {
      loaded.push(`Loaded image ID: ${img.id}`);
      images.events.publish('image', 'load', img.id, {});
    }
  }
  images.gc(); // manifests, index and anything else the archive carried that no image uses
  return { loaded };
}

/** dockerd's texts for a damaged archive (its tar reader runs in a child process, hence the exit status). */
function tarError(err: any): string {
  const message = String(err?.message ?? err);
  if (/Unexpected end of data/i.test(message)) return 'Error processing tar file(exit status 1): unexpected EOF';
  if (/Invalid tar header/i.test(message))
    return 'Error processing tar file(exit status 1): archive/tar: invalid tar header';
  return `invalid archive: ${message}`;
}

async function firstBytes(s: Readable): Promise<Buffer> {
  for await (const c of s) {
    s.destroy();
    return Buffer.concat([c as Buffer, Buffer.alloc(4)]);
  }
  return Buffer.alloc(4);
}
