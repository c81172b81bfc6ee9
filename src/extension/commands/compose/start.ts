import { command } from '../command';
import { eachContainer, pickProject } from './project';

export default command('berth.compose.start', async (berth, item) => {
  const project = await pickProject(berth, item);
  if (!project) return;
  await eachContainer(
    berth,
    project,
    'start',
    (c) => c.State !== 'running' && c.State !== 'paused',
    (c) => berth.client().startContainer(c.Id),
  );
});
