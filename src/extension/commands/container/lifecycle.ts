// Shared by start/stop/restart/pause/unpause: act on the selected containers in the given states.
import * as vscode from 'vscode';
import type { Berth } from '../../berth';
import type { TreeRecord } from '../../../views/model';
import { forEach, pickContainers, type ContainerTarget } from '../command';

export async function lifecycle(
  berth: Berth,
  item: TreeRecord | undefined,
  all: TreeRecord[] | undefined,
  verb: string,
  states: string[],
  act: (id: string) => Promise<unknown>,
): Promise<void> {
  const targets = await pickContainers(berth, item, all, states, `Choose a container to ${verb}`);
  if (!targets.length) return;
  await vscode.window.withProgress({ location: { viewId: 'berth.containers' } }, () =>
    forEach<ContainerTarget>(
      berth,
      verb,
      targets,
      (t) => t.name,
      (t) => act(t.id),
    ),
  );
}
