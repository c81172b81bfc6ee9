// berth-netns (src/engine/network/native/berth-netns.c): a container's network namespace pinned under /run/netns
// with lo up, in one process — as `ip netns add` + `ip -n NAME link set lo up`, and what createNetns uses.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createNetns, deleteNetns } from '../../../src/engine/network/host';
import { DIST } from '../../helpers/engine';

const HELPER = path.join(DIST, 'bin', 'berth-netns');

const ip = (...args: string[]) => spawnSync('ip', args, { encoding: 'utf8' });
const loFlags = (name: string): string[] => JSON.parse(ip('-n', name, '-j', 'link', 'show', 'lo').stdout)[0].flags;

describe('berth-netns: a pinned network namespace with lo up', () => {
  const names: string[] = [];
  const fresh = () => {
    const name = `berth-nstest-${crypto.randomBytes(4).toString('hex')}`;
    names.push(name);
    return name;
  };
  after(() => {
    for (const n of names) ip('netns', 'del', n);
  });

  it('makes the namespace ip netns sees, lo up and nothing else in it; ip netns del removes it', () => {
    const name = fresh();
    const r = spawnSync(HELPER, [`/run/netns/${name}`], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(
      ip('netns', 'list')
        .stdout.split('\n')
        .some((l) => l.split(' ')[0] === name),
    );
    assert.ok(loFlags(name).includes('UP'), `lo flags: ${loFlags(name)}`);
    const links = JSON.parse(ip('-n', name, '-j', 'link', 'show').stdout).map((l: any) => l.ifname);
    assert.deepEqual(links, ['lo']);
    // Its own namespace, not this process's.
    assert.notEqual(fs.statSync(`/run/netns/${name}`).ino, fs.statSync('/proc/self/ns/net').ino);
    assert.equal(ip('netns', 'del', name).status, 0);
    assert.ok(!fs.existsSync(`/run/netns/${name}`));
  });

  it('refuses a name in use (the first stays), and a relative path', () => {
    const name = fresh();
    assert.equal(spawnSync(HELPER, [`/run/netns/${name}`]).status, 0);
    const again = spawnSync(HELPER, [`/run/netns/${name}`], { encoding: 'utf8' });
    assert.equal(again.status, 1);
    assert.match(again.stderr, new RegExp(`^create /run/netns/${name}: File exists$`, 'm'));
    assert.ok(loFlags(name).includes('UP'));
    const rel = spawnSync(HELPER, ['netns-x'], { encoding: 'utf8' });
    assert.equal(rel.status, 1);
    assert.match(rel.stderr, /usage: berth-netns/);
  });

  it('is what createNetns runs: lo up, deleteNetns removes it', async () => {
    const before = process.env.BERTH_NETNS_HELPER;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-nstest-'));
    const calls = path.join(dir, 'calls');
    const wrapper = path.join(dir, 'berth-netns');
    fs.writeFileSync(wrapper, `#!/bin/sh\necho "$@" >> ${calls}\nexec ${HELPER} "$@"\n`, { mode: 0o755 });
    process.env.BERTH_NETNS_HELPER = wrapper;
    try {
      const name = fresh();
      const nsPath = await createNetns(name);
      assert.equal(nsPath, `/run/netns/${name}`);
      assert.equal(fs.readFileSync(calls, 'utf8'), `${nsPath}\n`);
      assert.ok(loFlags(name).includes('UP'));
      await deleteNetns(nsPath);
      assert.ok(!fs.existsSync(nsPath));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
      if (before === undefined) delete process.env.BERTH_NETNS_HELPER;
      else process.env.BERTH_NETNS_HELPER = before;
    }
  });
});
