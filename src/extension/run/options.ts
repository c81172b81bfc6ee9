// What the Run quick picks collect, turned into the engine's create body — pure, so it is unit-tested. The text
// formats are docker run's: ports `8080:80`, `127.0.0.1:8080:80/udp`, `80`; env `A=1 B="two words"`; volumes
// `name:/data`, `/host:/c:ro`, `C:\Users\me\p:/src`.
import type { ContainerCreateConfig } from '../../client/types';
import { splitWindowsBind } from '../../common/host/windows-paths';

export interface RunAnswers {
  image: string;
  name?: string;
  /** Space- or comma-separated published ports. */
  ports?: string;
  env?: string;
  volumes?: string;
  /** The command, shell-split; empty keeps the image's. */
  command?: string;
  interactive: boolean;
}

export class RunOptionError extends Error {}

/**
 * Splits like a POSIX shell for words, quotes and backslash escapes (no expansions). `windowsPaths`: a backslash
 * escapes only white space (nothing inside quotes), so `C:\Users\me` and `\\wsl$\…` keep theirs (as cmd takes them).
 */
export function shellSplit(s: string, windowsPaths = false): string[] {
  const out: string[] = [];
  let cur = '';
  let quote: '"' | "'" | undefined;
  let has = false;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    if (quote) {
      if (ch === quote) quote = undefined;
      else if (ch === '\\' && quote === '"' && !windowsPaths && (s[i + 1] === '"' || s[i + 1] === '\\')) cur += s[++i];
      else cur += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      has = true;
    } else if (ch === '\\' && i + 1 < s.length && (!windowsPaths || /\s/.test(s[i + 1]))) {
      cur += s[++i];
      has = true;
    } else if (/\s/.test(ch)) {
      if (has || cur) out.push(cur);
      cur = '';
      has = false;
    } else {
      cur += ch;
      has = true;
    }
  }
  if (quote) throw new RunOptionError(`unterminated ${quote} quote in "${s}"`);
  if (has || cur) out.push(cur);
  return out;
}

function list(s: string | undefined, windowsPaths = false): string[] {
  return s ? shellSplit(s.replace(/,\s*/g, ' '), windowsPaths) : [];
}

export function parsePorts(spec: string | undefined): {
  exposed: Record<string, object>;
  bindings: Record<string, { HostIp?: string; HostPort?: string }[]>;
} {
  const exposed: Record<string, object> = {};
  const bindings: Record<string, { HostIp?: string; HostPort?: string }[]> = {};
  for (const p of list(spec)) {
    const m = /^(?:(\[[0-9a-fA-F:.]+\]|\d+\.\d+\.\d+\.\d+):)?(?:(\d*):)?(\d+)(?:\/(tcp|udp|sctp))?$/.exec(p);
    if (!m) throw new RunOptionError(`invalid port "${p}": use 8080:80, 127.0.0.1:8080:80/udp or 80`);
    const [, ip, hostPort, containerPort, proto = 'tcp'] = m;
    for (const n of [hostPort, containerPort])
      if (n && (Number(n) < 1 || Number(n) > 65535))
        throw new RunOptionError(`invalid port "${p}": ${n} is out of range`);
    const key = `${containerPort}/${proto}`;
    exposed[key] = {};
    (bindings[key] ??= []).push({ HostIp: ip ? ip.replace(/^\[|\]$/g, '') : '', HostPort: hostPort ?? '' });
  }
  return { exposed, bindings };
}

export function parseEnv(spec: string | undefined): string[] {
  return list(spec).map((e) => {
    if (!/^[^=\s]+=/.test(e) && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(e))
      throw new RunOptionError(`invalid environment variable "${e}": use NAME=value`);
    return e;
  });
}

/** `name:/path`, `/host:/path[:mode]`, and host folders written the Windows way (`C:\src:/src`: the engine in the
 * WSL VM takes them). */
export function parseVolumes(spec: string | undefined): string[] {
  return list(spec, true).map((v) => {
    const windows = splitWindowsBind(v);
    const parts = windows ? [windows.source, ...windows.rest.slice(1).split(':')] : v.split(':');
    if (parts.length < 2 || parts.length > 3 || !parts[0] || !parts[1].startsWith('/'))
      throw new RunOptionError(`invalid volume "${v}": use name:/path or /host/path:/path[:ro]`);
    if (parts[2] && !/^(ro|rw|z|Z)(,(ro|rw|z|Z))*$/.test(parts[2]))
      throw new RunOptionError(`invalid volume mode "${parts[2]}" in "${v}"`);
    return v;
  });
}

export function validName(name: string | undefined): string | undefined {
  if (!name) return undefined;
  if (!/^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/.test(name))
    throw new RunOptionError(`invalid container name "${name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  return name.replace(/^\//, '');
}

export function buildRunConfig(a: RunAnswers): { name?: string; config: ContainerCreateConfig } {
  if (!a.image.trim()) throw new RunOptionError('an image is required');
  const { exposed, bindings } = parsePorts(a.ports);
  const env = parseEnv(a.env);
  const binds = parseVolumes(a.volumes);
  const cmd = a.command?.trim() ? shellSplit(a.command) : undefined;
  const config: ContainerCreateConfig = {
    Image: a.image.trim(),
    Tty: a.interactive,
    OpenStdin: a.interactive,
    StdinOnce: a.interactive,
    AttachStdin: a.interactive,
    AttachStdout: a.interactive,
    AttachStderr: a.interactive,
    HostConfig: { PortBindings: bindings, Binds: binds.length ? binds : null },
  };
  if (env.length) config.Env = env;
  if (cmd) config.Cmd = cmd;
  if (Object.keys(exposed).length) config.ExposedPorts = exposed;
  return { name: validName(a.name?.trim()), config };
}

/** `busybox` → fromImage busybox, tag latest; `reg:5000/a/b:1` → reg:5000/a/b, 1; digests keep their @. */
export function pullArgs(ref: string): { fromImage: string; tag: string | undefined } {
  const r = ref.trim();
  if (r.includes('@')) return { fromImage: r, tag: undefined };
  const slash = r.lastIndexOf('/');
  const colon = r.lastIndexOf(':');
  if (colon > slash) return { fromImage: r.slice(0, colon), tag: r.slice(colon + 1) };
  return { fromImage: r, tag: 'latest' };
}
