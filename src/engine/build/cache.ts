// The build cache as dockerd's classic builder finds it: a child image of the current one whose container config
// matches the step's (every step's image is a real image, so the chain of parents is the cache), or with
// --cache-from an image whose history continues the current one's with this step.
import type { BuildDeps } from '.';
import type { ImageConfig, ImageService, LayerDescriptor } from '../images';
import { type RunConfig, runConfigJson, runConfigOf, sameForCache, sortedConfig } from './runconfig';

/** The newest child of `parent` (a base image when there is none) whose container config matches this step's. */
export async function localCache(images: ImageService, parent: string, cfg: RunConfig): Promise<string | undefined> {
  const ids = parent ? images.children(parent) : (await images.list()).filter((i) => !i.parent).map((i) => i.id);
  let best: { id: string; created: number } | undefined;
  for (const id of ids) {
    const img = await images.get(id).catch(() => undefined);
    if (!img) continue;
    const cc = img.config.container_config as Record<string, any> | undefined;
    if (!cc || !sameForCache(runConfigOf(cc), cfg)) continue;
    const created = Date.parse(img.created);
    if (!best || created > best.created) best = { id, created };
  }
  return best?.id;
}

/**
 * --cache-from: an image whose history continues the current image's with this step (image/cache's
 * ImageCache): the step's image is recreated from that history entry and its layer.
 */
export async function cacheFromImages(
  deps: Pick<BuildDeps, 'images' | 'dockerVersion'>,
  cacheFrom: string[],
  parentId: string,
  cfg: RunConfig,
): Promise<string | undefined> {
  const parent = parentId ? await deps.images.get(parentId) : undefined;
  const parentHistory = parent?.config.history ?? [];
  const parentDiffs = parent?.config.rootfs.diff_ids ?? [];
  const createdBy = (cfg.Cmd ?? []).join(' ');
  for (const name of cacheFrom) {
    const src = await deps.images.get(name).catch(() => undefined);
    const h = src?.config.history ?? [];
    if (!src || h.length <= parentHistory.length) continue;
    if (parentHistory.some((e, i) => JSON.stringify(e) !== JSON.stringify(h[i]))) continue;
    const srcDiffs = src.config.rootfs.diff_ids;
    if (parentDiffs.some((d, i) => srcDiffs[i] !== d)) continue;
    const entry = h[parentHistory.length];
    if ((entry.created_by ?? '') !== createdBy) continue;
    if (h.length - 1 === parentHistory.length) return src.id;
    // Recreate the intermediate image: parent's history and layers plus this entry (and its layer, if any).
    const layersBefore = h.slice(0, parentHistory.length).filter((e) => !e.empty_layer).length;
    const diffIds = [...parentDiffs];
    const srcRecord = deps.images.record(src.id);
    const layers: LayerDescriptor[] = parent ? [...deps.images.record(parent.id).layers] : [];
    if (!entry.empty_layer) {
      diffIds.push(srcDiffs[layersBefore]);
      layers.push(srcRecord.layers[layersBefore]);
    }
    const config: ImageConfig = {
      architecture: src.config.architecture,
      config: runConfigJson(cfg) as any,
      created: entry.created,
      docker_version: deps.dockerVersion,
      history: [...parentHistory, entry],
      os: src.config.os,
      rootfs: { type: 'layers', diff_ids: diffIds },
    };
    const img = await deps.images.create(sortedConfig(config), { parent: parent?.id, layers });
    return img.id;
  }
  return undefined;
}
