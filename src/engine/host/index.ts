// The host the engine runs on: facts it reports in /info and /version and checks at start (runc).
import * as fs from 'node:fs';
import * as os from 'node:os';
import { execFileSync } from 'node:child_process';

export function cgroupVersion(): '1' | '2' {
  return fs.existsSync('/sys/fs/cgroup/cgroup.controllers') ? '2' : '1';
}

export function operatingSystem(): { name: string; version: string } {
  try {
    const text = fs.readFileSync('/etc/os-release', 'utf8');
    const get = (k: string) => new RegExp(`^${k}="?([^"\\n]*)"?`, 'm').exec(text)?.[1] ?? '';
    return { name: get('PRETTY_NAME') || 'Linux', version: get('VERSION_ID') };
  } catch {
    return { name: 'Linux', version: '' };
  }
}

let runcCache: { version: string; commit: string; path: string } | null | undefined;

/** runc's version, or undefined when it is not installed. */
export function runcInfo(): { version: string; commit: string; path: string } | undefined {
  if (runcCache !== undefined) return runcCache ?? undefined;
  const candidates = [process.env.BERTH_RUNC, 'runc', '/usr/sbin/runc', '/usr/bin/runc', '/usr/local/sbin/runc'].filter(
    Boolean,
  ) as string[];
  for (const bin of candidates) {
    try {
      const out = execFileSync(bin, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      const version = /runc version (\S+)/.exec(out)?.[1] ?? 'unknown';
      const commit = /commit: (\S+)/.exec(out)?.[1] ?? '';
      const path = bin.includes('/')
        ? bin
        : execFileSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' }).trim();
      runcCache = { version, commit, path };
      return runcCache;
    } catch {
      /* try the next */
    }
  }
  runcCache = null;
  return undefined;
}

export const RUNC_INSTALL_HINT =
  'runc was not found. Install it with: apt-get install runc (Debian/Ubuntu), dnf install runc (Fedora/RHEL 8+), or yum install runc (CentOS 7)';

export function hostFacts() {
  return {
    kernelVersion: os.release(),
    ncpu: os.cpus().length,
    memTotal: os.totalmem(),
    hostname: os.hostname(),
    os: operatingSystem(),
    arch: os.machine?.() ?? 'x86_64',
    cgroupVersion: cgroupVersion(),
  };
}
