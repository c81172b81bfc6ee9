// What this host lacks for containers to work as Docker's do, each with the exact command that installs it —
// dnf on CentOS/RHEL/Fedora/Rocky/Alma, yum on CentOS 7, apt on Debian/Ubuntu — as /info Warnings, which
// `docker info` and `berth info` print. The facts are read apart (preflightFacts) so the words are unit-testable.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';

export type PackageFamily = 'dnf' | 'yum' | 'apt' | 'unknown';

export interface PreflightFacts {
  family: PackageFamily;
  /** The default runtime's name and whether its binary was found. */
  runtime: { name: string; found: boolean };
  /** Whether the CNI plugins were found (network/cni.ts looks in /usr/lib/cni, /usr/libexec/cni, /opt/cni/bin). */
  cniFound: boolean;
  selinux: { enforcing: boolean; containerPolicy: boolean };
  /** The data root and its SELinux context (stat %C), where SELinux enforces. */
  dataRoot?: { path: string; context?: string };
  /** The C library's version (process.report's glibcVersionRuntime); absent on musl. */
  glibc?: string;
}

/** VS Code's server (Remote-SSH) needs glibc 2.28 — CentOS/RHEL 8 or newer; CentOS 7 has 2.17. */
export const VSCODE_SERVER_GLIBC = '2.28';

/** The package manager of /etc/os-release's distribution. */
export function packageFamily(osRelease: string): PackageFamily {
  const get = (k: string) => new RegExp(`^${k}="?([^"\\n]*)"?`, 'm').exec(osRelease)?.[1] ?? '';
  const like = `${get('ID')} ${get('ID_LIKE')}`;
  if (/rhel|centos|fedora|rocky|almalinux/.test(like)) {
    const major = parseInt(get('VERSION_ID'), 10);
    return /centos|rhel/.test(like) && major > 0 && major < 8 ? 'yum' : 'dnf';
  }
  if (/debian|ubuntu/.test(like)) return 'apt';
  return 'unknown';
}

function install(family: PackageFamily, rpm: string, deb: string): string {
  if (family === 'apt') return `sudo apt-get install -y ${deb}`;
  if (family === 'yum') return `sudo yum install -y ${rpm}`;
  return `sudo dnf install -y ${rpm}`;
}

export function preflightWarnings(f: PreflightFacts): string[] {
  const out: string[] = [];
  if (!f.runtime.found)
    out.push(
      `WARNING: the OCI runtime ${f.runtime.name} is not installed; containers cannot start: ${install(f.family, f.runtime.name, f.runtime.name)}`,
    );
  if (!f.cniFound)
    out.push(
      `WARNING: the CNI plugins are not installed; containers get no network: ${install(f.family, 'containernetworking-plugins', 'containernetworking-plugins')}`,
    );
  if (f.selinux.enforcing && !f.selinux.containerPolicy)
    out.push(
      `WARNING: SELinux is enforcing but the container policy (container_t) is not installed; containers cannot start with their labels: ${install(f.family, 'container-selinux', 'container-selinux')}`,
    );
  // Docker's data root is container_var_lib_t (container-selinux's file contexts): Berth's gets the same by an
  // equivalence rule, or containers cannot read their layers.
  if (
    f.selinux.enforcing &&
    f.selinux.containerPolicy &&
    f.dataRoot &&
    !/:container_var_lib_t:/.test(f.dataRoot.context ?? '')
  )
    out.push(
      `WARNING: the data root ${f.dataRoot.path} does not have Docker's SELinux file context (container_var_lib_t): sudo semanage fcontext -a -e /var/lib/docker ${f.dataRoot.path} && sudo restorecon -R ${f.dataRoot.path}`,
    );
  if (f.glibc && olderVersion(f.glibc, VSCODE_SERVER_GLIBC))
    out.push(
      `WARNING: glibc ${f.glibc} is older than the ${VSCODE_SERVER_GLIBC} that VS Code's server (Remote-SSH) needs; no package brings it — the host needs CentOS/RHEL 8 or newer`,
    );
  return out;
}

function olderVersion(a: string, b: string): boolean {
  const [x, y] = [a, b].map((v) => v.split('.').map((n) => parseInt(n, 10) || 0));
  for (let i = 0; i < Math.max(x.length, y.length); i++)
    if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) < (y[i] ?? 0);
  return false;
}

/** The glibc this process runs on, read once. */
let glibcRead: { v?: string } | undefined;
export function runtimeGlibc(): string | undefined {
  glibcRead ??= { v: readGlibc() };
  return glibcRead.v;
}

/**
 * The C library this process mapped, run as a program: it prints its version (a few ms). Not process.report:
 * a report resolves the address of every socket the process holds (reverse DNS: berthd's first `docker info`
 * took 33 s in the VM guest, whose resolver does not answer offline) and loads code that stays resident.
 */
export function readGlibc(): string | undefined {
  try {
    const maps = fs.readFileSync('/proc/self/maps', 'utf8');
    const libc = /\s(\/\S*\/libc(?:\.so\.6|-[\d.]+\.so))$/m.exec(maps)?.[1];
    if (!libc) return undefined; // musl, or not Linux
    const banner = spawnSync(libc, [], { encoding: 'utf8', timeout: 5000 }).stdout ?? '';
    return /release version (\d+\.\d+)/.exec(banner)?.[1];
  } catch {
    return undefined;
  }
}

/** The SELinux context of a file (stat %C), or undefined. */
export function fileContext(p: string): string | undefined {
  const r = spawnSync('stat', ['-c', '%C', p], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/** Whether the loaded SELinux policy knows containers (container-selinux: lxc_contexts naming container_t). */
export function containerPolicyInstalled(policyRoot = '/etc/selinux'): boolean {
  try {
    const policy = /^SELINUXTYPE=(\S+)/m.exec(fs.readFileSync(`${policyRoot}/config`, 'utf8'))?.[1] ?? 'targeted';
    return /container_t/.test(fs.readFileSync(`${policyRoot}/${policy}/contexts/lxc_contexts`, 'utf8'));
  } catch {
    return false;
  }
}

/** Whether SELinux enforces now (selinuxfs's enforce file says 1). */
export function selinuxEnforcing(): boolean {
  try {
    return fs.readFileSync('/sys/fs/selinux/enforce', 'utf8').trim() === '1';
  } catch {
    return false;
  }
}

export function osReleaseText(): string {
  try {
    return fs.readFileSync('/etc/os-release', 'utf8');
  } catch {
    return '';
  }
}
