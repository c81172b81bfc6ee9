// The registries the user logged in to: addresses (and user names) in global state, passwords and tokens only in
// VS Code's SecretStorage (the OS keychain where there is one) — never in settings or files in clear.
import type * as vscode from 'vscode';
import type { AuthConfig } from '../../client/types';
import { normalizeAddress, registryOfReference } from './api';

export interface RegistryEntry {
  address: string;
  username?: string;
}

const LIST_KEY = 'berth.registries';
const secretKey = (address: string) => `berth.registry.auth:${address}`;

export class RegistryStore {
  constructor(
    private readonly state: vscode.Memento,
    private readonly secrets: vscode.SecretStorage,
  ) {}

  list(): RegistryEntry[] {
    return this.state.get<RegistryEntry[]>(LIST_KEY, []);
  }

  async add(address: string, auth?: AuthConfig): Promise<RegistryEntry> {
    const entry: RegistryEntry = { address: normalizeAddress(address), username: auth?.username || undefined };
    await this.state.update(LIST_KEY, [...this.list().filter((r) => r.address !== entry.address), entry]);
    if (auth?.username) await this.secrets.store(secretKey(entry.address), JSON.stringify(auth));
    else await this.secrets.delete(secretKey(entry.address));
    return entry;
  }

  async remove(address: string): Promise<void> {
    const a = normalizeAddress(address);
    await this.state.update(
      LIST_KEY,
      this.list().filter((r) => r.address !== a),
    );
    await this.secrets.delete(secretKey(a));
  }

  /** The stored credentials of a registry (what goes into X-Registry-Auth), if any. */
  async auth(address: string): Promise<AuthConfig | undefined> {
    const text = await this.secrets.get(secretKey(normalizeAddress(address)));
    return text ? (JSON.parse(text) as AuthConfig) : undefined;
  }

  /** Credentials for pushing or pulling an image reference (by the registry it names). */
  authFor(ref: string): Promise<AuthConfig | undefined> {
    return this.auth(registryOfReference(ref));
  }
}
