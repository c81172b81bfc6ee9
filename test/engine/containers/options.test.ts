// Container options of `docker run` that change what the container is, each working as in dockerd and shown by
// inspect: --init, --pid, --uts, --ipc, --isolation, --device-cgroup-rule, --link, --mac-address, --log-opt max-file
// alone, and docker stats' network columns.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import { requireDockerCli, startEngine } from '../../helpers/engine';
import { type MirroredEngine, startMirroredEngine } from '../../helpers/mirrored-engine';

describe('containers: namespace, init and device options', function () {
  this.timeout(180_000);
  let m: MirroredEngine;
  const inspect = (name: string) => JSON.parse(m.ok(['inspect', name]))[0];
  const fails = (args: string[]) => {
    const r = m.engine.docker(args);
    assert.notEqual(r.code, 0, `docker ${args.join(' ')} should fail`);
    return r.stderr;
  };
  const ns = (kind: string) => fs.readlinkSync(`/proc/self/ns/${kind}`);
  /** A create request the docker CLI would refuse before sending: dockerd's status and message. */
  const create = (body: object) =>
    new Promise<{ status: number; message: string }>((resolve, reject) => {
      const req = http.request(
        {
          socketPath: m.engine.socket,
          method: 'POST',
          path: '/containers/create',
          headers: { 'Content-Type': 'application/json' },
        },
        (res) => {
          let text = '';
          res.on('data', (d) => (text += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, message: JSON.parse(text).message }));
        },
      );
      req.on('error', reject);
      req.end(JSON.stringify({ Image: 'busybox', Cmd: ['true'], ...body }));
    });

  before(async function () {
    requireDockerCli(this);
    m = await startMirroredEngine();
  });
  after(async () => {
    m?.engine.docker(['rm', '-f', 'init', 'donor', 'private', 'pid-donor']);
    await m?.cleanup();
  });

  it('--init: tini is PID 1 and runs the command, passes its exit code and signals; inspect shows Init', () => {
    assert.match(
      m.ok(['run', '--rm', '--init', '--network', 'none', 'busybox', 'ps', '-o', 'pid,args']),
      /^PID\s+COMMAND\n\s+1 \/sbin\/docker-init -- ps -o pid,args\n\s+\d+ ps -o pid,args\n$/,
    );
    const r = m.engine.docker(['run', '--rm', '--init', '--network', 'none', 'busybox', 'sh', '-c', 'exit 7']);
    assert.equal(r.code, 7, r.stderr);
    m.ok(['run', '-d', '--name', 'init', '--init', '--network', 'none', 'busybox', 'sleep', '600']);
    const i = inspect('init');
    assert.deepEqual([i.HostConfig.Init, i.Path, i.Args], [true, 'sleep', ['600']]);
    assert.equal(inspect(m.ok(['create', '--network', 'none', 'busybox', 'true']).trim()).HostConfig.Init, undefined);
    // sleep as PID 1 would ignore SIGTERM and wait out the timeout; under tini it dies of it at once.
    const t0 = Date.now();
    m.ok(['stop', '-t', '30', 'init']);
    assert.ok(Date.now() - t0 < 10_000, `stop took ${Date.now() - t0} ms`);
    assert.equal(inspect('init').State.ExitCode, 143);
  });

  it('daemon.json "init": true gives every container the init unless it asks for none (Init: false)', async () => {
    const e = await startEngine({ config: { 'registry-mirrors': [m.registry.url], init: true } });
    try {
      for await (const p of e.client.pullImage('busybox', 'latest')) assert.equal(p.error, undefined, p.error);
      const pid1 = (flags: string[]) =>
        e.docker(['run', '--rm', '--network', 'none', ...flags, 'busybox', 'cat', '/proc/1/cmdline']).stdout;
      assert.equal(pid1([]), '/sbin/docker-init\0--\0cat\0/proc/1/cmdline\0');
      assert.equal(pid1(['--init=false']), 'cat\0/proc/1/cmdline\0');
      assert.equal(e.docker(['info', '--format', '{{.InitBinary}}']).stdout, 'docker-init\n');
    } finally {
      await e.cleanup();
    }
  });

  it("--pid host and --pid container:<name>: the host's or that container's PID namespace", async () => {
    const run = (flags: string[], cmd: string[]) =>
      m.ok(['run', '--rm', '--network', 'none', ...flags, 'busybox', ...cmd]).trim();
    assert.equal(run(['--pid', 'host'], ['readlink', '/proc/self/ns/pid']), ns('pid'));
    assert.notEqual(run([], ['readlink', '/proc/self/ns/pid']), ns('pid'));
    m.ok(['run', '-d', '--name', 'pid-donor', '--network', 'none', 'busybox', 'sleep', '600']);
    assert.match(run(['--pid', 'container:pid-donor'], ['ps', '-o', 'pid,args']), /\n\s+1 sleep 600\n/);
    const c = m.ok(['create', '--pid', 'host', '--network', 'none', 'busybox', 'true']).trim();
    assert.equal(inspect(c).HostConfig.PidMode, 'host');
    assert.deepEqual(await create({ HostConfig: { PidMode: 'bogus' } }), {
      status: 400,
      message: 'invalid PID mode: bogus',
    });
  });

  it("--uts host: the host's hostname (none of its own may be given)", async () => {
    const c = m.ok(['create', '--uts', 'host', '--network', 'none', 'busybox', 'hostname']).trim();
    assert.equal(inspect(c).HostConfig.UTSMode, 'host');
    assert.equal(m.ok(['start', '-a', c]).trim(), os.hostname());
    assert.notEqual(m.ok(['run', '--rm', '--network', 'none', 'busybox', 'hostname']).trim(), os.hostname());
    assert.deepEqual(await create({ Hostname: 'mine', HostConfig: { UTSMode: 'host' } }), {
      status: 400,
      message: 'conflicting options: hostname and the UTS mode',
    });
  });

  it("--ipc host, none, private (the default), shareable and container:<name>, with dockerd's refusals", () => {
    const run = (flags: string[], cmd: string) =>
      m.engine.docker(['run', '--rm', '--network', 'none', ...flags, 'busybox', 'sh', '-c', cmd]);
    assert.equal(run(['--ipc', 'host'], 'readlink /proc/self/ns/ipc').stdout.trim(), ns('ipc'));
    const none = run(['--ipc', 'none'], 'ls /dev/shm');
    assert.equal(none.code, 1);
    assert.match(none.stderr, /No such file or directory/);
    m.ok([
      'run',
      '-d',
      '--name',
      'donor',
      '--ipc',
      'shareable',
      '--network',
      'none',
      'busybox',
      'sh',
      '-c',
      'echo shared > /dev/shm/note; exec sleep 600',
    ]);
    const donorNs = m.ok(['exec', 'donor', 'readlink', '/proc/self/ns/ipc']).trim();
    assert.notEqual(donorNs, ns('ipc'));
    const joined = run(['--ipc', 'container:donor'], 'readlink /proc/self/ns/ipc; cat /dev/shm/note');
    assert.equal(joined.stdout, `${donorNs}\nshared\n`, joined.stderr);
    m.ok(['run', '-d', '--name', 'private', '--network', 'none', 'busybox', 'sleep', '600']);
    assert.deepEqual(
      ['donor', 'private'].map((n) => inspect(n).HostConfig.IpcMode),
      ['shareable', 'private'],
    );
    assert.match(
      run(['--ipc', 'container:private'], 'true').stderr,
      /can't join IPC of container private: non-shareable IPC \(hint: use IpcMode:shareable for the donor container\)/,
    );
    m.ok(['stop', '-t', '0', 'private']);
    assert.match(
      run(['--ipc', 'container:private'], 'true').stderr,
      /can't join IPC of container private: Container [0-9a-f]{64} is not running/,
    );
    assert.match(fails(['create', '--ipc', 'bogus', 'busybox']), /Invalid IPC mode: bogus/);
  });

  it('--isolation default is echoed back, others refused; --device-cgroup-rule opens a device class', () => {
    const c = m.ok(['create', '--isolation', 'default', '--network', 'none', 'busybox', 'true']).trim();
    assert.equal(inspect(c).HostConfig.Isolation, 'default');
    assert.match(
      fails(['create', '--isolation', 'hyperv', 'busybox']),
      /Invalid isolation: "hyperv" - linux only supports 'default'/,
    );
    // Major 42 has no driver: opening it fails with ENXIO once the cgroup lets it through, EPERM before.
    const probe = 'mknod /tmp/dev c 42 1 && cat /tmp/dev';
    const allowed = m.engine.docker([
      'run',
      '--rm',
      '--network',
      'none',
      '--device-cgroup-rule',
      'c 42:* rmw',
      'busybox',
      'sh',
      '-c',
      probe,
    ]);
    assert.match(allowed.stderr, /No such device or address/);
    const denied = m.engine.docker(['run', '--rm', '--network', 'none', 'busybox', 'sh', '-c', probe]);
    assert.match(denied.stderr, /Operation not permitted/);
    const d = m.ok(['create', '--device-cgroup-rule', 'c 42:* rmw', '--network', 'none', 'busybox', 'true']).trim();
    assert.deepEqual(inspect(d).HostConfig.DeviceCgroupRules, ['c 42:* rmw']);
  });

  it('--log-opt max-file without max-size is accepted, with or without --log-driver; options without a driver apply', () => {
    const c = m.ok(['create', '--log-opt', 'max-file=3', '--network', 'none', 'busybox', 'true']).trim();
    assert.deepEqual(inspect(c).HostConfig.LogConfig, { Type: 'json-file', Config: { 'max-file': '3' } });
    m.ok(['start', '-a', c]);
    const d = m.ok(['create', '--log-driver', 'json-file', '--log-opt', 'max-file=3', 'busybox', 'true']).trim();
    assert.deepEqual(inspect(d).HostConfig.LogConfig, { Type: 'json-file', Config: { 'max-file': '3' } });
    // `--log-opt max-size` alone (no --log-driver) rotates the daemon's json-file log, as in dockerd.
    const r = m
      .ok([
        'run',
        '-d',
        '--network',
        'none',
        '--log-opt',
        'max-size=1k',
        '--log-opt',
        'max-file=2',
        'busybox',
        'sh',
        '-c',
        'i=0; while [ $i -lt 200 ]; do echo "line $i of the log, long enough"; i=$((i+1)); done',
      ])
      .trim();
    m.ok(['wait', r]);
    const logPath = inspect(r).LogPath;
    assert.ok(fs.existsSync(`${logPath}.1`), 'rotated once');
    assert.ok(!fs.existsSync(`${logPath}.2`), 'two files kept');
    assert.ok(fs.statSync(logPath).size <= 1000);
    m.ok(['rm', r]);
  });

  it('docker stats --no-stream counts the network traffic of the container', () => {
    const c = m.ok(['run', '-d', 'busybox', 'sleep', '600']).trim();
    const gateway = inspect(c).NetworkSettings.Gateway;
    m.ok(['exec', c, 'ping', '-c', '2', '-W', '2', gateway]);
    const netIO = m.ok(['stats', '--no-stream', '--format', '{{.NetIO}}', c]).trim();
    assert.match(netIO, /^\d+(\.\d+)?k?B \/ \d+(\.\d+)?k?B$/);
    assert.notEqual(netIO, '0B / 0B');
    m.ok(['rm', '-f', c]);
  });
  it('--link: refused for a container that does not exist (create) or does not run (start); follows a restart', () => {
    assert.match(
      fails(['create', '--link', 'nosuch:db', 'busybox', 'true']),
      /could not get container for nosuch: No such container: nosuch/,
    );
    m.ok(['create', '--name', 'link-target', 'busybox', 'sleep', '600']);
    const c = m.ok(['create', '--name', 'link-user', '--link', 'link-target:db', 'busybox', 'true']).trim();
    assert.deepEqual(inspect(c).HostConfig.Links, ['/link-target:/link-user/db']);
    assert.match(fails(['start', c]), /Cannot link to a non running container: \/link-target AS \/link-user\/db/);
    m.ok(['start', 'link-target']);
    assert.match(
      m.ok(['run', '--rm', '--link', 'link-target:db', 'busybox', 'sh', '-c', 'echo $DB_NAME']),
      /^\/[a-z_]+\/db\n$/,
    );
    // The linked container comes back at another address: the running container linked to it follows.
    const parent = m.ok(['run', '-d', '--link', 'link-target:db', 'busybox', 'sleep', '600']).trim();
    const before = inspect('link-target').NetworkSettings.IPAddress;
    m.ok(['stop', '-t', '0', 'link-target']);
    const filler = m.ok(['run', '-d', 'busybox', 'sleep', '600']).trim();
    m.ok(['start', 'link-target']);
    const ip = inspect('link-target').NetworkSettings.IPAddress;
    assert.notEqual(ip, before);
    assert.match(m.ok(['exec', parent, 'cat', '/etc/hosts']), new RegExp(`\\n${ip.replace(/\./g, '\\.')}\\tdb `));
    m.ok(['rm', '-f', 'link-target', 'link-user', parent, filler]);
  });
  it('--mac-address: the MAC of eth0 on the default bridge and on a user network; refused with host networking', () => {
    assert.equal(
      m.ok(['run', '--rm', '--mac-address', '02:42:ac:11:00:99', 'busybox', 'cat', '/sys/class/net/eth0/address']),
      '02:42:ac:11:00:99\n',
    );
    const c = m.ok(['run', '-d', '--mac-address', '02:42:ac:11:00:98', 'busybox', 'sleep', '600']).trim();
    const ns = inspect(c).NetworkSettings;
    assert.deepEqual([ns.MacAddress, ns.Networks.bridge.MacAddress], ['02:42:ac:11:00:98', '02:42:ac:11:00:98']);
    m.ok(['rm', '-f', c]);
    m.ok(['network', 'create', 'mac-net']);
    assert.equal(
      m.ok([
        'run',
        '--rm',
        '--network',
        'mac-net',
        '--mac-address',
        '02:42:ac:11:00:97',
        'busybox',
        'cat',
        '/sys/class/net/eth0/address',
      ]),
      '02:42:ac:11:00:97\n',
    );
    m.ok(['network', 'rm', 'mac-net']);
    assert.match(
      fails(['run', '--rm', '--network', 'host', '--mac-address', '02:42:ac:11:00:96', 'busybox', 'true']),
      /conflicting options: mac-address and the network mode/,
    );
  });
  it("docker update: dockerd's rules for memory against the swap limit, --cpus conflicts, --pids-limit -1", () => {
    const c = m
      .ok(['run', '-d', '--network', 'none', '--memory', '32m', '--memory-swap', '64m', 'busybox', 'sleep', '600'])
      .trim();
    assert.match(
      fails(['update', '--memory', '128m', c]),
      new RegExp(
        `Cannot update container ${c}: Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time`,
      ),
    );
    m.ok(['update', '--memory', '48m', c]);
    const mb = 1024 * 1024;
    const limits = () => {
      const h = inspect(c).HostConfig;
      return [h.Memory, h.MemorySwap, h.PidsLimit];
    };
    assert.deepEqual(limits(), [48 * mb, 64 * mb, null]);
    m.ok(['update', '--memory', '128m', '--memory-swap', '256m', c]);
    assert.deepEqual(limits(), [128 * mb, 256 * mb, null]);
    assert.equal(
      m.ok([
        'exec',
        c,
        'sh',
        '-c',
        'cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes',
      ]),
      `${128 * mb}\n`,
    );
    m.ok(['update', '--pids-limit', '50', c]);
    m.ok(['update', '--pids-limit', '-1', c]);
    assert.deepEqual(limits(), [128 * mb, 256 * mb, 0]);
    assert.match(
      fails(['update', '--cpus', '0.5', '--cpu-quota', '1000', c]),
      /Conflicting options: Nano CPUs and CPU Quota cannot both be set/,
    );
    assert.match(
      fails(['update', '--cpus', '64', c]),
      /Range of CPUs is from 0.01 to \d+\.00, as there are only \d+ CPUs available/,
    );
    m.ok(['rm', '-f', c]);
  });
});
