// Diagnose: what the engine needs and what this host has, with the exact install commands for apt, dnf and yum.
// Facts are read through an injected reader so the report is unit-testable with any host's files.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { probeRootlessHost, realProbeReader, rootlessRequirements } from '../../common/host/rootless';
import { withSbin } from './launcher';
import { probeUserManager, rootlessStart, type UserManager } from './user-service';

export interface HostReader {
  read(path: string): string | undefined;
  exists(path: string): boolean;
  run(cmd: string, args: string[]): string | undefined;
  platform: NodeJS.Platform;
  glibc?: string;
  isRoot: boolean;
  /** Whether a file opens read-write for this user (/dev/net/tun); assumed when absent. */
  openable?(path: string): boolean;
  user?: { name: string; uid: number };
}

export const realHost: HostReader = {
  read: (p) => {
    try {
      return fs.readFileSync(p, 'utf8');
    } catch {
      return undefined;
    }
  },
  exists: (p) => fs.existsSync(p),
  run: (cmd, args) => {
    // iptables and the like live in sbin, which Debian's PATH for an ordinary user lacks (the engine's has it).
    const env = { ...process.env, PATH: withSbin(process.env.PATH) };
    const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 3000, env });
    return r.status === 0 ? (r.stdout || r.stderr).trim() : undefined;
  },
  platform: process.platform,
  // A getter: process.report is slow, and only Diagnose needs it.
  get glibc() {
    return (process.report?.getReport() as any)?.header?.glibcVersionRuntime;
  },
  isRoot: process.getuid?.() === 0,
  openable: realProbeReader.openable,
  get user() {
    return realProbeReader.user;
  },
};

export interface Check {
  name: string;
  ok: boolean;
  found: string;
  need: string;
  fix?: { apt?: string; dnf?: string; yum?: string; note?: string };
}

export interface Diagnosis {
  distro: string;
  family: 'apt' | 'dnf' | 'yum' | 'unknown';
  checks: Check[];
}

function osRelease(h: HostReader): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of (h.read('/etc/os-release') ?? '').split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (m) out[m[1]] = m[2].replace(/^"|"$/g, '');
  }
  return out;
}

function cmpVersion(a: string, b: string): number {
  const pa = a.split(/[.-]/).map((x) => parseInt(x, 10) || 0);
  const pb = b.split(/[.-]/).map((x) => parseInt(x, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++)
    if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) - (pb[i] ?? 0);
  return 0;
}

export function diagnose(h: HostReader = realHost): Diagnosis {
  const os = osRelease(h);
  const like = `${os.ID ?? ''} ${os.ID_LIKE ?? ''}`;
  const majorVersion = parseInt(os.VERSION_ID ?? '', 10);
  const family: Diagnosis['family'] = /debian|ubuntu/.test(like)
    ? 'apt'
    : /rhel|centos|fedora/.test(like)
      ? /centos|rhel/.test(like) && majorVersion > 0 && majorVersion < 8
        ? 'yum'
        : 'dnf'
      : 'unknown';
  const pkgs = (apt: string, rpm: string) => ({
    apt: `sudo apt-get install -y ${apt}`,
    dnf: `sudo dnf install -y ${rpm}`,
    yum: `sudo yum install -y ${rpm}`,
  });
  const checks: Check[] = [];

  const kernel = (h.read('/proc/sys/kernel/osrelease') ?? '').trim();
  checks.push({
    name: 'Linux kernel',
    ok: !!kernel && cmpVersion(kernel, '3.10') >= 0,
    found: kernel || 'not Linux',
    need: '≥ 3.10 (4.x or later recommended)',
  });

  const mounts = h.read('/proc/mounts') ?? '';
  const cg2 = /\s\/sys\/fs\/cgroup\scgroup2\s/.test(mounts);
  const cg1 = /\scgroup\s/.test(mounts);
  checks.push({
    name: 'cgroups',
    ok: cg2 || cg1,
    found: cg2 ? 'v2 (unified)' : cg1 ? 'v1' : 'not mounted',
    need: 'v1 or v2 mounted under /sys/fs/cgroup',
    fix: cg2 || cg1 ? undefined : { note: 'mount cgroup2 on /sys/fs/cgroup (systemd does this at boot)' },
  });

  const fsList = h.read('/proc/filesystems') ?? '';
  const overlay = /\toverlay$/m.test(fsList) || h.exists('/sys/module/overlay');
  checks.push({
    name: 'overlayfs',
    ok: overlay,
    found: overlay ? 'available' : 'missing',
    need: 'the overlay filesystem',
    fix: overlay
      ? undefined
      : { note: 'sudo modprobe overlay && echo overlay | sudo tee /etc/modules-load.d/berth.conf' },
  });

  // RHEL 10 ships crun and no runc: either runs containers (berthd picks crun when runc is absent).
  const runc = h.run('runc', ['--version']);
  const crun = runc ? undefined : h.run('crun', ['--version']);
  checks.push({
    name: 'runc',
    ok: !!(runc || crun),
    found:
      runc?.split('\n')[0] ?? (crun ? `${crun.split('\n')[0]} (no runc: containers run on crun)` : 'not found on PATH'),
    need: 'runc ≥ 1.0 or crun (RHEL 10)',
    fix: runc || crun ? undefined : pkgs('runc', 'runc'),
  });

  const ipt = h.run('iptables', ['--version']);
  checks.push({
    name: 'iptables',
    ok: !!ipt,
    found: ipt ?? 'not found',
    need: 'iptables (legacy or nft) for port publishing',
    fix: ipt ? undefined : pkgs('iptables', 'iptables'),
  });

  const cni = h.exists('/usr/lib/cni/bridge') || h.exists('/opt/cni/bin/bridge') || h.exists('/usr/libexec/cni/bridge');
  checks.push({
    name: 'CNI plugins',
    ok: cni,
    found: cni ? 'bridge plugin present' : 'missing',
    need: 'bridge, host-local, portmap, firewall plugins',
    fix: cni ? undefined : pkgs('containernetworking-plugins', 'containernetworking-plugins'),
  });

  // Not root: the engine runs rootless when the host allows it (Berth starts it by itself then).
  const rootless = h.isRoot
    ? []
    : rootlessRequirements(
        probeRootlessHost({
          read: h.read,
          onPath: (cmd) => h.run('sh', ['-c', `command -v ${cmd}`]) !== undefined,
          openable: (p) => h.openable?.(p) ?? true,
          user: h.user ?? { name: process.env.USER ?? 'user', uid: process.getuid?.() ?? 1000 },
        }),
      );
  for (const r of rootless) {
    checks.push({
      name: r.name,
      ok: r.ok,
      found: r.found,
      need: r.fatal ? `${r.need} (rootless engine)` : `${r.need} (rootless engine, optional)`,
      fix: r.fix && {
        apt: r.fix.apt && `sudo apt-get install -y ${r.fix.apt}`,
        dnf: r.fix.rpm && `sudo dnf install -y ${r.fix.rpm}`,
        yum: r.fix.rpm && `sudo yum install -y ${r.fix.rpm}`,
        note: r.fix.note && `sudo ${r.fix.note}`,
      },
    });
  }
  const rootlessReady = rootless.length > 0 && rootless.every((r) => r.ok || !r.fatal);
  if (rootless.length) checks.push(...userServiceChecks(probeUserManager(h, h.user?.name), h.user?.name ?? 'USER'));

  const enforce = h.read('/sys/fs/selinux/enforce')?.trim();
  // container-selinux gives the policy container_t (named in the loaded policy's lxc_contexts).
  const policy = /^SELINUXTYPE=(\S+)/m.exec(h.read('/etc/selinux/config') ?? '')?.[1] ?? 'targeted';
  const containerPolicy = /container_t/.test(h.read(`/etc/selinux/${policy}/contexts/lxc_contexts`) ?? '');
  const selinux = enforce === undefined ? 'not enabled' : enforce === '1' ? 'enforcing' : 'permissive';
  checks.push({
    name: 'SELinux',
    ok: enforce !== '1' || containerPolicy,
    found: enforce === '1' && !containerPolicy ? `${selinux}, container-selinux missing` : selinux,
    need: 'any; when enforcing, bind mounts need the :z/:Z option or container-selinux',
    fix:
      enforce === '1'
        ? { dnf: 'sudo dnf install -y container-selinux', yum: 'sudo yum install -y container-selinux' }
        : undefined,
  });

  const glibc = h.glibc;
  checks.push({
    name: 'glibc',
    ok: !glibc || cmpVersion(glibc, '2.28') >= 0,
    found: glibc ?? 'not glibc (musl?)',
    need: '≥ 2.28 for the VS Code server (CentOS/RHEL 8+; CentOS 7 needs a custom sysroot)',
  });

  checks.push({
    name: 'privileges',
    ok: h.isRoot || h.exists('/run/berth/berth.sock') || rootlessReady,
    found: h.isRoot ? 'root' : rootlessReady ? 'not root: Berth runs its engine rootless' : 'not root',
    need: 'root, the rootless engine (what is listed above), or the berth systemd service (command: Berth: Install Engine as a Service)',
  });

  return { distro: os.PRETTY_NAME ?? h.platform, family, checks };
}

/** The controllers container limits use (runtime/limits.ts) and their docker run flags. */
const LIMIT_CONTROLLERS: Record<string, string> = {
  cpu: '--cpus, --cpu-shares',
  cpuset: '--cpuset-cpus, --cpuset-mems',
  io: '--blkio-weight',
  memory: '--memory',
  pids: '--pids-limit',
};

/** Where the rootless engine runs (the user's systemd or the login session) and what that means for limits and lifetime. */
function userServiceChecks(m: UserManager, user: string): Check[] {
  const how = rootlessStart(m);
  const checks: Check[] = [
    {
      name: "rootless engine's cgroup",
      ok: how.how === 'user-service',
      found:
        how.how === 'user-service'
          ? `systemd ${m.version} user manager: Berth runs the engine as ${how.unit} with Delegate=yes`
          : `started directly, limits refused: ${how.why}`,
      need: 'a systemd user manager on cgroup v2 for --memory, --cpus and the other limits (rootless engine, optional)',
    },
  ];
  if (how.how !== 'user-service') return checks;
  const have = m.controllers ?? [];
  const missing = Object.keys(LIMIT_CONTROLLERS).filter((c) => !have.includes(c));
  checks.push({
    name: 'delegated controllers',
    ok: ['memory', 'cpu', 'pids'].every((c) => have.includes(c)),
    found: `${have.join(' ') || 'none'}${missing.length ? ` (refused: ${missing.map((c) => LIMIT_CONTROLLERS[c]).join(', ')})` : ''}`,
    need: 'what user@.service delegates (systemd 252: cpu memory pids); more with a drop-in, then a new login',
    fix: missing.length
      ? {
          note: `sudo sh -c 'mkdir -p /etc/systemd/system/user@.service.d && printf "[Service]\\nDelegate=cpu cpuset io memory pids\\n" >/etc/systemd/system/user@.service.d/delegate.conf && systemctl daemon-reload'`,
        }
      : undefined,
  });
  checks.push({
    name: 'lingering',
    ok: m.linger,
    found: m.linger
      ? 'on: the engine and its containers run on with no login session'
      : `off: your systemd, and with it the engine and its containers, stops when your last login session ends (the VS Code server's included)`,
    need: 'optional: lingering keeps them running (Berth does not turn it on; an administrator, or you where polkit lets you)',
    fix: m.linger ? undefined : { note: `sudo loginctl enable-linger ${user}` },
  });
  return checks;
}

export function renderDiagnosis(d: Diagnosis): string {
  const lines = [
    `# Berth — host diagnosis`,
    '',
    `Host: **${d.distro}** (package manager: ${d.family})`,
    '',
    '| check | status | found | needs |',
    '|---|---|---|---|',
  ];
  for (const c of d.checks) lines.push(`| ${c.name} | ${c.ok ? '✓ ok' : '✗ missing'} | ${c.found} | ${c.need} |`);
  const fixes = d.checks.filter((c) => c.fix);
  if (fixes.length) {
    lines.push('', '## How to fix');
    for (const c of fixes) {
      lines.push('', `### ${c.name}`);
      if (c.fix!.note) lines.push('', '```sh', c.fix!.note, '```');
      for (const pm of ['apt', 'dnf', 'yum'] as const) {
        const cmd = c.fix![pm];
        if (cmd) lines.push('', `${pm}${pm === d.family ? ' (this host)' : ''}:`, '```sh', cmd, '```');
      }
    }
  } else lines.push('', 'Everything the engine needs is present.');
  return lines.join('\n') + '\n';
}
