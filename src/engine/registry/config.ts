// Which registries are insecure and which mirrors serve docker.io, from daemon.json — as dockerd decides it.
import * as net from 'node:net';

export interface RegistryServiceConfig {
  insecureCidrs: string[];
  /** Registry host[:port] → secure? (only the ones named explicitly, plus docker.io) */
  indexConfigs: Record<string, { name: string; mirrors: string[]; secure: boolean; official: boolean }>;
  mirrors: string[];
}

export function isCidr(s: string): boolean {
  const [addr, bits] = s.split('/');
  return bits !== undefined && net.isIP(addr) !== 0 && /^\d+$/.test(bits);
}

export function registryServiceConfig(mirrors: string[], insecure: string[]): RegistryServiceConfig {
  const cidrs = ['127.0.0.0/8', ...insecure.filter(isCidr).filter((c) => c !== '127.0.0.0/8')];
  const indexConfigs: RegistryServiceConfig['indexConfigs'] = {};
  for (const name of insecure.filter((s) => !isCidr(s))) {
    const host = name.replace(/^https?:\/\//, '').replace(/\/$/, '');
    indexConfigs[host] = { name: host, mirrors: [], secure: false, official: false };
  }
  indexConfigs['docker.io'] = { name: 'docker.io', mirrors, secure: true, official: true };
  return { insecureCidrs: cidrs, indexConfigs, mirrors };
}
