import { command, pickContainers } from '../command';

export default command('berth.container.inspect', async (berth, item) => {
  const [target] = await pickContainers(berth, item, undefined, undefined, 'Choose a container to inspect');
  if (target) await berth.documents.inspect('container', target.id, target.name);
});
