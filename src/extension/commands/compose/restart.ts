import { command } from '../command';
import { eachContainer, pickProject } from './project';

export default command('berth.compose.restart', async (berth, item) => {
  const project = await pickProject(berth, item);
  if (!project) return;
  await eachContainer(
    berth,
    project,
    'restart',
    () => true,
    (c) => berth.client().restartContainer(c.Id),
  );
});
