// The classic builder's "run config" (the container.Config an image carries, in the image config's own
// PascalCase) and the text it derives from it: the `#(nop)` commands each step records in history and compares
// for the cache, formatted exactly as Go's fmt does (`%q` of a string slice, of a HealthConfig…), because those
// strings are what `docker history` shows and what a cache hit must match.

import { formatGoDuration as goDuration } from '../../common/docker';
import type { ImageConfig } from '../images';

export { formatGoDuration as goDuration, parseGoDuration } from '../../common/docker';

export interface HealthConfig {
  Test?: string[];
  /** Nanoseconds. */
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  Retries?: number;
}

export interface RunConfig {
  Hostname: string;
  Domainname: string;
  User: string;
  AttachStdin: boolean;
  AttachStdout: boolean;
  AttachStderr: boolean;
  ExposedPorts?: Record<string, object>;
  Tty: boolean;
  OpenStdin: boolean;
  StdinOnce: boolean;
  Env: string[] | null;
  Cmd: string[] | null;
  Healthcheck?: HealthConfig;
  ArgsEscaped?: boolean;
  Image: string;
  Volumes: Record<string, object> | null;
  WorkingDir: string;
  Entrypoint: string[] | null;
  OnBuild: string[] | null;
  Labels: Record<string, string> | null;
  StopSignal?: string;
  Shell?: string[];
}

export const DEFAULT_SHELL = ['/bin/sh', '-c'];
export const DEFAULT_PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** A run config from an image's `config` (any shape), with Go's field order and nulls. */
export function runConfigOf(c: Record<string, any> | undefined): RunConfig {
  const rc: RunConfig = {
    Hostname: c?.Hostname ?? '',
    Domainname: c?.Domainname ?? '',
    User: c?.User ?? '',
    AttachStdin: !!c?.AttachStdin,
    AttachStdout: !!c?.AttachStdout,
    AttachStderr: !!c?.AttachStderr,
    Tty: !!c?.Tty,
    OpenStdin: !!c?.OpenStdin,
    StdinOnce: !!c?.StdinOnce,
    Env: c?.Env ? [...c.Env] : null,
    Cmd: c?.Cmd ? [...c.Cmd] : null,
    Image: c?.Image ?? '',
    Volumes: c?.Volumes ? { ...c.Volumes } : null,
    WorkingDir: c?.WorkingDir ?? '',
    Entrypoint: c?.Entrypoint ? [...c.Entrypoint] : null,
    OnBuild: c?.OnBuild ? [...c.OnBuild] : null,
    Labels: c?.Labels ? { ...c.Labels } : null,
  };
  if (c?.ExposedPorts && Object.keys(c.ExposedPorts).length) rc.ExposedPorts = { ...c.ExposedPorts };
  if (c?.Healthcheck)
    rc.Healthcheck = { ...c.Healthcheck, Test: c.Healthcheck.Test ? [...c.Healthcheck.Test] : undefined };
  if (c?.ArgsEscaped) rc.ArgsEscaped = true;
  if (c?.StopSignal) rc.StopSignal = c.StopSignal;
  if (c?.Shell?.length) rc.Shell = [...c.Shell];
  return rc;
}

/** A deep copy, optionally changed. */
export function copyRunConfig(rc: RunConfig, change?: (c: RunConfig) => void): RunConfig {
  const c = runConfigOf(rc as any);
  if (change) change(c);
  return c;
}

/** Go's JSON field order (container.Config), omitempty where Go omits. */
export function runConfigJson(rc: RunConfig): Record<string, unknown> {
  const out: Record<string, unknown> = {
    Hostname: rc.Hostname,
    Domainname: rc.Domainname,
    User: rc.User,
    AttachStdin: rc.AttachStdin,
    AttachStdout: rc.AttachStdout,
    AttachStderr: rc.AttachStderr,
  };
  if (rc.ExposedPorts && Object.keys(rc.ExposedPorts).length) out.ExposedPorts = sortKeys(rc.ExposedPorts);
  Object.assign(out, { Tty: rc.Tty, OpenStdin: rc.OpenStdin, StdinOnce: rc.StdinOnce, Env: rc.Env, Cmd: rc.Cmd });
  if (rc.Healthcheck) out.Healthcheck = healthJson(rc.Healthcheck);
  if (rc.ArgsEscaped) out.ArgsEscaped = true;
  Object.assign(out, {
    Image: rc.Image,
    Volumes: rc.Volumes && sortKeys(rc.Volumes),
    WorkingDir: rc.WorkingDir,
    Entrypoint: rc.Entrypoint,
    OnBuild: rc.OnBuild,
    Labels: rc.Labels && sortKeys(rc.Labels),
  });
  if (rc.StopSignal) out.StopSignal = rc.StopSignal;
  if (rc.Shell?.length) out.Shell = rc.Shell;
  return out;
}

function healthJson(h: HealthConfig): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (h.Test?.length) out.Test = h.Test;
  if (h.Interval) out.Interval = h.Interval;
  if (h.Timeout) out.Timeout = h.Timeout;
  if (h.StartPeriod) out.StartPeriod = h.StartPeriod;
  if (h.Retries) out.Retries = h.Retries;
  return out;
}

function sortKeys<T>(o: Record<string, T>): Record<string, T> {
  const out: Record<string, T> = {};
  for (const k of Object.keys(o).sort()) out[k] = o[k];
  return out;
}

/** The shell for shell-form commands: SHELL's, else /bin/sh -c. */
export function shellOf(rc: RunConfig): string[] {
  return rc.Shell?.length ? [...rc.Shell] : [...DEFAULT_SHELL];
}

/** The two-argument `#(nop) ` comment most instructions record. */
export function withCmdComment(rc: RunConfig, comment: string): RunConfig {
  return copyRunConfig(rc, (c) => {
    c.Cmd = [...shellOf(rc), '#(nop) ', comment];
  });
}

/** The one-argument form WORKDIR, COPY and ADD record (kept by Docker for compatibility). */
export function withCmdCommentString(rc: RunConfig, comment: string): RunConfig {
  return copyRunConfig(rc, (c) => {
    c.Cmd = [...shellOf(rc), `#(nop) ${comment}`];
  });
}

/** image/cache's compare: whether a cached step's container config matches this step's. */
export function sameForCache(a: RunConfig | undefined, b: RunConfig): boolean {
  if (!a || a.OpenStdin || b.OpenStdin) return false;
  if (a.AttachStdout !== b.AttachStdout || a.AttachStderr !== b.AttachStderr || a.User !== b.User || a.Tty !== b.Tty)
    return false;
  const len = (x: unknown[] | null | undefined) => x?.length ?? 0;
  const keys = (x: Record<string, unknown> | null | undefined) => Object.keys(x ?? {});
  if (
    len(a.Cmd) !== len(b.Cmd) ||
    len(a.Env) !== len(b.Env) ||
    keys(a.Labels).length !== keys(b.Labels).length ||
    keys(a.ExposedPorts).length !== keys(b.ExposedPorts).length ||
    len(a.Entrypoint) !== len(b.Entrypoint) ||
    keys(a.Volumes).length !== keys(b.Volumes).length
  )
    return false;
  for (let i = 0; i < len(a.Cmd); i++) if (a.Cmd![i] !== b.Cmd![i]) return false;
  for (let i = 0; i < len(a.Env); i++) if (a.Env![i] !== b.Env![i]) return false;
  for (const [k, v] of Object.entries(a.Labels ?? {})) if (b.Labels?.[k] !== v) return false;
  for (const k of keys(a.ExposedPorts)) if (!(k in (b.ExposedPorts ?? {}))) return false;
  for (let i = 0; i < len(a.Entrypoint); i++) if (a.Entrypoint![i] !== b.Entrypoint![i]) return false;
  for (const k of keys(a.Volumes)) if (!(k in (b.Volumes ?? {}))) return false;
  return true;
}

// ---------- Go's fmt ----------

/** strconv.Quote for the strings Dockerfiles hold (printable Unicode kept, controls escaped). */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (c === 7) out += '\\a';
    else if (c === 8) out += '\\b';
    else if (c === 12) out += '\\f';
    else if (c === 10) out += '\\n';
    else if (c === 13) out += '\\r';
    else if (c === 9) out += '\\t';
    else if (c === 11) out += '\\v';
    else if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else if (!/[\p{L}\p{M}\p{N}\p{P}\p{S}\p{Zs}]/u.test(ch) || (c > 0x7f && /\p{Zs}/u.test(ch)))
      out += c <= 0xffff ? `\\u${c.toString(16).padStart(4, '0')}` : `\\U${c.toString(16).padStart(8, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

/** `%q` of a []string: `["a" "b"]`. */
export function goQuoteSlice(xs: string[] | null | undefined): string {
  return `[${(xs ?? []).map(goQuote).join(' ')}]`;
}

/** `%v` of a []string: `[a b]`. */
export function goSlice(xs: string[] | null | undefined): string {
  return `[${(xs ?? []).join(' ')}]`;
}

/** strconv.QuoteRune of an int (what `%q` makes of HealthConfig.Retries). */
function goQuoteRune(n: number): string {
  if (n === 39) return "'\\''";
  const q = goQuote(String.fromCodePoint(n));
  return `'${q.slice(1, -1).replace(/\\"/g, '"')}'`;
}

/** `%q` of a *HealthConfig: `&{["CMD-SHELL" "cmd"] "5s" "0s" "0s" '\x02'}`. */
export function goQuoteHealth(h: HealthConfig): string {
  return `&{${goQuoteSlice(h.Test)} ${goQuote(goDuration(h.Interval ?? 0))} ${goQuote(goDuration(h.Timeout ?? 0))} ${goQuote(goDuration(h.StartPeriod ?? 0))} ${goQuoteRune(h.Retries ?? 0)}}`;
}

/** Image configs with their keys in Go's order (sorted, as image.MarshalJSON writes them). */
export function sortedConfig(c: ImageConfig): ImageConfig {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(c).sort()) out[k] = (c as any)[k];
  return out as ImageConfig;
}
