// A rootless engine for a user without /etc/subuid and /etc/subgid lines maps only the user's own id: most images
// run, those with files of other users do not. berthd warns in its log and in docker info, but the extension starts
// that engine by itself, so nobody would read either: the extension says it once, with the command that fixes it.
import * as vscode from 'vscode';
import type { Berth } from '../berth';
import { addSubidsCommand, probeRootlessHost, type RootlessHostProbe, SUBID_COUNT } from '../../common/host/rootless';

const SHOWN = 'berth.noSubidsShown';

/** The notice for a host whose user has no sub-ids (undefined when it has them): its text and the fixing command. */
export function noSubidsNotice(probe: RootlessHostProbe): { message: string; command?: string } | undefined {
  if (probe.subuidLines && probe.subgidLines) return undefined;
  const fix = addSubidsCommand(probe);
  const command = fix && `sudo ${fix}`;
  return {
    message:
      `Berth: the rootless engine runs with a single id — ${probe.user} has no lines in /etc/subuid and ` +
      '/etc/subgid — so images with files of other users fail to run. ' +
      (command
        ? `An administrator adds them with: ${command} (then restart the engine).`
        : `No ${SUBID_COUNT} ids are free in those files for an administrator to add (see /etc/login.defs' SUB_UID_MAX).`),
    command,
  };
}

/** After the extension started the rootless engine: the no-sub-ids notice, once per user of this VS Code. */
export async function showNoSubidsOnce(berth: Berth, probe = probeRootlessHost()): Promise<void> {
  const state = berth.context.globalState;
  const notice = noSubidsNotice(probe);
  if (!notice || state.get(SHOWN)) return;
  await state.update(SHOWN, true);
  const actions = notice.command ? ['Copy Command', 'Diagnose'] : ['Diagnose'];
  const pick = await vscode.window.showWarningMessage(notice.message, ...actions);
  if (pick === 'Copy Command' && notice.command) await vscode.env.clipboard.writeText(notice.command);
  if (pick === 'Diagnose') await vscode.commands.executeCommand('berth.engine.diagnose');
}
