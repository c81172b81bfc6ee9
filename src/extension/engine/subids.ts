// A rootless engine for a user without /etc/subuid and /etc/subgid lines maps only the user's own id: most images
// run, those with files of other users do not. berthd warns in its log and in docker info, but the extension starts
// that engine by itself, so nobody would read either: the extension says it once, with the command that fixes it.
import * as vscode from 'vscode';
import type { Berth } from '../berth';
import { probeRootlessHost, type RootlessHostProbe, rootlessRequirements } from '../../common/host/rootless';

const SHOWN = 'berth.noSubidsShown';

/** The notice for a host whose user has no sub-ids (undefined when it has them): its text and the fixing command. */
export function noSubidsNotice(probe: RootlessHostProbe): { message: string; command: string } | undefined {
  const subids = rootlessRequirements(probe).find((r) => r.name === 'sub-ids');
  if (!subids || subids.ok || !subids.fix?.note) return undefined;
  const command = `sudo ${subids.fix.note}`;
  return {
    message:
      `Berth: the rootless engine runs with a single id — ${probe.user} has no lines in /etc/subuid and ` +
      `/etc/subgid — so images with files of other users fail to run. An administrator adds them with: ${command} ` +
      '(then restart the engine).',
    command,
  };
}

/** After the extension started the rootless engine: the no-sub-ids notice, once per user of this VS Code. */
export async function showNoSubidsOnce(berth: Berth, probe = probeRootlessHost()): Promise<void> {
  const state = berth.context.globalState;
  const notice = noSubidsNotice(probe);
  if (!notice || state.get(SHOWN)) return;
  await state.update(SHOWN, true);
  const pick = await vscode.window.showWarningMessage(notice.message, 'Copy Command', 'Diagnose');
  if (pick === 'Copy Command') await vscode.env.clipboard.writeText(notice.command);
  if (pick === 'Diagnose') await vscode.commands.executeCommand('berth.engine.diagnose');
}
