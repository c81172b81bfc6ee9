// HostConfig.SecurityOpt as dockerd reads it (moby daemon/daemon_unix.go parseSecurityOpt): "no-new-privileges",
// "writable-cgroups", "disable", and key=value (or the old key:value) pairs for label, apparmor, seccomp, no-new-privileges,
// systempaths and writable-cgroups. The strings stay in the record as given (inspect shows them); this is their
// meaning for the spec. `seccomp=` holds "unconfined", "builtin" or a profile's JSON text (the docker CLI reads
// the file and sends its content).
import * as fs from 'node:fs';
import { invalidParameter } from '../errdefs';
import { decodeSeccompProfile } from './seccomp';

export interface SecurityOptions {
  /** '' (the engine's default profile), 'unconfined', 'builtin', or a profile's JSON. */
  seccomp: string;
  noNewPrivileges: boolean;
  /** systempaths=unconfined: no masked or read-only /proc and /sys paths. */
  unconfinedSystemPaths: boolean;
  /** writable-cgroups=true: /sys/fs/cgroup mounted read-write. */
  writableCgroups: boolean;
}

/** Go's strconv.ParseBool. */
function parseBool(v: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false;
  return undefined;
}

/** Refuses what dockerd refuses at create, with its text; a seccomp profile must decode too. */
export function parseSecurityOpt(securityOpt: string[] = []): SecurityOptions {
  const out: SecurityOptions = {
    seccomp: '',
    noNewPrivileges: false,
    unconfinedSystemPaths: false,
    writableCgroups: false,
  };
  for (const opt of securityOpt) {
    if (opt === 'no-new-privileges') {
      out.noNewPrivileges = true;
      continue;
    }
    if (opt === 'writable-cgroups') {
      out.writableCgroups = true;
      continue;
    }
    if (opt === 'disable') continue; // label=disable's old spelling (selinux.labelOptions)
    const sep = opt.includes('=') ? '=' : opt.includes(':') ? ':' : '';
    const i = sep ? opt.indexOf(sep) : -1;
    if (i < 0) throw invalidParameter(`invalid --security-opt 1: ${JSON.stringify(opt)}`);
    const key = opt.slice(0, i);
    const value = opt.slice(i + 1);
    const bad = () => invalidParameter(`invalid --security-opt 2: ${JSON.stringify(opt)}`);
    const throwBad = (): never => {
      throw bad();
    };
    switch (key) {
      case 'label': // selinux.labelOptions judges these
      case 'apparmor': // no AppArmor here: dockerd on a host without it accepts and ignores the profile name
        break;
      case 'seccomp':
        out.seccomp = value;
        if (value !== 'unconfined' && value !== 'builtin' && value !== '') decodeSeccompProfile(value);
        break;
      case 'no-new-privileges':
        out.noNewPrivileges = parseBool(value) ?? throwBad();
        break;
      case 'systempaths':
        if (value !== 'unconfined') throw bad();
        out.unconfinedSystemPaths = true;
        break;
      case 'writable-cgroups':
        out.writableCgroups = parseBool(value) ?? throwBad();
        break;
      default:
        throw bad();
    }
  }
  return out;
}

/**
 * daemon.json's seccomp-profile and no-new-privileges as SecurityOpt strings that go before each container's own
 * (a container's later option wins, as in moby, where the daemon's values are the defaults parseSecurityOpt
 * changes). The profile file is read once, at start-up, as dockerd does; one that does not decode stops the start.
 */
export function daemonSecurityOpt(cfg: { seccompProfile?: string; noNewPrivileges?: boolean }): string[] {
  const out: string[] = [];
  const profile = cfg.seccompProfile;
  if (profile === 'unconfined' || profile === 'builtin') out.push(`seccomp=${profile}`);
  else if (profile) {
    let text: string;
    try {
      text = fs.readFileSync(profile, 'utf8');
    } catch (err: any) {
      throw invalidParameter(`opening seccomp profile (${profile}) failed: ${err.message}`);
    }
    decodeSeccompProfile(text);
    out.push(`seccomp=${text}`);
  }
  if (cfg.noNewPrivileges) out.push('no-new-privileges');
  return out;
}
