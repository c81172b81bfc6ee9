// What every command file exports, and the helpers they share: resolving the tree row(s) a command was invoked on,
// or asking with a quick pick when it came from the palette.
import * as vscode from 'vscode';
import type { Berth } from '../berth';
import type { TreeRecord } from '../../views/model';
import { containerName } from '../../views/model';

export interface BerthCommand {
  id: string;
  run(berth: Berth, ...args: any[]): unknown;
}

export function command(id: string, run: BerthCommand['run']): BerthCommand {
  return { id, run };
}

export interface ContainerTarget {
  id: string;
  name: string;
  state: string;
}

/** The rows a tree command applies to: the multi-selection when the clicked row is part of it. */
export function selected(item: TreeRecord | undefined, all: TreeRecord[] | undefined): TreeRecord[] {
  if (all?.length && item && all.some((r) => r.id === item.id)) return all;
  return item ? [item] : [];
}

export async function pickContainers(
  berth: Berth,
  item: TreeRecord | undefined,
  all: TreeRecord[] | undefined,
  states?: string[],
  placeHolder = 'Choose a container',
): Promise<ContainerTarget[]> {
  const rows = selected(item, all).filter((r) => r.containerId);
  if (rows.length)
    return rows.map((r) => ({
      id: r.containerId!,
      name: r.containerName ?? r.containerId!,
      state: r.contextValue.split('.')[1] ?? '',
    }));
  const list = await berth.client().listContainers({ all: true });
  const candidates = list.filter((c) => !states || states.includes(c.State));
  if (!candidates.length) {
    void vscode.window.showInformationMessage(`Berth: no ${states ? `${states.join('/')} ` : ''}containers.`);
    return [];
  }
  const pick = await vscode.window.showQuickPick(
    candidates.map((c) => ({
      label: containerName(c),
      description: `${c.Image} · ${c.Status}`,
      target: { id: c.Id, name: containerName(c), state: c.State },
    })),
    { placeHolder },
  );
  return pick ? [pick.target] : [];
}

export async function pickImages(
  berth: Berth,
  item: TreeRecord | undefined,
  all: TreeRecord[] | undefined,
  placeHolder = 'Choose an image',
): Promise<string[]> {
  const rows = selected(item, all);
  const refs = rows
    .flatMap((r) => (r.kind === 'repository' ? (r.children ?? []) : [r]))
    .map((r) => r.imageRef)
    .filter((x): x is string => !!x);
  if (refs.length) return refs;
  const images = await berth.client().listImages();
  const items = images.flatMap((i) =>
    (i.RepoTags?.length ? i.RepoTags : [i.Id]).map((ref) => ({ label: ref, description: i.Id.slice(7, 19) })),
  );
  if (!items.length) {
    void vscode.window.showInformationMessage('Berth: no images. Pull one with "Berth: Pull Image".');
    return [];
  }
  const pick = await vscode.window.showQuickPick(items, { placeHolder });
  return pick ? [pick.label] : [];
}

export async function pickVolumes(
  berth: Berth,
  item: TreeRecord | undefined,
  all: TreeRecord[] | undefined,
): Promise<string[]> {
  const names = selected(item, all)
    .map((r) => r.volumeName)
    .filter((x): x is string => !!x);
  if (names.length) return names;
  const { Volumes } = await berth.client().listVolumes();
  if (!Volumes?.length) {
    void vscode.window.showInformationMessage('Berth: no volumes.');
    return [];
  }
  const pick = await vscode.window.showQuickPick(
    Volumes.map((v) => ({ label: v.Name, description: v.Driver })),
    { placeHolder: 'Choose a volume' },
  );
  return pick ? [pick.label] : [];
}

/** Runs an action over targets, reporting failures per target without stopping at the first. */
export async function forEach<T>(
  berth: Berth,
  what: string,
  targets: T[],
  label: (t: T) => string,
  fn: (t: T) => Promise<unknown>,
): Promise<number> {
  let ok = 0;
  await Promise.all(
    targets.map(async (t) => {
      try {
        await fn(t);
        ok++;
      } catch (err) {
        berth.fail(`${what} ${label(t)}`, err);
      }
    }),
  );
  return ok;
}
