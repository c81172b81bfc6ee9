import * as vscode from 'vscode';
import { command } from '../command';

/** docker network create: name, optional subnet (and gateway), internal or not; bridge driver. */
export default command('berth.network.create', async (berth) => {
  const name = await vscode.window.showInputBox({
    title: 'Create a network (1/3)',
    prompt: 'Network name',
    ignoreFocusOut: true,
    validateInput: (v) =>
      /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(v.trim()) ? undefined : 'letters, digits, "_", "." and "-", not first',
  });
  if (!name) return;
  const subnet = await vscode.window.showInputBox({
    title: 'Create a network (2/3)',
    prompt: 'Subnet in CIDR notation (empty: the engine picks one)',
    placeHolder: '172.30.0.0/24',
    ignoreFocusOut: true,
    validateInput: (v) =>
      !v.trim() || /^[0-9a-fA-F.:]+\/\d{1,3}$/.test(v.trim()) ? undefined : 'a subnet such as 172.30.0.0/24',
  });
  if (subnet === undefined) return;
  const internal = await vscode.window.showQuickPick(
    [
      { label: 'Routed', description: 'containers reach the outside (default)', internal: false },
      { label: 'Internal', description: 'no route out of the network', internal: true },
    ],
    { title: 'Create a network (3/3)', placeHolder: 'Internal network?', ignoreFocusOut: true },
  );
  if (!internal) return;
  const res = await berth.client().createNetwork({
    Name: name.trim(),
    Driver: 'bridge',
    Internal: internal.internal,
    CheckDuplicate: true,
    ...(subnet.trim() ? { IPAM: { Driver: 'default', Config: [{ Subnet: subnet.trim() }] } } : {}),
  });
  if (res.Warning) void vscode.window.showWarningMessage(`Berth: ${res.Warning}`);
  vscode.window.setStatusBarMessage(`Berth: created network ${name.trim()}`, 4000);
  await berth.networks.refresh();
});
