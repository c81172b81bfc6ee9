// The subnet claims every berthd on the machine shares (/run/berth-network/subnets): whatever another engine
// wrote there — IPv6 claims, a format this engine does not know, half a file — is skipped and left in place,
// and never keeps this engine's own networks from getting a subnet. The engine half runs on a private claims
// folder (BERTH_NETWORK_HOST_DIR), so nothing here reaches the folder other engines on the machine use.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { claimedByOthers, readClaims, writeClaim } from '../../../src/engine/network/host';
import { formatCidr } from '../../../src/engine/network/subnets';
import { type Registry, seedMirror, startRegistry } from '../../fixtures';
import { requireDockerCli, startEngine, type TestEngine } from '../../helpers/engine';

/** A folder of claims as several engines of several versions would leave it. */
function seedForeignClaims(dir: string, otherRoot: string): void {
  fs.mkdirSync(path.join(otherRoot, 'network', 'networks'), { recursive: true });
  for (const id of ['v6net', 'v4net', 'v2net'])
    fs.writeFileSync(path.join(otherRoot, 'network', 'networks', `${id}.json`), '{}');
  fs.mkdirSync(dir, { recursive: true });
  const put = (name: string, text: string) => fs.writeFileSync(path.join(dir, name), text);
  put('2001:db8:1::_64', JSON.stringify({ subnet: '2001:db8:1::/64', dataRoot: otherRoot, networkId: 'v6net' }));
  put(
    'fd00:dead:beef::_48',
    JSON.stringify({ subnet: 'fd00:dead:beef::/48', dataRoot: otherRoot, networkId: 'v6net' }),
  );
  put('10.77.0.0_24', JSON.stringify({ subnet: '10.77.0.0/24', dataRoot: otherRoot, networkId: 'v4net' }));
  put('10.78.0.0_24', JSON.stringify({ version: 2, cidr: '10.78.0.0/24', owner: { root: otherRoot, id: 'v2net' } }));
  put('10.79.0.0_24', '{"subnet":"10.79.0.0/24","dataRo'); // half written by an engine that writes in place
  put('notes', 'not json at all');
  put('.tmp-123', JSON.stringify({ subnet: '10.80.0.0/24', dataRoot: otherRoot, networkId: 'v4net' }));
  put('null', 'null');
}

describe('network: host-wide subnet claims', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-claims-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("skips and keeps other engines' IPv6 claims and entries it does not understand", () => {
    const claims = path.join(dir, 'subnets');
    seedForeignClaims(claims, path.join(dir, 'other'));
    const before = fs.readdirSync(claims).sort();
    assert.deepEqual(
      claimedByOthers(path.join(dir, 'me'), claims).map(formatCidr),
      ['10.77.0.0/24'],
      'only the IPv4 claims this engine can read meet its pools',
    );
    assert.deepEqual(
      readClaims(claims)
        .map((c) => c.subnet)
        .sort(),
      ['10.77.0.0/24', '2001:db8:1::/64', 'fd00:dead:beef::/48'],
    );
    assert.deepEqual(fs.readdirSync(claims).sort(), before, 'nothing another engine wrote is deleted');
  });

  it('drops a claim whose network record is gone, and writes claims whole', () => {
    const claims = path.join(dir, 'subnets');
    const gone = path.join(dir, 'gone');
    fs.mkdirSync(path.join(gone, 'network', 'networks'), { recursive: true });
    writeClaim({ subnet: '10.81.0.0/24', dataRoot: gone, networkId: 'removed' }, claims);
    writeClaim({ subnet: 'fd00:1::/64', dataRoot: path.join(dir, 'deleted-root'), networkId: 'x' }, claims);
    assert.deepEqual(fs.readdirSync(claims).sort(), ['10.81.0.0_24', 'fd00:1::_64'], 'no temporary file is left');
    assert.deepEqual(readClaims(claims), []);
    assert.deepEqual(fs.readdirSync(claims), [], 'stale claims of either family are dropped');
  });
});

describe('network: an engine among foreign claims', function () {
  this.timeout(180000);
  let registry: Registry;
  let engine: TestEngine;
  let hostDir: string;

  before(async function () {
    requireDockerCli(this);
    hostDir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-hostdir-'));
    seedForeignClaims(path.join(hostDir, 'subnets'), path.join(hostDir, 'other'));
    registry = await startRegistry();
    await seedMirror(registry);
    engine = await startEngine({
      config: { 'registry-mirrors': [registry.url], 'default-address-pools': [{ base: '10.77.0.0/16', size: 24 }] },
      env: { BERTH_NETWORK_HOST_DIR: hostDir },
    });
  });

  after(async () => {
    await engine?.cleanup();
    await registry?.stop();
    if (hostDir) fs.rmSync(hostDir, { recursive: true, force: true });
  });

  it('the default bridge and new networks get subnets, and containers run on them', () => {
    const ok = (...args: string[]) => {
      const r = engine.docker(args);
      assert.equal(r.code, 0, `docker ${args.join(' ')}: ${r.stderr}`);
      return r.stdout.trim();
    };
    ok('pull', 'busybox');
    assert.match(ok('run', '--rm', 'busybox', 'ip', '-4', '-o', 'addr', 'show', 'eth0'), /inet 10\.77\.1\.\d+\/24/);
    ok('network', 'create', 'second');
    const subnet = JSON.parse(ok('network', 'inspect', 'second'))[0].IPAM.Config[0].Subnet;
    assert.equal(subnet, '10.77.2.0/24', "the other engine's 10.77.0.0/24 stays taken");
    assert.match(ok('run', '--rm', '--network', 'second', 'busybox', 'hostname', '-i'), /^10\.77\.2\.\d+$/);
    ok('network', 'rm', 'second');
    for (const f of ['2001:db8:1::_64', 'fd00:dead:beef::_48', '10.78.0.0_24', '10.79.0.0_24', 'notes'])
      assert.ok(fs.existsSync(path.join(hostDir, 'subnets', f)), `${f} is left alone`);
  });
});
