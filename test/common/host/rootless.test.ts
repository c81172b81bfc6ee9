// What the rootless engine needs from a host, judged from probes: what is fatal, what only warns, and the words
// that tell a user what to run.
import * as assert from 'node:assert/strict';
import { overlayInUserns, type RootlessHostProbe, rootlessVerdict } from '../../../src/common/host/rootless';

const ready: RootlessHostProbe = {
  user: 'ann',
  uid: 1000,
  kernel: '6.1.0-13-amd64',
  maxUserNamespaces: 63000,
  commands: { unshare: true, newuidmap: true, newgidmap: true, slirp4netns: true, runc: true, 'fuse-overlayfs': true },
  tunUsable: true,
  subuidLines: true,
  subgidLines: true,
};

describe('rootless host requirements', () => {
  it('a stock host needs nothing', () => {
    assert.deepEqual(rootlessVerdict(ready), { fatal: [], warnings: [] });
  });

  it('names each missing piece and how to get it', () => {
    const v = rootlessVerdict({
      ...ready,
      maxUserNamespaces: 0,
      unprivilegedUsernsClone: 0,
      commands: { ...ready.commands, newuidmap: false, slirp4netns: false },
    });
    assert.equal(v.fatal.length, 4, v.fatal.join('\n'));
    assert.match(v.fatal[0], /user.max_user_namespaces is 0/);
    assert.match(v.fatal[1], /kernel.unprivileged_userns_clone=1/);
    assert.match(v.fatal[2], /install the slirp4netns package/);
    assert.match(v.fatal[3], /install the uidmap package/);
  });

  it('without sub-ids it starts with a single id and says which command adds them', () => {
    const v = rootlessVerdict({ ...ready, subuidLines: false, commands: { ...ready.commands, newuidmap: false } });
    assert.deepEqual(v.fatal, []);
    assert.match(v.warnings[0], /usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ann/);
  });

  it('a tun device the user cannot open is fatal, with the fix', () => {
    assert.match(rootlessVerdict({ ...ready, tunUsable: false }).fatal[0], /chmod 0666 \/dev\/net\/tun/);
  });

  it('overlay in a user namespace needs 5.11: an older kernel is named', () => {
    assert.equal(overlayInUserns('5.10.0-26-amd64'), false);
    assert.equal(overlayInUserns('5.11.0'), true);
    assert.equal(overlayInUserns('4.18.0-513.el8.x86_64'), false);
    assert.match(
      rootlessVerdict({ ...ready, kernel: '4.18.0-513.el8.x86_64' }).fatal[0],
      /4.18.0-513.el8.x86_64.*5.11/,
    );
  });
});
