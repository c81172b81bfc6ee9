// The engines the extension can talk to: Berth's own (this host's berthd, the VM), Docker and Podman sockets found
// on this machine, the endpoints of the docker CLI's contexts (~/.docker/contexts), and engines the user added
// (`berth.engines`: unix://, tcp:// with TLS, ssh://user@host). Free of `vscode`: inputs are passed in.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

export type EngineKind = 'berth' | 'berth-vm' | 'docker' | 'podman' | 'context' | 'custom';

export interface TlsFiles {
  ca?: string;
  cert?: string;
  key?: string;
  /** false: the server's certificate is not checked (docker's SkipTLSVerify / --tlsverify=false). */
  verify: boolean;
}

export interface EngineEntry {
  /** Stable: what the switcher marks as current. */
  id: string;
  name: string;
  kind: EngineKind;
  /** What `berth.engine.host` is set to when it is chosen ('' for Berth's own engine). */
  host: string;
  description: string;
  tls?: TlsFiles;
}

/** An engine the user added in settings (`berth.engines`). */
export interface CustomEngine {
  name: string;
  host: string;
  /** A folder with ca.pem, cert.pem and key.pem (docker's DOCKER_CERT_PATH layout). */
  certPath?: string;
  tlsVerify?: boolean;
}

export interface CatalogInput {
  custom: CustomEngine[];
  env: NodeJS.ProcessEnv;
  home: string;
  /** The VM's socket (Berth in its Linux VM). */
  vmHost: string;
  exists?: (p: string) => boolean;
}

const HOST_SCHEMES = /^(unix|tcp|ssh|https?):\/\//;

/** Why a host string cannot be an engine, or undefined when it can. */
export function validateHost(host: string): string | undefined {
  const h = host.trim();
  if (!HOST_SCHEMES.test(h) && !h.startsWith('/'))
    return 'use unix:///path/to.sock, tcp://host:port or ssh://user@host[:port][/remote/socket]';
  if (h.startsWith('tcp://') && !/^tcp:\/\/[^/:]+(:\d+)?\/?$/.test(h)) return 'tcp:// needs host:port';
  if (h.startsWith('ssh://') && !/^ssh:\/\/([^@/]+@)?[^/:]+(:\d+)?(\/.*)?$/.test(h))
    return 'ssh:// needs [user@]host[:port]';
  return undefined;
}

/** The docker CLI's context store: meta/<sha256(name)>/meta.json, TLS under tls/<sha256(name)>/docker/. */
export function readDockerContexts(dockerConfigDir: string): EngineEntry[] {
  const metaDir = path.join(dockerConfigDir, 'contexts', 'meta');
  let dirs: string[];
  try {
    dirs = fs.readdirSync(metaDir);
  } catch {
    return [];
  }
  const out: EngineEntry[] = [];
  for (const d of dirs.sort()) {
    let meta: { Name?: string; Metadata?: { Description?: string }; Endpoints?: Record<string, any> };
    try {
      meta = JSON.parse(fs.readFileSync(path.join(metaDir, d, 'meta.json'), 'utf8'));
    } catch {
      continue; // not a context (or half-written)
    }
    const docker = meta.Endpoints?.docker;
    if (!meta.Name || !docker?.Host) continue;
    const hash = crypto.createHash('sha256').update(meta.Name).digest('hex');
    const tlsDir = path.join(dockerConfigDir, 'contexts', 'tls', hash, 'docker');
    const file = (n: string) => (fs.existsSync(path.join(tlsDir, n)) ? path.join(tlsDir, n) : undefined);
    const tls: TlsFiles | undefined =
      file('ca.pem') || file('cert.pem')
        ? { ca: file('ca.pem'), cert: file('cert.pem'), key: file('key.pem'), verify: !docker.SkipTLSVerify }
        : undefined;
    out.push({
      id: `context:${meta.Name}`,
      name: meta.Name,
      kind: 'context',
      host: docker.Host,
      description: `docker context · ${docker.Host}${meta.Metadata?.Description ? ` · ${meta.Metadata.Description}` : ''}`,
      tls,
    });
  }
  return out;
}

export function listEngines(input: CatalogInput): EngineEntry[] {
  const exists = input.exists ?? fs.existsSync;
  const entries: EngineEntry[] = [
    { id: 'berth', name: 'Berth', kind: 'berth', host: '', description: "this host's berthd" },
    { id: 'berth-vm', name: 'Berth VM', kind: 'berth-vm', host: '', description: `Berth's Linux VM · ${input.vmHost}` },
  ];
  const runtime = input.env.XDG_RUNTIME_DIR;
  const sockets: [EngineKind, string, string][] = [
    ['docker', 'Docker', '/var/run/docker.sock'],
    ['docker', 'Docker (rootless)', runtime ? `${runtime}/docker.sock` : ''],
    ['podman', 'Podman', '/run/podman/podman.sock'],
    ['podman', 'Podman (rootless)', runtime ? `${runtime}/podman/podman.sock` : ''],
  ];
  for (const [kind, name, p] of sockets)
    if (p && exists(p))
      entries.push({ id: `${kind}:${p}`, name, kind, host: `unix://${p}`, description: `unix://${p}` });
  if (input.env.DOCKER_HOST && !entries.some((e) => e.host === input.env.DOCKER_HOST))
    entries.push({
      id: `env:${input.env.DOCKER_HOST}`,
      name: 'DOCKER_HOST',
      kind: 'custom',
      host: input.env.DOCKER_HOST,
      description: input.env.DOCKER_HOST,
    });
  const dockerConfig = input.env.DOCKER_CONFIG || path.join(input.home, '.docker');
  for (const c of readDockerContexts(dockerConfig)) if (!entries.some((e) => e.host === c.host)) entries.push(c);
  for (const c of input.custom) {
    if (!c?.host || validateHost(c.host)) continue;
    const tls =
      c.certPath || c.tlsVerify !== undefined
        ? {
            ca: c.certPath ? path.join(c.certPath, 'ca.pem') : undefined,
            cert: c.certPath ? path.join(c.certPath, 'cert.pem') : undefined,
            key: c.certPath ? path.join(c.certPath, 'key.pem') : undefined,
            verify: c.tlsVerify !== false,
          }
        : undefined;
    entries.push({
      id: `custom:${c.host}`,
      name: c.name || c.host,
      kind: 'custom',
      host: c.host.trim(),
      description: `${c.host}${tls ? ' · TLS' : ''}`,
      tls,
    });
  }
  return entries;
}

/** Which entry is in use, given the settings (`berth.engine.host`, and VM mode for Berth's own). */
export function currentEngine(entries: EngineEntry[], host: string, usesVm: boolean): EngineEntry | undefined {
  const h = host.trim();
  if (!h) return entries.find((e) => e.kind === (usesVm ? 'berth-vm' : 'berth'));
  return (
    entries.find((e) => e.kind === 'custom' && e.host === h) ??
    entries.find((e) => e.host === h) ?? { id: `custom:${h}`, name: h, kind: 'custom', host: h, description: h }
  );
}

/** The TLS material an engine's client needs, read from its files. */
export function readTls(
  tls: TlsFiles | undefined,
): { ca?: Buffer; cert?: Buffer; key?: Buffer; verify: boolean } | undefined {
  if (!tls) return undefined;
  const read = (p?: string) => (p && fs.existsSync(p) ? fs.readFileSync(p) : undefined);
  return { ca: read(tls.ca), cert: read(tls.cert), key: read(tls.key), verify: tls.verify };
}
