// docker-py (Debian's python3-docker 5.0) against berthd: the calls a Python program makes, each scenario in
// test/clients/python/scenarios.py printing what it saw. Texts and statuses are dockerd's.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { dockerPy, requireClient } from '../helpers/clients';
import { type MirroredEngine, startMirroredEngine } from '../helpers/mirrored-engine';

describe('clients: docker-py', function () {
  this.timeout(180_000);
  let target: MirroredEngine;
  let host: string;

  before(async function () {
    requireClient(this, 'python3-docker');
    target = await startMirroredEngine();
    host = target.engine.host;
  });
  after(async () => target?.cleanup());

  it('sees a node outside a swarm (503) and no plugins', async () => {
    const r = await dockerPy(host, 'swarm');
    const notManager = {
      status: 503,
      message:
        'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.',
    };
    assert.deepEqual(r, {
      swarm: notManager,
      nodes: notManager,
      services: notManager,
      leave: { status: 503, message: 'This node is not part of a swarm' },
      plugins: [],
      state: 'inactive',
    });
  });

  it('runs containers and reads their logs; streams without follow end, running or not', async () => {
    const r = await dockerPy(host, 'logs');
    assert.deepEqual(r, {
      run: 'out\n',
      run_tty: 'tty\r\n',
      done_no_follow: 'one\ntwo\n',
      live_no_follow: 'up\n',
      done_follow: 'one\ntwo\n',
      done_tail: 'two\n',
    });
  });

  it('execs with and without a TTY, demultiplexed, streamed, and framed as the start request asks', async () => {
    const r = await dockerPy(host, 'exec');
    assert.equal(r.tty[0], 0);
    assert.match(r.tty[1], /^\/dev\/pts\/\d+\r\n$/);
    assert.deepEqual(r.split, [3, 'out\n', 'err\n']);
    assert.equal(r.streamed, 'a\nb\n');
    assert.match(r.tty_started_plain[0], /^\/dev\/pts\/\d+\r\n$/);
    assert.equal(r.tty_started_plain[1], null);
    assert.equal(r.inspect, true);
  });

  it('gets a 409 removing the only repository of an image a container uses, and ImageLoadError for a cut archive', async () => {
    const saved = path.join(target.engine.dir, 'py-busybox.tar');
    target.ok(['save', '-o', saved, 'busybox']);
    const cut = path.join(target.engine.dir, 'py-cut.tar');
    const whole = fs.readFileSync(saved);
    fs.writeFileSync(cut, whole.subarray(0, whole.length >> 1));
    const r = await dockerPy(host, 'images', [cut]);
    assert.equal(r.refused.status, 409);
    assert.match(
      r.refused.message,
      /^conflict: unable to remove repository reference "busybox" \(must force\) - container [0-9a-f]{12} is using its referenced image [0-9a-f]{12}$/,
    );
    assert.deepEqual(r.tags_after, ['busybox:latest']);
    assert.equal(r.load_error, 'Error processing tar file(exit status 1): unexpected EOF');
  });

  it("creates, lists and prunes networks; typed-body, duplicate and host-driver errors are dockerd's", async () => {
    const r = await dockerPy(host, 'networks');
    assert.deepEqual(r, {
      listed: ['py-net'],
      duplicate: { status: 409, message: 'network with name py-net already exists' },
      host_driver: { status: 403, message: 'only one instance of "host" network is allowed' },
      bad_labels: {
        status: 400,
        message: 'json: cannot unmarshal number into Go struct field NetworkCreateRequest.Labels of type string',
      },
      predefined: { status: 403, message: 'bridge is a pre-defined network and cannot be created' },
      prune_nothing: { NetworksDeleted: null },
      names: ['bridge', 'host', 'none'],
    });
  });

  it('prunes only anonymous volumes by default, named ones with all=true', async () => {
    const r = await dockerPy(host, 'volumes');
    assert.match(r.anonymous, /^[0-9a-f]{64}$/);
    assert.deepEqual(r.default_prune, [r.anonymous]);
    assert.deepEqual(r.all_prune, ['py-named']);
    assert.deepEqual(r.left, []);
  });
  it('updates a running container (policy kept by a later update, limits in its cgroups); stats per interface', async () => {
    const r = await dockerPy(host, 'update_stats');
    assert.equal(r.refused.status, 409);
    assert.match(
      r.refused.message,
      /^Cannot update container [0-9a-f]{64}: Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time$/,
    );
    assert.equal(r.policy_after_refusal, '');
    assert.equal(r.policy, 'always');
    assert.equal(r.memory, 64 * 1024 * 1024);
    assert.equal(r.cpu_shares, 512);
    assert.equal(r.memory_in_cgroup, String(64 * 1024 * 1024));
    // cgroup v2 keeps shares as a weight (runc: 1 + ((shares - 2) * 9999) / 262142).
    assert.ok(['512', String(1 + Math.floor((510 * 9999) / 262142))].includes(r.shares_in_cgroup), r.shares_in_cgroup);
    assert.equal(r.pinged, 0);
    // stats: the counters of each interface of the container's own namespace, none for --network none.
    assert.deepEqual(r.interfaces, ['eth0']);
    assert.equal(r.counted, true);
    assert.deepEqual(r.none_interfaces, []);
  });
  it('run() of a --restart always container that exits at once returns (its waits end at every exit)', async () => {
    const r = await dockerPy(host, 'restart_at_once');
    assert.deepEqual(r, { output: 'once', returned_in_time: true, policy: 'always', restarted: true });
  });
  it('mac_address (Config.MacAddress) sets the MAC of eth0 on the primary network, shown by inspect', async () => {
    const r = await dockerPy(host, 'mac_address');
    assert.deepEqual(r, {
      in_container: '02:42:ac:11:00:42',
      config: '02:42:ac:11:00:42',
      network: '02:42:ac:11:00:42',
      invalid: { status: 400, message: 'address 02:42: invalid MAC address' },
    });
  });
});
