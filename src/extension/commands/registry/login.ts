import * as vscode from 'vscode';
import { command } from '../command';
import { DOCKER_HUB, normalizeAddress } from '../../registries/api';

/**
 * Log In to a Registry…: address, user name and password (or token); the engine checks them (POST /auth, as
 * docker login does) before they are kept in VS Code's SecretStorage. An empty user name adds the registry
 * anonymously (to browse an open registry).
 */
export default command('berth.registry.login', async (berth, item) => {
  const address =
    item?.registry ??
    (await vscode.window.showInputBox({
      title: 'Log in to a registry',
      prompt: 'Registry address',
      placeHolder: `localhost:5000, ghcr.io, ${DOCKER_HUB}`,
      ignoreFocusOut: true,
      validateInput: (v) => (/^\S+$/.test(v.trim()) ? undefined : 'a registry address is required (host[:port])'),
    }));
  if (!address) return;
  const serveraddress = normalizeAddress(address);
  const username = await vscode.window.showInputBox({
    title: `Log in to ${serveraddress}`,
    prompt: 'User name (empty for anonymous access)',
    value: berth.registryStore.list().find((r) => r.address === serveraddress)?.username,
    ignoreFocusOut: true,
  });
  if (username === undefined) return;
  let auth: { username: string; password: string; serveraddress: string } | undefined;
  if (username.trim()) {
    const password = await vscode.window.showInputBox({
      title: `Log in to ${serveraddress} as ${username.trim()}`,
      prompt: 'Password or access token',
      password: true,
      ignoreFocusOut: true,
    });
    if (password === undefined) return;
    auth = { username: username.trim(), password, serveraddress };
    try {
      const answer = await berth.client().checkAuth(auth);
      berth.output.appendLine(`login to ${serveraddress}: ${answer.Status}`);
    } catch (err) {
      berth.fail(`log in to ${serveraddress}`, err);
      return;
    }
  }
  await berth.registryStore.add(serveraddress, auth);
  await berth.registries.refresh();
  vscode.window.setStatusBarMessage(
    `Berth: ${auth ? `logged in to ${serveraddress}` : `added ${serveraddress}`}`,
    4000,
  );
});
