// What a registry serves for a name (GET /distribution/{name}/json): the manifest's descriptor and the platforms
// it covers, read from the first endpoint that answers (mirrors first, as for a pull).
import { sha256 } from '../content';
import { EngineError, toEngineError } from '../errdefs';
import { type Credentials, EndpointError, familiarName, parseReference, RegistryError } from '../registry';
import type { ImageParts } from './model';

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
}

export interface DistributionInfo {
  descriptor: { mediaType: string; digest: string; size: number };
  platforms: Platform[];
}

export async function inspectDistribution(
  images: Pick<ImageParts, 'registry'>,
  name: string,
  creds: Credentials | undefined,
): Promise<DistributionInfo> {
  const ref = parseReference(name);
  if (!ref.tag && !ref.digest) ref.tag = 'latest';
  let lastErr: unknown;
  for (const endpoint of images.registry.endpoints(ref.domain)) {
    try {
      const session = images.registry.open(endpoint, ref.path, endpoint.mirror ? undefined : creds, ['pull']);
      const m = await session.getManifest(ref.digest ?? ref.tag!);
      const body = JSON.parse(m.body.toString('utf8'));
      const platforms: Platform[] = Array.isArray(body.manifests)
        ? body.manifests
            .filter((d: any) => d.platform)
            .map((d: any) => ({
              architecture: d.platform.architecture,
              os: d.platform.os,
              ...(d.platform.variant ? { variant: d.platform.variant } : {}),
            }))
        : [];
      if (!platforms.length && body.config?.digest) {
        const cfg = JSON.parse((await readSmall(session, body.config.digest)).toString('utf8'));
        platforms.push({
          architecture: cfg.architecture,
          os: cfg.os,
          ...(cfg.variant ? { variant: cfg.variant } : {}),
        });
      }
      return { descriptor: { mediaType: m.mediaType, digest: sha256(m.body), size: m.body.length }, platforms };
    } catch (err) {
      lastErr = err;
      if (err instanceof EndpointError || (endpoint.mirror && err instanceof RegistryError)) continue;
      break;
    }
  }
  const e: any = lastErr;
  if (e?.status === 404) throw new EngineError('NotFound', `${familiarName(ref)}: manifest unknown: ${e.message}`);
  if (e?.status === 401 || e?.status === 403) throw new EngineError('Forbidden', `${e.message}`);
  throw toEngineError(lastErr);
}

async function readSmall(
  session: { getBlob(d: string): Promise<{ body: NodeJS.ReadableStream }> },
  digest: string,
): Promise<Buffer> {
  const blob = await session.getBlob(digest);
  const chunks: Buffer[] = [];
  for await (const c of blob.body as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}
