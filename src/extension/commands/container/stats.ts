import { command, pickContainers } from '../command';
import { StatsPanel } from '../../stats/panel';

/** A live chart of the container's CPU, memory, network and block I/O (one shared stream, only while visible). */
export default command('berth.container.stats', async (berth, item) => {
  const [target] = await pickContainers(berth, item, undefined, ['running'], 'Choose a container to chart');
  if (target) StatsPanel.show(berth, target.id, target.name);
});
