import { command } from '../command';
import { eachContainer, pickProject } from './project';

export default command('berth.compose.stop', async (berth, item) => {
  const project = await pickProject(berth, item);
  if (!project) return;
  await eachContainer(
    berth,
    project,
    'stop',
    (c) => c.State === 'running' || c.State === 'paused' || c.State === 'restarting',
    (c) => berth.client().stopContainer(c.Id),
  );
});
