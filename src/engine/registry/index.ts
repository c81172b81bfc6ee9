// The registry subsystem: references, endpoints (mirrors, insecure registries, certs.d) and the
// distribution client. Settings are read through a function so SIGHUP reloads take effect on the next pull.
import {
  type Credentials,
  type Endpoint,
  endpointsFor,
  login,
  openRepo,
  type RegistrySettings,
  type RepoSession,
} from './client';
import { DEFAULT_DOMAIN } from './reference';

export * from './reference';
export { type RegistryServiceConfig, registryServiceConfig } from './config';
export { EndpointError, RegistryError, MANIFEST_ACCEPT, isInsecure, parseChallenges } from './client';
export type { Credentials, Endpoint, RegistrySettings, RepoSession } from './client';

export interface RegistryService {
  /** Endpoints to try for a registry domain, in order (mirrors first for docker.io pulls). */
  endpoints(domain: string, forPush?: boolean): Endpoint[];
  open(endpoint: Endpoint, repoPath: string, creds: Credentials | undefined, actions: string[]): RepoSession;
  /** Validates credentials (`docker login`); resolves when the registry accepts them. */
  login(serverAddress: string, creds: Credentials): Promise<void>;
}

/** docker login's server address (URL, host, or empty for Docker Hub) → registry domain. */
export function loginDomain(serverAddress: string | undefined): string {
  if (!serverAddress) return DEFAULT_DOMAIN;
  let s = serverAddress.trim().replace(/^https?:\/\//, '');
  s = s.split('/')[0];
  if (s === 'index.docker.io' || s === 'registry-1.docker.io' || s === DEFAULT_DOMAIN) return DEFAULT_DOMAIN;
  return s;
}

export function createRegistryService(settings: () => RegistrySettings): RegistryService {
  return {
    endpoints: (domain, forPush = false) => endpointsFor(domain, settings(), forPush),
    open: openRepo,
    login: (serverAddress, creds) => login(endpointsFor(loginDomain(serverAddress), settings(), true), creds),
  };
}
