import * as vscode from 'vscode';
import { command } from '../command';
import { ProjectLogsTerminal } from '../../terminals/projectLogs';
import { pickProject, PROJECT_LABEL, projectContainers, serviceName } from './project';

/** One terminal with every container of the project, each line prefixed with its service, as docker compose logs -f. */
export default command('berth.compose.logs', async (berth, item) => {
  const project = await pickProject(berth, item);
  if (!project) return;
  const containers = await projectContainers(berth, project);
  const pty = new ProjectLogsTerminal(
    () => berth.client(),
    project,
    containers.map((c) => ({ id: c.Id, name: serviceName(c) })),
    {
      tail: berth.settings.logsTail,
      timestamps: berth.settings.logsTimestamps,
      onEvent: (l) => berth.events.onEvent(l),
      // A container of the project created later (compose up --scale) joins the terminal.
      joins: (e) =>
        e.Type === 'container' && e.Action === 'create' && e.Actor?.Attributes?.[PROJECT_LABEL] === project
          ? serviceName({ Id: e.Actor.ID, Names: [e.Actor.Attributes.name ?? ''], Labels: e.Actor.Attributes })
          : undefined,
    },
  );
  const terminal = vscode.window.createTerminal({
    name: `${project} (logs)`,
    pty,
    iconPath: new vscode.ThemeIcon('layers'),
  });
  terminal.show();
});
