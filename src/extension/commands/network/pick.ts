// Resolving the network(s) a network command applies to: the clicked rows, or a quick pick from the palette.
import * as vscode from 'vscode';
import type { Berth } from '../../berth';
import type { TreeRecord } from '../../../views/model';
import { selected } from '../command';

export interface NetworkTarget {
  id: string;
  name: string;
}

const BUILTIN = new Set(['bridge', 'host', 'none']);

export async function pickNetworks(
  berth: Berth,
  item: TreeRecord | undefined,
  all: TreeRecord[] | undefined,
  opts: { userOnly?: boolean; placeHolder?: string } = {},
): Promise<NetworkTarget[]> {
  const rows = selected(item, all).filter((r) => r.kind === 'network' && r.networkId);
  if (rows.length) return rows.map((r) => ({ id: r.networkId!, name: r.networkName ?? r.label }));
  const nets = (await berth.client().listNetworks()).filter((n) => !opts.userOnly || !BUILTIN.has(n.Name));
  if (!nets.length) {
    void vscode.window.showInformationMessage(`Berth: no ${opts.userOnly ? 'user-defined ' : ''}networks.`);
    return [];
  }
  const pick = await vscode.window.showQuickPick(
    nets.map((n) => ({
      label: n.Name,
      description: [n.Driver, ...(n.IPAM?.Config ?? []).map((c) => c.Subnet ?? '')].filter(Boolean).join(' · '),
      target: { id: n.Id, name: n.Name },
    })),
    { placeHolder: opts.placeHolder ?? 'Choose a network' },
  );
  return pick ? [pick.target] : [];
}
