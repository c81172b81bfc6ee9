// `docker system df` (GET /system/df). Images come with their shared sizes (layers used by several images) and
// container counts, containers with their writable-layer sizes; volumes are counted like Docker: local volumes
// without mount options (the others hold no local data), each with UsageData {Size, RefCount}. The build cache is
// made of images (the classic builder's steps): they are counted with the images; its prune is in ./build.ts.
import type { EngineServices } from '../services';
import { invalidParameter } from '../../errdefs';
import type { Router } from '../router';
import { renderListItem } from './containers';
import { renderVolume } from './volumes';

const DF_TYPES = ['container', 'image', 'volume', 'build-cache'];

export function registerDiskUsageRoutes(router: Router, s: EngineServices): void {
  router.get('/system/df', async (ctx) => {
    const types = ctx.query.getAll('type');
    for (const t of types) if (!DF_TYPES.includes(t)) throw invalidParameter(`unknown object type: ${t}`);
    const want = (t: string) => types.length === 0 || types.includes(t);
    const out: Record<string, unknown> = {
      LayersSize: 0,
      Images: [],
      Containers: [],
      Volumes: [],
      BuildCache: [],
      BuilderSize: 0,
    };
    if (want('image')) {
      const images = await s.images.list();
      // A layer shared by several images counts once in LayersSize and as SharedSize in each of them.
      const layerSize = new Map<string, number>();
      const users = new Map<string, number>();
      for (const img of images) {
        for (const c of img.chainIds) {
          users.set(c, (users.get(c) ?? 0) + 1);
          if (!layerSize.has(c)) {
            let size = 0;
            try {
              size = s.images.layerSize(c);
            } catch {
              /* missing snapshot: counts nothing */
            }
            layerSize.set(c, size);
          }
        }
      }
      const containers = s.containers.list();
      out.LayersSize = [...layerSize.values()].reduce((a, b) => a + b, 0);
      out.Images = images.map((img) => ({
        Containers: containers.filter((c) => c.imageId === img.id).length,
        Created: Math.floor(Date.parse(img.created) / 1000),
        Id: img.id,
        Labels: img.config.config?.Labels ?? null,
        ParentId: '',
        RepoDigests: img.repoDigests,
        RepoTags: img.repoTags,
        SharedSize: img.chainIds
          .filter((c) => (users.get(c) ?? 0) > 1)
          .reduce((a, c) => a + (layerSize.get(c) ?? 0), 0),
        Size: img.size,
      }));
    }
    if (want('container')) {
      out.Containers = s.containers.list().map((c) => renderListItem(s, c, true));
    }
    if (want('volume')) {
      const vols = s.volumes.list().filter((v) => Object.keys(v.options).length === 0);
      out.Volumes = await Promise.all(
        vols.map(async (v) => renderVolume(v, { size: await s.volumes.size(v.name).catch(() => -1) })),
      );
    }
    ctx.send(200, out);
  });
}
