// docker push: layers (skipping what the registry has), the config, then the manifest by tag — with Docker's
// progress ("Preparing", "Pushing", "Pushed", "Layer already exists", "<tag>: digest: … size: …").
import { Transform, type TransformCallback } from 'node:stream';
import { sha256 } from '../content';
import { EngineError, forbidden, invalidParameter, notFound, system, unavailable } from '../errdefs';
import {
  type Credentials,
  DEFAULT_TAG,
  EndpointError,
  familiarName,
  fullName,
  parseReference,
  type Reference,
  RegistryError,
  type RepoSession,
} from '../registry';
import { type ImageParts, refKey } from './model';
import { MT } from './manifest';
import type { ProgressSink } from './progress';
import { MAX_CONCURRENT_DOWNLOADS as MAX_CONCURRENT_UPLOADS, Semaphore } from './pull';

const short = (d: string) => d.replace(/^sha256:/, '').slice(0, 12);

function pushError(err: unknown, ref: Reference): EngineError {
  if (err instanceof EngineError) return err;
  if (err instanceof RegistryError) {
    if (err.status === 401 || err.status === 403)
      return forbidden(`denied: requested access to the resource is denied (${err.message})`);
    return system(err.message);
  }
  if (err instanceof EndpointError) return unavailable(err.message);
  return system(`pushing ${familiarName(ref)}: ${(err as Error)?.message ?? err}`);
}

/** Pushes `name` (all its tags in that repository when `tag` is empty). */
export async function pushImage(
  images: ImageParts,
  name: string,
  tag: string | undefined,
  creds: Credentials | undefined,
  progress: ProgressSink,
): Promise<void> {
  const repo = parseReference(name);
  if (repo.digest) throw invalidParameter('cannot push a digest reference');
  if (tag) repo.tag = tag;
  const all = await images.list();
  const targets: { ref: Reference; id: string }[] = [];
  if (repo.tag) {
    const img = await images.get(refKey(repo)).catch(() => undefined);
    if (!img) throw notFound(`tag does not exist: ${familiarName(repo)}:${repo.tag}`);
    targets.push({ ref: repo, id: img.id });
  } else {
    for (const img of all) {
      for (const t of img.repoTags) {
        const r = parseReference(t);
        if (fullName(r) === fullName(repo)) targets.push({ ref: r, id: img.id });
      }
    }
    if (!targets.length) {
      const img = await images.get(refKey({ ...repo, tag: DEFAULT_TAG })).catch(() => undefined);
      if (!img) throw notFound(`An image does not exist locally with the tag: ${familiarName(repo)}`);
      targets.push({ ref: { ...repo, tag: DEFAULT_TAG }, id: img.id });
    }
  }

  let session: RepoSession | undefined;
  let lastErr: unknown;
  for (const endpoint of images.registry.endpoints(repo.domain, true)) {
    const s = images.registry.open(endpoint, repo.path, creds, ['pull', 'push']);
    try {
      await s.hasBlob(sha256('')); // reaches the registry and authenticates before any progress
      session = s;
      break;
    } catch (err) {
      lastErr = err;
      if (err instanceof EndpointError) continue;
      break;
    }
  }
  if (!session) throw pushError(lastErr, repo);
  const uploads = new Semaphore(MAX_CONCURRENT_UPLOADS);

  progress({ status: `The push refers to repository [${fullName(repo)}]` });
  try {
    for (const { ref, id } of targets) {
      const rec = images.record(id);
      const order = rec.layers.map((l, i) => ({ ...l, diffId: rec.diffIds[i] })).reverse();
      for (const l of order) progress({ status: 'Preparing', id: short(l.diffId), layer: true });
      if (order.length > MAX_CONCURRENT_UPLOADS)
        for (const l of order.slice(MAX_CONCURRENT_UPLOADS))
          progress({ status: 'Waiting', id: short(l.diffId), layer: true });
      await Promise.all(
        order.map(async (l) => {
          const release = await uploads.acquire();
          try {
            const lid = short(l.diffId);
            if (await session!.hasBlob(l.digest)) {
              progress({ status: 'Layer already exists', id: lid, layer: true });
              return;
            }
            if (!images.content.has(l.digest))
              throw notFound(`layer ${l.digest} is not in the store; pull the image again to push it`);
            const size = images.content.size(l.digest);
            await session!.pushBlob(l.digest, size, () => {
              let sent = 0;
              let last = 0;
              return images.content.readStream(l.digest).pipe(
                new Transform({
                  transform(chunk: Buffer, _e, cb: TransformCallback) {
                    sent += chunk.length;
                    if (sent === size || Date.now() - last > 100) {
                      last = Date.now();
                      progress({ status: 'Pushing', id: lid, layer: true, current: sent, total: size });
                    }
                    cb(null, chunk);
                  },
                }),
              );
            });
            progress({ status: 'Pushed', id: lid, layer: true });
          } finally {
            release();
          }
        }),
      );
      const config = await images.content.read(rec.configDigest);
      if (!(await session.hasBlob(rec.configDigest)))
        await session.pushBlob(rec.configDigest, config.length, () => images.content.readStream(rec.configDigest));
      const oci = rec.layers.some((l) => l.mediaType.startsWith('application/vnd.oci.'));
      const manifestType = oci ? MT.ociManifest : MT.dockerManifest;
      const manifest = Buffer.from(
        JSON.stringify(
          {
            schemaVersion: 2,
            mediaType: manifestType,
            config: { mediaType: oci ? MT.ociConfig : MT.dockerConfig, size: config.length, digest: rec.configDigest },
            layers: rec.layers.map((l) => ({ mediaType: l.mediaType, size: l.size, digest: l.digest })),
          },
          null,
          3,
        ),
      );
      const digest = sha256(manifest);
      await session.putManifest(ref.tag!, manifestType, manifest);
      images.addRef({ ...ref, tag: undefined, digest }, id);
      progress({ status: `${ref.tag}: digest: ${digest} size: ${manifest.length}` });
      progress({ status: '', layer: true, aux: { Tag: ref.tag, Digest: digest, Size: manifest.length } });
      images.events.publish('image', 'push', `${familiarName(ref)}:${ref.tag}`, { name: familiarName(ref) });
    }
  } catch (err) {
    throw pushError(err, repo);
  }
}
