// What the rootless engine needs from a host, judged from probes: what is fatal, what only warns, and the words
// that tell a user what to run.
import * as assert from 'node:assert/strict';
import {
  freeSubidRanges,
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
  freeSubids: { uid: 165536, gid: 165536 },
};

/** The uid and gid ranges an add-sub-ids command names. */
const suggested = (text: string) => {
  const m = /usermod --add-subuids (\d+)-(\d+) --add-subgids (\d+)-(\d+) /.exec(text);
  assert.ok(m, text);
  const [us, ue, gs, ge] = m.slice(1).map(Number);
  return { uids: { start: us, end: ue }, gids: { start: gs, end: ge } };
};
const overlaps = (r: { start: number; end: number }, file: string) =>
  file
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(':').map(Number))
    .some(([, s, c]) => r.start <= s + c - 1 && s <= r.end);

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
    assert.match(v.warnings[0], /usermod --add-subuids 165536-231071 --add-subgids 165536-231071 ann/);
  });

  it('the sub-ids it suggests are free: never a range another user has (useradd gave the first user 100000)', () => {
    const subuid = 'bob:100000:65536\ncarol:200000:1000\n';
    const subgid = 'bob:100000:65536\n';
    const p = probeRootlessHost({
      read: (f) => ({ '/etc/subuid': subuid, '/etc/subgid': subgid })[f],
      onPath: () => true,
      openable: () => true,
      user: { name: 'ann', uid: 1000 },
    });
    const warning = rootlessVerdict(p).warnings.join('\n');
    const { uids, gids } = suggested(warning);
    assert.equal(overlaps(uids, subuid), false, warning);
    assert.equal(overlaps(gids, subgid), false, warning);
    assert.equal(uids.end - uids.start + 1, 65536);
    // 165536 is free in subgid but carol has 200000-200999 in subuid: the same start in both goes past hers.
    assert.deepEqual([uids.start, gids.start], [201000, 201000]);
  });

  it("free sub-ids: useradd's bounds from login.defs, a start of its own per file when none is free in both", () => {
    assert.deepEqual(freeSubidRanges(undefined, undefined, undefined), { uid: 100000, gid: 100000 });
    assert.deepEqual(freeSubidRanges('# none\n', '', 'SUB_UID_MIN 200000\nSUB_GID_MIN\t300000\n'), {
      uid: 300000,
      gid: 300000,
    });
    // Capped at 231071: 165536 is free for uids only, 100000 for gids only.
    const defs = 'SUB_UID_MAX 231071\nSUB_GID_MAX 231071\n';
    assert.deepEqual(freeSubidRanges('a:100000:65536\n', 'b:165536:65536\n', defs), { uid: 165536, gid: 100000 });
    // Nothing free: no command, and the warning says so.
    assert.equal(freeSubidRanges('a:100000:131072\n', '', defs), undefined);
    const v = rootlessVerdict({ ...ready, subgidLines: false, freeSubids: undefined });
    assert.match(v.warnings[0], /^sub-ids: none for ann \(and no 65536 ids free .*SUB_UID_MAX\), needs subordinate/);
    assert.doesNotMatch(v.warnings[0], /usermod/);
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
