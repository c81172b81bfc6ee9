// What the rootless engine needs from a host, judged from probes: what is fatal, what only warns, and the words
// that tell a user what to run.
import * as assert from 'node:assert/strict';
import {
  overlayInUserns,
  probeRootlessHost,
  type RootlessHostProbe,
  rootlessRequirements,
  rootlessVerdict,
} from '../../../src/common/host/rootless';

const ready: RootlessHostProbe = {
  user: 'ann',
  uid: 1000,
  kernel: '6.1.0-13-amd64',
  maxUserNamespaces: 63000,
  commands: { unshare: true, newuidmap: true, newgidmap: true, slirp4netns: true, runc: true },
  tunUsable: true,
  subuidLines: true,
  subgidLines: true,
};

describe('rootless host requirements', () => {
  it('a stock host needs nothing', () => {
    assert.deepEqual(rootlessVerdict(ready), { fatal: [], warnings: [] });
    assert.ok(rootlessRequirements(ready).every((r) => r.ok));
  });

  it('names each missing piece and how to get it', () => {
    const v = rootlessVerdict({
      ...ready,
      unprivilegedUsernsClone: 0,
      commands: { ...ready.commands, newuidmap: false, slirp4netns: false },
    });
    assert.equal(v.fatal.length, 3, v.fatal.join('\n'));
    assert.match(v.fatal[0], /^user namespaces: disabled .*as root: sysctl -w kernel.unprivileged_userns_clone=1/);
    assert.match(v.fatal[1], /^newuidmap\/newgidmap: not found on PATH.*install uidmap \(shadow-utils on RHEL\)/);
    assert.match(v.fatal[2], /^slirp4netns: not found on PATH.*install slirp4netns$/);
  });

  it('without sub-ids it starts with a single id and says which command adds them', () => {
    const v = rootlessVerdict({ ...ready, subuidLines: false, commands: { ...ready.commands, newuidmap: false } });
    assert.deepEqual(v.fatal, []);
    assert.match(v.warnings[0], /usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ann/);
  });

  it('a tun device the user cannot open is fatal, with the fix', () => {
    assert.match(rootlessVerdict({ ...ready, tunUsable: false }).fatal[0], /chmod 0666 \/dev\/net\/tun/);
  });

  it('overlay in a user namespace needs 5.11 or fuse-overlayfs: an older kernel without it names both', () => {
    assert.equal(overlayInUserns('5.10.0-26-amd64'), false);
    assert.equal(overlayInUserns('5.11.0'), true);
    assert.equal(overlayInUserns('4.18.0-513.el8.x86_64'), false);
    assert.deepEqual(rootlessVerdict({ ...ready, kernel: '4.18.0-513.el8.x86_64' }).fatal, [
      'overlayfs in a user namespace: kernel 4.18.0-513.el8.x86_64, fuse-overlayfs not found on PATH, needs ' +
        'Linux 5.11 or later, or fuse-overlayfs; install fuse-overlayfs',
    ]);
    const withFuse = {
      ...ready,
      kernel: '4.18.0-513.el8.x86_64',
      commands: { ...ready.commands, 'fuse-overlayfs': true },
    };
    assert.deepEqual(rootlessVerdict(withFuse), { fatal: [], warnings: [] });
  });

  it('probes through a reader: sysctls, commands, the tun device and the sub-id files', () => {
    const files: Record<string, string> = {
      '/proc/sys/kernel/osrelease': '4.18.0-513.el8.x86_64\n',
      '/proc/sys/user/max_user_namespaces': '0\n',
      '/etc/subuid': 'bob:100000:65536\n1000:200000:65536\n',
      '/etc/subgid': 'ann:200000:65536\n',
    };
    const p = probeRootlessHost({
      read: (f) => files[f],
      onPath: (c) => c !== 'slirp4netns',
      openable: () => false,
      user: { name: 'ann', uid: 1000 },
    });
    assert.equal(p.kernel, '4.18.0-513.el8.x86_64');
    assert.equal(p.maxUserNamespaces, 0);
    assert.equal(p.unprivilegedUsernsClone, undefined);
    assert.deepEqual([p.subuidLines, p.subgidLines, p.tunUsable, p.commands.slirp4netns], [true, true, false, false]);
  });
});
