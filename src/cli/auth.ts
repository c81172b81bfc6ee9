// Registry credentials: `berth login` stores them in ~/.config/berth/config.json (docker's config.json shape),
// and docker's own ~/.docker/config.json auths are read too, so a user who logged in with docker is logged in.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { AuthConfig } from '../client';
import { splitReference } from './format';

export const DOCKER_HUB = 'https://index.docker.io/v1/';

interface ConfigFile {
  auths?: Record<string, { auth?: string; identitytoken?: string; username?: string; password?: string }>;
  [key: string]: unknown;
}

export function berthConfigPath(): string {
  const base =
    process.env.BERTH_CONFIG || path.join(process.env.XDG_CONFIG_HOME || path.join(os.homedir(), '.config'), 'berth');
  return path.join(base, 'config.json');
}

function dockerConfigPath(): string {
  return path.join(process.env.DOCKER_CONFIG || path.join(os.homedir(), '.docker'), 'config.json');
}

function readConfig(file: string): ConfigFile {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as ConfigFile;
  } catch {
    return {};
  }
}

/** The registry a reference lives in, as the key docker's config.json uses ("https://index.docker.io/v1/" for Hub). */
export function registryOf(ref: string): string {
  const { repo } = splitReference(ref);
  const first = repo.split('/')[0];
  const hasDomain = repo.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  if (!hasDomain || first === 'docker.io' || first === 'index.docker.io' || first === 'registry-1.docker.io')
    return DOCKER_HUB;
  return first;
}

/** Normalises what the user typed for `login SERVER` into the config key. */
export function serverKey(server?: string): string {
  if (!server) return DOCKER_HUB;
  const host = server.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
  if (['docker.io', 'index.docker.io', 'registry-1.docker.io'].includes(host)) return DOCKER_HUB;
  return host;
}

function matchEntry(auths: ConfigFile['auths'], key: string) {
  if (!auths) return undefined;
  if (auths[key]) return auths[key];
  for (const [k, v] of Object.entries(auths)) if (serverKey(k) === key) return v;
  return undefined;
}

/** Credentials for a registry key: Berth's config first, then docker's. */
export function lookupAuth(key: string): AuthConfig | undefined {
  for (const file of [berthConfigPath(), dockerConfigPath()]) {
    const e = matchEntry(readConfig(file).auths, key);
    if (!e) continue;
    let username = e.username;
    let password = e.password;
    if (e.auth) {
      const decoded = Buffer.from(e.auth, 'base64').toString('utf8');
      const i = decoded.indexOf(':');
      username = decoded.slice(0, i);
      password = decoded.slice(i + 1);
    }
    return { username, password, serveraddress: key, identitytoken: e.identitytoken };
  }
  return undefined;
}

export function authForImage(ref: string): AuthConfig | undefined {
  return lookupAuth(registryOf(ref));
}

export function storeAuth(key: string, username: string, password: string, identityToken?: string): string {
  const file = berthConfigPath();
  const cfg = readConfig(file);
  cfg.auths ??= {};
  cfg.auths[key] = identityToken
    ? { auth: Buffer.from(`${username}:`).toString('base64'), identitytoken: identityToken }
    : { auth: Buffer.from(`${username}:${password}`).toString('base64') };
  writeConfig(file, cfg);
  return file;
}

/** Removes stored credentials; false when there were none in Berth's config. */
export function removeAuth(key: string): boolean {
  const file = berthConfigPath();
  const cfg = readConfig(file);
  if (!cfg.auths) return false;
  const found = Object.keys(cfg.auths).filter((k) => serverKey(k) === key);
  if (!found.length) return false;
  for (const k of found) delete cfg.auths[k];
  writeConfig(file, cfg);
  return true;
}

function writeConfig(file: string, cfg: ConfigFile): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(cfg, null, '\t') + '\n', { mode: 0o600 });
  fs.renameSync(tmp, file);
}
