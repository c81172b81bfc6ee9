import * as vscode from 'vscode';
import { command } from '../command';
import { eachContainer, pickProject, projectContainers } from './project';

export default command('berth.compose.remove', async (berth, item) => {
  const project = await pickProject(berth, item);
  if (!project) return;
  const list = await projectContainers(berth, project);
  const running = list.filter((c) => c.State === 'running' || c.State === 'paused').length;
  const answer = await vscode.window.showWarningMessage(
    `Remove the ${list.length} containers of Compose project ${project}?${running ? ` ${running} running will be stopped.` : ''}`,
    { modal: true, detail: 'Volumes and networks stay (as docker compose rm).' },
    'Remove',
  );
  if (answer !== 'Remove') return;
  await eachContainer(
    berth,
    project,
    'remove',
    () => true,
    (c) => berth.client().removeContainer(c.Id, { force: true }),
  );
});
