// What a registry serves for a name (GET /distribution/{name}/json): the manifest's descriptor and the platforms
// it covers, read from the first endpoint that answers (mirrors first, as for a pull).
import { sha256 } from '../content';
import { EngineError, system, toEngineError } from '../errdefs';
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
      const digest = sha256(m.body);
      // What was asked for by digest must be that very manifest, as a pull checks it.
      if (ref.digest && digest !== ref.digest) throw system(`manifest verification failed for digest ${ref.digest}`);
      let body: any;
      try {
        body = JSON.parse(m.body.toString('utf8'));
      } catch (err: any) {
        throw system(`${familiarName(ref)}: malformed manifest: ${err.message}`);
      }
      const platforms: Platform[] = Array.isArray(body.manifests)
        ? body.manifests
            .filter((d: any) => d.platform)
            .map((d: any) => ({
              architecture: d.platform.architecture,
              os: d.platform.os,
              ...(d.platform.variant ? { variant: d.platform.variant } : {}),
            }))
        : [];
      if (!platforms.length && typeof body.config?.digest === 'string') {
        const cfg = JSON.parse((await readConfig(session, body.config.digest)).toString('utf8'));
        platforms.push({
          architecture: cfg.architecture,
          os: cfg.os,
          ...(cfg.variant ? { variant: cfg.variant } : {}),
        });
      }
      return { descriptor: { mediaType: m.mediaType, digest, size: m.body.length }, platforms };
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

/** An image config is small: read up to MAX_CONFIG bytes (as a pull does), and it must be what its digest says. */
export const MAX_CONFIG = 8 * 1024 * 1024;

async function readConfig(
  session: { getBlob(d: string): Promise<{ body: NodeJS.ReadableStream }> },
  digest: string,
): Promise<Buffer> {
  const blob = await session.getBlob(digest);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of blob.body as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > MAX_CONFIG) {
      (blob.body as any).destroy?.();
      throw system(`image config ${digest} is larger than ${MAX_CONFIG} bytes`);
    }
    chunks.push(c);
  }
  const data = Buffer.concat(chunks);
  if (sha256(data) !== digest) throw system(`image config verification failed for digest ${digest}`);
  return data;
}
