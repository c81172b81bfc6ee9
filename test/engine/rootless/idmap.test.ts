// The rootless user namespace's id maps from /etc/subuid-style text, and the limits refused where cgroups are not
// the engine's.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { namespaceResolvConf } from '../../../src/engine/rootless/child';
import { idMapsFor, idRanges, mapArgs, subordinateRanges } from '../../../src/engine/rootless/idmap';
import { ownableId, parseIdMap } from '../../../src/engine/util/ownable';
import {
  cgroupDriverShown,
  cgroupsPath,
  limitsUnavailableReason,
  type Platform,
  refuseUnusableLimits,
  unusableLimits,
  V1_CGROUPFS,
} from '../../../src/engine/runtime';

describe('rootless id maps', () => {
  it('reads a user’s ranges by name or uid, ignoring others and comments', () => {
    const text = '# comment\nbob:100000:65536\nann:165536:65536\n1000:300000:10\nann:bad:1\n';
    assert.deepEqual(subordinateRanges(text, 'ann', 1000), [
      { start: 165536, count: 65536 },
      { start: 300000, count: 10 },
    ]);
  });

  it('maps the own id to root and the subordinate ranges after it', () => {
    const ranges = idRanges(1000, [
      { start: 165536, count: 65536 },
      { start: 300000, count: 10 },
    ]);
    assert.deepEqual(mapArgs(ranges), ['0', '1000', '1', '1', '165536', '65536', '65537', '300000', '10']);
  });

  it('falls back to the own id alone when either file lacks the user', () => {
    const etc = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-etc-'));
    fs.writeFileSync(path.join(etc, 'subuid'), 'ann:100000:65536\n');
    fs.writeFileSync(path.join(etc, 'subgid'), 'bob:100000:65536\n');
    const maps = idMapsFor('ann', 1000, 1000, etc);
    assert.equal(maps.single, true);
    assert.deepEqual(maps.uid, [{ inside: 0, outside: 1000, count: 1 }]);
    fs.rmSync(etc, { recursive: true });
  });
});

describe('limits on a rootless platform', () => {
  const v1: Platform = { ...V1_CGROUPFS, rootless: { delegatedControllers: [] } };

  it('a root engine takes every limit and owns /berth/<id>', () => {
    assert.equal(cgroupsPath(V1_CGROUPFS, 'abc'), '/berth/abc');
    refuseUnusableLimits(V1_CGROUPFS, { memory: 1 << 30, nanoCpus: 1e9 });
    assert.equal(limitsUnavailableReason(V1_CGROUPFS), undefined);
  });

  it('rootless on v1: no cgroup path, driver shown as none, limits refused with their flags and the reason', () => {
    assert.equal(cgroupsPath(v1, 'abc'), undefined);
    assert.equal(cgroupDriverShown(v1), 'none');
    assert.deepEqual(unusableLimits(v1, { memory: 1, nanoCpus: 5e8, pidsLimit: -1, cpuShares: 0 }), [
      '--memory',
      '--cpus',
    ]);
    assert.throws(
      () => refuseUnusableLimits(v1, { memory: 64 << 20 }),
      /--memory: resource limits need cgroup v2 with a delegated subtree/,
    );
    refuseUnusableLimits(v1, { pidsLimit: -1 });
  });

  it('rootless on v2: only the delegated controllers', () => {
    const v2: Platform = {
      ...V1_CGROUPFS,
      cgroup: { version: 2, driver: 'cgroupfs' },
      rootless: {
        delegatedControllers: ['memory', 'pids'],
        cgroupBase: '/user.slice/user-1000.slice/user@1000.service/app.slice/berthd.service',
      },
    };
    assert.deepEqual(unusableLimits(v2, { memory: 1 << 30, pidsLimit: 10, nanoCpus: 1e9 }), ['--cpus']);
    assert.equal(limitsUnavailableReason(v2), undefined, 'some limits work');
    assert.throws(
      () => refuseUnusableLimits(v2, { nanoCpus: 1e9 }),
      /^InvalidParameterError: --cpus: resource limits need the controller delegated to this user \(delegated: memory, pids\)$/,
    );
  });
});

describe('rootless namespace files and owners', () => {
  it('resolv.conf: slirp4netns’s forwarder replaces the host’s nameservers, search and options kept', () => {
    const host = 'nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch corp.example\n# comment\n';
    assert.equal(
      namespaceResolvConf(host, '10.0.2.3'),
      'nameserver 10.0.2.3\noptions edns0 trust-ad\nsearch corp.example\n',
    );
  });

  it('an owner outside the namespace’s id map becomes root’s; mapped ones stay', () => {
    const single = parseIdMap('         0       1001          1\n');
    const full = parseIdMap('0 1001 1\n1 100000 65536\n');
    assert.equal(ownableId(single, 1000), 0);
    assert.equal(ownableId(single, 0), 0);
    assert.equal(ownableId(full, 1000), 1000);
    assert.equal(ownableId(full, 65537), 0);
  });
});
