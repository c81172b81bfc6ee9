// What berthd reports of its host in /info: the data root's file system and d_type (host/storage.ts) and the
// network switches of its namespace (host/network.ts) — measured, never constants.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { filesystemName, networkFacts, networkWarnings, supportsDType } from '../../../src/engine/host';
import { DIST, startEngine } from '../../helpers/engine';

const DTYPE = path.join(DIST, 'bin', 'berth-dtype');

/** moby's name of the file system under `dir`, from stat(1)'s name of it. */
function expectedName(dir: string): string {
  const t = spawnSync('stat', ['-f', '-c', '%T', dir], { encoding: 'utf8' }).stdout.trim();
  return (
    { 'ext2/ext3': 'extfs', tmpfs: 'tmpfs', xfs: 'xfs', btrfs: 'btrfs', overlayfs: 'overlayfs', zfs: 'zfs' }[t] ?? t
  );
}

describe('host facts', () => {
  it('names file systems as moby does', () => {
    assert.equal(filesystemName(0xef53), 'extfs');
    assert.equal(filesystemName(0x58465342), 'xfs');
    assert.equal(filesystemName(0x01021994), 'tmpfs');
    assert.equal(filesystemName(0x9123683e), 'btrfs');
    assert.equal(filesystemName(-0x6edc97c2), 'btrfs'); // a signed f_type reads the same
    assert.equal(filesystemName(0x794c7630), 'overlayfs');
    assert.equal(filesystemName(0x12345678), '<unknown>');
  });

  it('probes d_type by a file made and read back, leaving nothing behind', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-dtype-'));
    try {
      // ext4 and tmpfs fill in d_type.
      assert.equal(supportsDType(dir, DTYPE), true);
      assert.equal(supportsDType('/dev/shm', DTYPE), true);
      assert.deepEqual(fs.readdirSync(dir), []);
      // A directory it cannot write in: it cannot tell.
      assert.equal(supportsDType(path.join(dir, 'missing'), DTYPE), undefined);
      assert.equal(supportsDType(dir, path.join(dir, 'no-helper')), undefined);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads forwarding and bridge-netfilter switches, absent ones as off, with dockerd’s warnings', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-procsys-'));
    try {
      fs.mkdirSync(path.join(root, 'net/ipv4'), { recursive: true });
      fs.writeFileSync(path.join(root, 'net/ipv4/ip_forward'), '1\n');
      // br_netfilter not loaded: no net/bridge at all.
      let f = networkFacts(root);
      assert.deepEqual(f, { ipv4Forwarding: true, bridgeNfIptables: false, bridgeNfIp6tables: false });
      assert.deepEqual(networkWarnings(f), [
        'WARNING: bridge-nf-call-iptables is disabled',
        'WARNING: bridge-nf-call-ip6tables is disabled',
      ]);
      fs.writeFileSync(path.join(root, 'net/ipv4/ip_forward'), '0\n');
      fs.mkdirSync(path.join(root, 'net/bridge'));
      fs.writeFileSync(path.join(root, 'net/bridge/bridge-nf-call-iptables'), '1\n');
      fs.writeFileSync(path.join(root, 'net/bridge/bridge-nf-call-ip6tables'), '0\n');
      f = networkFacts(root);
      assert.deepEqual(f, { ipv4Forwarding: false, bridgeNfIptables: true, bridgeNfIp6tables: false });
      assert.deepEqual(networkWarnings(f), [
        'WARNING: IPv4 forwarding is disabled',
        'WARNING: bridge-nf-call-ip6tables is disabled',
      ]);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  describe('in /info', function () {
    this.timeout(60_000);
    const switches = () => networkFacts(); // the engine runs in the test's network namespace

    for (const [where, base] of [
      ['a data root on the disk', os.tmpdir()],
      ['a data root on tmpfs', '/dev/shm'],
    ] as const) {
      it(`reports ${where}: its file system, d_type, and the namespace's switches`, async () => {
        const engine = await startEngine({ dir: fs.mkdtempSync(path.join(base, 'berth-test-')) });
        try {
          const info = await engine.client.info();
          const status = new Map(info.DriverStatus as [string, string][]);
          assert.equal(status.get('Backing Filesystem'), expectedName(engine.dataRoot));
          assert.equal(status.get('Supports d_type'), 'true');
          const s = switches();
          assert.equal(info.IPv4Forwarding, s.ipv4Forwarding);
          assert.equal(info.BridgeNfIptables, s.bridgeNfIptables);
          assert.equal(info.BridgeNfIp6tables, s.bridgeNfIp6tables);
          for (const w of networkWarnings(s)) assert.ok(info.Warnings.includes(w), `${w} in ${info.Warnings}`);
        } finally {
          await engine.cleanup();
        }
      });
    }
  });
});
