// The host's missing pieces as /info Warnings (docker info, berth info), each with the exact install command for
// the distribution's package manager — what a CentOS/RHEL user over Remote-SSH reads first.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  containerPolicyInstalled,
  crunRefusal,
  defaultRuntimeName,
  packageFamily,
  preflightWarnings,
  runtimeGlibc,
} from '../../../src/engine/host';
import { readGlibc } from '../../../src/engine/host/preflight';

const ok = { enforcing: false, containerPolicy: false };

describe('host: preflight warnings', () => {
  it('knows the package manager from os-release', () => {
    assert.equal(packageFamily('ID="rhel"\nID_LIKE="fedora"\nVERSION_ID="9.4"\n'), 'dnf');
    assert.equal(packageFamily('ID="centos"\nID_LIKE="rhel fedora"\nVERSION_ID="9"\n'), 'dnf');
    assert.equal(packageFamily('ID="rocky"\nID_LIKE="rhel centos fedora"\nVERSION_ID="8.10"\n'), 'dnf');
    assert.equal(packageFamily('ID="centos"\nID_LIKE="rhel fedora"\nVERSION_ID="7"\n'), 'yum');
    assert.equal(packageFamily('ID=debian\nVERSION_ID="12"\n'), 'apt');
    assert.equal(packageFamily('ID=alpine\n'), 'unknown');
  });

  it('defaults to runc, to crun where runc is absent (RHEL 10), to what daemon.json says', () => {
    assert.equal(defaultRuntimeName(undefined, { runc: true, crun: true }), 'runc');
    assert.equal(defaultRuntimeName(undefined, { runc: false, crun: true }), 'crun');
    assert.equal(defaultRuntimeName(undefined, { runc: false, crun: false }), 'runc');
    assert.equal(defaultRuntimeName('crun', { runc: true, crun: true }), 'crun');
  });

  it('rootless, prefers crun where it is installed and can run containers here (as rootless Podman)', () => {
    assert.equal(defaultRuntimeName(undefined, { runc: true, crun: true, crunRootless: true }), 'crun');
    assert.equal(defaultRuntimeName(undefined, { runc: true, crun: true, crunRootless: false }), 'runc');
    assert.equal(defaultRuntimeName(undefined, { runc: true, crun: false, crunRootless: false }), 'runc');
    assert.equal(defaultRuntimeName('runc', { runc: true, crun: true, crunRootless: true }), 'runc');
  });

  it("tells when crun refuses the host's cgroups: hybrid with a controller on the unified mount", () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-cgroups-'));
    try {
      const write = (f: string, text: string) => {
        fs.mkdirSync(path.dirname(path.join(root, f)), { recursive: true });
        fs.writeFileSync(path.join(root, f), text);
      };
      assert.equal(crunRefusal(root), undefined, 'plain v1');
      write('unified/cgroup.controllers', '\n');
      assert.equal(crunRefusal(root), undefined, 'stock hybrid: nothing on the unified mount');
      write('unified/cgroup.controllers', 'hugetlb\n');
      assert.equal(
        crunRefusal(root),
        'crun refuses hybrid cgroups with controllers on the unified hierarchy (hugetlb)',
      );
      write('cgroup.controllers', 'cpu memory pids\n');
      assert.equal(crunRefusal(root), undefined, 'unified');
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it('says nothing when the host has what it needs', () => {
    assert.deepEqual(
      preflightWarnings({ family: 'dnf', runtime: { name: 'crun', found: true }, cniFound: true, selinux: ok }),
      [],
    );
    assert.deepEqual(
      preflightWarnings({
        family: 'dnf',
        runtime: { name: 'runc', found: true },
        cniFound: true,
        selinux: { enforcing: true, containerPolicy: true },
      }),
      [],
    );
  });

  it('names each missing piece with the dnf command on RHEL (yum on CentOS 7, apt on Debian)', () => {
    const w = preflightWarnings({
      family: 'dnf',
      runtime: { name: 'crun', found: false },
      cniFound: false,
      selinux: { enforcing: true, containerPolicy: false },
    });
    assert.deepEqual(w, [
      'WARNING: the OCI runtime crun is not installed; containers cannot start: sudo dnf install -y crun',
      'WARNING: the CNI plugins are not installed; containers get no network: sudo dnf install -y containernetworking-plugins',
      'WARNING: SELinux is enforcing but the container policy (container_t) is not installed; containers cannot start with their labels: sudo dnf install -y container-selinux',
    ]);
    assert.match(
      preflightWarnings({ family: 'yum', runtime: { name: 'runc', found: false }, cniFound: true, selinux: ok })[0],
      /sudo yum install -y runc$/,
    );
    assert.match(
      preflightWarnings({ family: 'apt', runtime: { name: 'runc', found: true }, cniFound: false, selinux: ok })[0],
      /sudo apt-get install -y containernetworking-plugins$/,
    );
  });

  it('says when glibc is older than the 2.28 VS Code’s server needs (CentOS 7), and nothing from 2.28 on', () => {
    const base = { family: 'yum' as const, runtime: { name: 'runc', found: true }, cniFound: true, selinux: ok };
    assert.deepEqual(preflightWarnings({ ...base, glibc: '2.17' }), [
      "WARNING: glibc 2.17 is older than the 2.28 that VS Code's server (Remote-SSH) needs; no package brings it — the host needs CentOS/RHEL 8 or newer",
    ]);
    assert.deepEqual(preflightWarnings({ ...base, glibc: '2.28' }), []);
    assert.deepEqual(preflightWarnings({ ...base, glibc: '2.34' }), []);
    assert.deepEqual(preflightWarnings({ ...base, glibc: '2.100' }), [], 'compared as numbers, not strings');
    assert.match(runtimeGlibc() ?? '', /^2\.\d+$/, 'this host runs on glibc');
    // What the C library says of itself is what node's own report reads.
    assert.equal(readGlibc(), (process.report?.getReport() as any)?.header?.glibcVersionRuntime);
  });

  it('asks for Docker’s file context on the data root where SELinux enforces', () => {
    const base = { family: 'dnf' as const, runtime: { name: 'crun', found: true }, cniFound: true };
    const enforcing = { enforcing: true, containerPolicy: true };
    assert.deepEqual(
      preflightWarnings({
        ...base,
        selinux: enforcing,
        dataRoot: { path: '/var/lib/berth', context: 'system_u:object_r:var_lib_t:s0' },
      }),
      [
        "WARNING: the data root /var/lib/berth does not have Docker's SELinux file context (container_var_lib_t): sudo semanage fcontext -a -e /var/lib/docker /var/lib/berth && sudo restorecon -R /var/lib/berth",
      ],
    );
    assert.deepEqual(
      preflightWarnings({
        ...base,
        selinux: enforcing,
        dataRoot: { path: '/var/lib/berth', context: 'system_u:object_r:container_var_lib_t:s0' },
      }),
      [],
    );
    assert.deepEqual(preflightWarnings({ ...base, selinux: ok, dataRoot: { path: '/var/lib/berth' } }), []);
  });

  it('finds container-selinux by the container contexts of the loaded policy', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'selinux-'));
    try {
      assert.equal(containerPolicyInstalled(root), false);
      fs.mkdirSync(path.join(root, 'targeted/contexts'), { recursive: true });
      fs.writeFileSync(path.join(root, 'config'), 'SELINUX=enforcing\nSELINUXTYPE=targeted\n');
      fs.writeFileSync(
        path.join(root, 'targeted/contexts/lxc_contexts'),
        'process = "system_u:system_r:svirt_lxc_net_t:s0"\n',
      );
      assert.equal(containerPolicyInstalled(root), false);
      fs.writeFileSync(
        path.join(root, 'targeted/contexts/lxc_contexts'),
        'process = "system_u:system_r:container_t:s0"\n',
      );
      assert.equal(containerPolicyInstalled(root), true);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
