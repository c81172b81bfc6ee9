import * as vscode from 'vscode';
import { formatBytes } from '../../../views/format';
import { command } from '../command';

/** docker system prune: stopped containers, unused networks, dangling images and the build cache (volumes on ask). */
export default command('berth.system.prune', async (berth) => {
  const answer = await vscode.window.showWarningMessage(
    'Remove all stopped containers, networks no container uses, dangling images and the build cache?',
    { modal: true, detail: '"Prune, Also Volumes" removes volumes no container uses as well.' },
    'Prune',
    'Prune, Also Volumes',
  );
  if (!answer) return;
  const client = berth.client();
  const containers = await client.pruneContainers();
  const networks = await client.pruneNetworks();
  const volumes = answer === 'Prune, Also Volumes' ? await client.pruneVolumes() : undefined;
  const images = await client.pruneImages({ dangling: ['true'] });
  const cache = await client.pruneBuildCache().catch(() => undefined);
  const reclaimed =
    (containers.SpaceReclaimed ?? 0) +
    (volumes?.SpaceReclaimed ?? 0) +
    (images.SpaceReclaimed ?? 0) +
    (cache?.SpaceReclaimed ?? 0);
  void vscode.window.showInformationMessage(
    `Berth: removed ${containers.ContainersDeleted?.length ?? 0} containers, ${networks.NetworksDeleted?.length ?? 0} networks, ` +
      `${volumes ? `${volumes.VolumesDeleted?.length ?? 0} volumes, ` : ''}${images.ImagesDeleted?.length ?? 0} image entries; reclaimed ${formatBytes(reclaimed)}.`,
  );
  await berth.diskUsage.refresh();
});
