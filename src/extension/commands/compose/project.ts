// The Compose project a project command applies to (the clicked group row, or a quick pick of the projects the
// engine has), and its containers, fresh from the engine (label com.docker.compose.project).
import * as vscode from 'vscode';
import type { Berth } from '../../berth';
import type { ContainerSummary } from '../../../client/types';
import type { TreeRecord } from '../../../views/model';

export const PROJECT_LABEL = 'com.docker.compose.project';
export const SERVICE_LABEL = 'com.docker.compose.service';
export const NUMBER_LABEL = 'com.docker.compose.container-number';

export async function pickProject(berth: Berth, item: TreeRecord | undefined): Promise<string | undefined> {
  if (item?.composeProject) return item.composeProject;
  const list = await berth.client().listContainers({ all: true, filters: { label: [PROJECT_LABEL] } });
  const projects = [...new Set(list.map((c) => c.Labels?.[PROJECT_LABEL]).filter((p): p is string => !!p))].sort();
  if (!projects.length) {
    void vscode.window.showInformationMessage('Berth: no Compose projects on this engine.');
    return undefined;
  }
  return vscode.window.showQuickPick(projects, { placeHolder: 'Choose a Compose project' });
}

export async function projectContainers(berth: Berth, project: string): Promise<ContainerSummary[]> {
  return berth.client().listContainers({ all: true, filters: { label: [`${PROJECT_LABEL}=${project}`] } });
}

/** compose's name for a container in logs: service-number. */
export function serviceName(c: Pick<ContainerSummary, 'Labels' | 'Names' | 'Id'>): string {
  const service = c.Labels?.[SERVICE_LABEL];
  const n = c.Labels?.[NUMBER_LABEL];
  if (service) return n ? `${service}-${n}` : service;
  return (c.Names?.[0] ?? c.Id.slice(0, 12)).replace(/^\//, '');
}

/** Runs one action on each of the project's containers (all at once), reporting failures per container. */
export async function eachContainer(
  berth: Berth,
  project: string,
  verb: string,
  which: (c: ContainerSummary) => boolean,
  act: (c: ContainerSummary) => Promise<unknown>,
): Promise<void> {
  const targets = (await projectContainers(berth, project)).filter(which);
  if (!targets.length) {
    void vscode.window.showInformationMessage(`Berth: nothing to ${verb} in project ${project}.`);
    return;
  }
  let ok = 0;
  await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `${verb} ${project}` },
    () =>
      Promise.all(
        targets.map((c) =>
          act(c).then(
            () => ok++,
            (err) => berth.fail(`${verb} ${serviceName(c)}`, err),
          ),
        ),
      ),
  );
  vscode.window.setStatusBarMessage(`Berth: ${verb} ${project}: ${ok} of ${targets.length} containers`, 4000);
}
