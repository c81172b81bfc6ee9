// A volume's files through the same archive API: a helper container (never started, labelled berth.helper so no
// view shows it as the user's) mounts the volume at /volume; a stopped container's archive reaches its mounts.
// Any local image serves (nothing of it runs). Removed when the window closes or the volume is removed.
import type { EngineClient } from '../../client';
import { HELPER_LABEL } from '../../views/model';

export const VOLUME_MOUNT = '/volume';

export class VolumeHelpers {
  private readonly byVolume = new Map<string, Promise<string>>();

  constructor(private readonly client: () => EngineClient) {}

  /** The helper container of a volume (found again after a reload by its label, else made). */
  containerFor(volume: string): Promise<string> {
    let p = this.byVolume.get(volume);
    if (!p) {
      p = this.make(volume);
      this.byVolume.set(volume, p);
      p.catch(() => this.byVolume.delete(volume));
    }
    return p;
  }

  private async make(volume: string): Promise<string> {
    const client = this.client();
    await client.inspectVolume(volume);
    const found = await client.listContainers({ all: true, filters: { label: [`${HELPER_LABEL}=volume:${volume}`] } });
    if (found.length) return found[0].Id;
    const images = await client.listImages();
    const image = images.find((i) => i.RepoTags?.some((t) => t !== '<none>:<none>')) ?? images[0];
    if (!image)
      throw new Error(
        `browsing volume ${volume} needs an image on the engine (a stopped helper container mounts it): pull any image first`,
      );
    const { Id } = await client.createContainer({
      Image: image.Id,
      Entrypoint: ['/berth-volume-files'],
      Cmd: [],
      Labels: { [HELPER_LABEL]: `volume:${volume}` },
      HostConfig: { Binds: [`${volume}:${VOLUME_MOUNT}`] },
      NetworkDisabled: true,
    } as Parameters<EngineClient['createContainer']>[0]);
    return Id;
  }

  /** Removes a volume's helpers (before the volume is removed: they hold it in use), or all this window used. */
  async remove(volume?: string): Promise<void> {
    const client = this.client();
    let ids: string[];
    if (volume) {
      const list = await client
        .listContainers({ all: true, filters: { label: [`${HELPER_LABEL}=volume:${volume}`] } })
        .catch(() => []);
      ids = list.map((c) => c.Id);
      this.byVolume.delete(volume);
    } else {
      ids = (await Promise.all([...this.byVolume.values()].map((p) => p.catch(() => '')))).filter(Boolean);
      this.byVolume.clear();
    }
    await Promise.all(ids.map((id) => client.removeContainer(id, { force: true }).catch(() => undefined)));
  }
}
