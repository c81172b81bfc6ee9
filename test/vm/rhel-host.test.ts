// Berth on a host that looks like CentOS/RHEL 9 below its API (test/helpers/rhel-host.ts: systemd as PID 1 on cgroup
// v2, firewalld on nftables, sshd, sudo), installed the way a user does it over Remote-SSH: the extension's one sudo
// command (systemdInstallCommand) makes berth.service, and the docker CLI talks to it through SSH. The run's one
// boot of that host (shared with rhel-rootless, left with no engine running); each scenario is one a user on such a host meets first: a published port from outside the host, outbound
// traffic from a container, DNS between containers, limits and stats on systemd's cgroups, firewalld reloading, the
// service restarting with containers running.
import * as assert from 'node:assert/strict';
import * as http from 'node:http';
import { systemdInstallCommand } from '../../src/extension/engine/launcher';
import { requireDeps } from '../helpers/deps';
import { requireDockerCli } from '../helpers/engine';
import { EXTENSION_PATH, type RhelHost, SERVER_NODE, sharedRhelHost, USER } from '../helpers/rhel-host';
import { ALLOCATE_UNTIL_KILLED, assertOomKilled, dockerOk, requireQemu } from '../helpers/vm';

const get = (port: number, timeoutMs = 20_000) =>
  new Promise<string>((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', timeout: timeoutMs }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(body));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from 127.0.0.1:${port} within ${timeoutMs} ms`)));
    req.on('error', reject);
  });

/** `get` until it answers (berthd re-applies its rules after a firewalld reload: seconds of firewall-cmd under TCG). */
async function answerWithin(port: number, ms: number): Promise<{ body: string; ms: number }> {
  const t0 = Date.now();
  for (;;) {
    try {
      return { body: (await get(port, 5000)).trim(), ms: Date.now() - t0 };
    } catch (err) {
      if (Date.now() - t0 > ms) throw err;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

describe('vm: a RHEL-like host (systemd, cgroup v2, firewalld on nftables), Berth installed as a service over SSH', function () {
  this.timeout(300_000);
  const rhel = sharedRhelHost();
  let host: RhelHost;
  const ok = dockerOk((args) => host.docker(args));
  // A web server answering "hello from <name>" on port 80 (busybox httpd).
  const web = (name: string) => [
    'busybox',
    'sh',
    '-c',
    `mkdir /www && echo hello from ${name} > /www/index.html && exec httpd -f -p 80 -h /www`,
  ];
  /**
   * firewall-cmd --reload. Under TCG on a busy machine firewalld may take longer than the client waits for its D-Bus
   * reply (25 s): the reload goes on, and --state answers once firewalld is done with it.
   */
  const reloadFirewalld = async () => {
    const r = host.ssh('sudo firewall-cmd --reload', { allowFail: true });
    if (r.code === 0) return;
    assert.match(r.out, /Did not receive a reply/, r.out);
    const t0 = Date.now();
    while (host.ssh('sudo firewall-cmd --state', { allowFail: true }).out.trim() !== 'running') {
      assert.ok(Date.now() - t0 < 180_000, 'firewalld still reloading after 3 minutes');
      await new Promise((r) => setTimeout(r, 2000));
    }
  };
  let webId: string;
  let webPort: number;

  before(async function () {
    this.timeout(600_000);
    requireQemu(this);
    requireDockerCli(this);
    requireDeps(this, {
      what: 'the OpenSSH client (ssh, ssh-keygen)',
      install: 'bash scripts/install-deps.sh --vm',
      present: () => require('node:child_process').spawnSync('ssh', ['-V']).status === 0,
    });
    host = await rhel.get();
    // The user's registry mirror (the test registry on the host's loopback, 10.0.2.2 from the guest).
    const daemon = JSON.stringify({
      'registry-mirrors': [`http://${host.registryInGuest}`],
      'insecure-registries': [host.registryInGuest],
    });
    host.ssh(`sudo install -d /etc/berth && echo '${daemon}' | sudo tee /etc/berth/daemon.json >/dev/null`);
    // What "Berth: Install Engine as a Service" puts in the terminal, run as the user would (sudo asks nothing of
    // cloud-user: RHEL's cloud images give it password-less sudo).
    host.ssh(systemdInstallCommand(EXTENSION_PATH, USER, SERVER_NODE), { timeoutMs: 180_000 });
    // A new login has the berth group: the docker CLI goes through SSH to the service's socket.
    await host.tunnel();
  });

  after(async function () {
    this.timeout(180_000);
    try {
      // The shared host as the next suite expects it: no containers (live-restore would keep them past the stop),
      // berth.service stopped.
      if (host) {
        const ids = host.docker(['ps', '-aq']).stdout.split('\n').filter(Boolean);
        if (ids.length) ok(['rm', '-f', ...ids]);
        host.ssh('sudo systemctl stop berth.service');
      }
    } finally {
      await rhel.release();
    }
  });

  it('the service: Delegate=yes, the engine on systemd cgroups (v2) as dockerd chooses there, firewalld running', () => {
    assert.equal(
      host.ssh('systemctl show -p Delegate -p ActiveState berth.service').out.trim(),
      'Delegate=yes\nActiveState=active',
    );
    const info = JSON.parse(ok(['info', '--format', '{{json .}}']));
    assert.equal(info.CgroupDriver, 'systemd');
    assert.equal(info.CgroupVersion, '2');
    assert.equal(host.ssh('sudo firewall-cmd --state').out.trim(), 'running');
    assert.match(host.ssh('sudo firewall-cmd --get-default-zone').out, /^public/);
  });

  it('run -p: the published port answers from outside the host (through its eth0 and firewalld)', async () => {
    webId = ok(['run', '-d', '--name', 'web', '-p', '8080:80', ...web('web')]);
    webPort = await host.forward(8080);
    // httpd may not listen yet when run -d returns (a busy TCG guest): QEMU's forward then resets the connection.
    const { body, ms } = await answerWithin(webPort, 60_000);
    assert.equal(body, 'hello from web');
    if (ms > 1000) console.log(`      (the published port answered after ${ms} ms)`);
  });

  it('a container reaches out: a request to the host (10.0.2.2) from the default bridge and a user network', () => {
    const url = `http://${host.registryInGuest}/v2/`;
    assert.equal(ok(['run', '--rm', 'busybox', 'wget', '-qO-', url]), '{}');
    ok(['network', 'create', 'appnet']);
    assert.equal(ok(['run', '--rm', '--network', 'appnet', 'busybox', 'wget', '-qO-', url]), '{}');
  });

  it('DNS between two containers on a user network', () => {
    ok(['run', '-d', '--name', 'api', '--network', 'appnet', ...web('api')]);
    assert.equal(
      ok(['run', '--rm', '--network', 'appnet', 'busybox', 'wget', '-qO-', 'http://api/']),
      'hello from api',
    );
  });

  it('limits on systemd cgroups: the scope system.slice/berth-<id>.scope, the container sees its own, stats, update, pause', () => {
    const id = ok(['run', '-d', '--memory', '64m', '--cpus', '0.5', '--pids-limit', '20', 'busybox', 'sleep', '600']);
    const scope = `/sys/fs/cgroup/system.slice/berth-${id}.scope`;
    const files = ['memory.max', 'cpu.max', 'pids.max'];
    const want = [String(64 << 20), '50000 100000', '20'];
    assert.deepEqual(
      host
        .ssh(`cd ${scope} && cat ${files.join(' ')}`)
        .out.trim()
        .split('\n'),
      want,
    );
    // cgroupns private: the container's /sys/fs/cgroup is its own scope.
    assert.deepEqual(
      ok(['exec', id, 'cat', '/proc/self/cgroup', ...files.map((f) => `/sys/fs/cgroup/${f}`)]).split('\n'),
      ['0::/', ...want],
    );
    assert.equal(
      host.ssh(`systemctl show -p Slice -p ActiveState berth-${id}.scope`).out.trim(),
      'Slice=system.slice\nActiveState=active',
    );
    const stats = JSON.parse(ok(['stats', '--no-stream', '--format', '{{json .}}', id]));
    assert.match(stats.MemUsage, /\/ 64MiB$/);
    assert.equal(stats.PIDs, '1');
    ok(['update', '--memory', '96m', '--memory-swap', '192m', '--cpus', '1.5', '--pids-limit', '33', id]);
    assert.deepEqual(
      host
        .ssh(`cd ${scope} && cat ${files.join(' ')}`)
        .out.trim()
        .split('\n'),
      [String(96 << 20), '150000 100000', '33'],
    );
    ok(['pause', id]);
    assert.equal(host.ssh(`cat ${scope}/cgroup.freeze`).out.trim(), '1');
    assert.equal(ok(['inspect', '-f', '{{.State.Status}}', id]), 'paused');
    ok(['unpause', id]);
    assert.equal(host.ssh(`cat ${scope}/cgroup.freeze`).out.trim(), '0');
    ok(['rm', '-f', id]);
    assert.equal(host.ssh(`test -e ${scope} && echo left || echo gone`).out.trim(), 'gone');
  });

  it('OOM on systemd cgroups: the kill in the scope’s memory.events is State.OOMKilled, exit 137', () => {
    assertOomKilled(host.docker, 'oom', 24);
  });

  it('firewall-cmd --reload: published ports, outbound traffic and DNS still work', async () => {
    await reloadFirewalld();
    const { body, ms } = await answerWithin(webPort, 150_000);
    assert.equal(body, 'hello from web');
    console.log(`      (published port answering again ${ms} ms after the reload)`);
    assert.equal(ok(['run', '--rm', 'busybox', 'wget', '-qO-', `http://${host.registryInGuest}/v2/`]), '{}');
    assert.equal(
      ok(['run', '--rm', '--network', 'appnet', 'busybox', 'wget', '-qO-', 'http://api/']),
      'hello from api',
    );
  });

  it('systemctl restart berth: running containers stay (live-restore) and still answer', async () => {
    const pid = ok(['inspect', '-f', '{{.State.Pid}}', webId]);
    host.ssh('sudo systemctl restart berth.service');
    await host.tunnel();
    assert.equal(ok(['inspect', '-f', '{{.State.Status}} {{.State.Pid}}', webId]), `running ${pid}`);
    assert.equal((await get(webPort)).trim(), 'hello from web');
    // The restarted engine finds the live container's scope again: stats and update follow the systemd driver.
    const stats = JSON.parse(ok(['stats', '--no-stream', '--format', '{{json .}}', webId]));
    assert.equal(stats.PIDs, '1');
    ok(['update', '--memory', '128m', '--memory-swap', '256m', webId]);
    assert.equal(
      host.ssh(`cat /sys/fs/cgroup/system.slice/berth-${webId}.scope/memory.max`).out.trim(),
      String(128 << 20),
    );
    assert.equal(
      ok(['run', '--rm', '--network', 'appnet', 'busybox', 'wget', '-qO-', 'http://api/']),
      'hello from api',
    );
  });

  it('firewall-cmd --reload while berth is stopped: the restored containers’ ports, outbound traffic and DNS work once it starts', async () => {
    // A second container on appnet that lives through it, to ask the embedded DNS server for api.
    ok(['run', '-d', '--name', 'client', '--network', 'appnet', 'busybox', 'sleep', '3600']);
    const outbound = (name: string) =>
      host.docker(['exec', name, 'wget', '-qO-', `http://${host.registryInGuest}/v2/`]);
    host.ssh('sudo systemctl stop berth.service');
    await reloadFirewalld();
    // The reload took Berth's zone binding and rules with it: nothing answers while no engine is there to redo them.
    const down = await get(webPort, 5000).then(
      (body) => `answered: ${body.trim()}`,
      (err: Error) => err.message,
    );
    console.log(`      (the published port with berth stopped after the reload: ${down})`);
    host.ssh('sudo systemctl start berth.service');
    await host.tunnel();
    // Only containers that were there before: a new one would have its network's rules made on its attach.
    const { body, ms } = await answerWithin(webPort, 150_000);
    assert.equal(body, 'hello from web');
    console.log(`      (published port answering ${ms} ms after the tunnel to the started engine)`);
    // Outbound needs the bridges back in firewalld's zone: bound in the background, seconds of firewall-cmd.
    for (const name of ['web', 'client']) {
      const t0 = Date.now();
      let r = outbound(name);
      while (r.code !== 0 && Date.now() - t0 < 150_000) {
        console.log(`      (${name} outbound: exit ${r.code} ${r.stderr.trim()}; again)`);
        await new Promise((res) => setTimeout(res, 3000));
        r = outbound(name);
      }
      assert.equal(`${r.code} ${r.stdout.trim()}`, '0 {}', `${name}: ${r.stderr}`);
    }
    assert.equal(ok(['exec', 'client', 'wget', '-qO-', 'http://api/']), 'hello from api');
    // The started engine listens for firewalld again: a reload now re-applies the restored containers' rules.
    await reloadFirewalld();
    assert.equal((await answerWithin(webPort, 150_000)).body, 'hello from web');
    const r = outbound('client');
    assert.equal(`${r.code} ${r.stdout.trim()}`, '0 {}', r.stderr);
  });

  it('native.cgroupdriver changed to cgroupfs across a restart: containers that kept running stay on their systemd scope', async () => {
    const scope = `/sys/fs/cgroup/system.slice/berth-${webId}.scope`;
    // Allocates past its limit once told to, to see the OOM kill of a container started under the other driver.
    const oomId = ok([
      'run',
      '-d',
      '-m',
      '24m',
      '--memory-swap',
      '24m',
      'busybox',
      'sh',
      '-c',
      `while [ ! -e /tmp/go ]; do sleep 0.2; done; ${ALLOCATE_UNTIL_KILLED}`,
    ]);
    const daemon = JSON.stringify({
      'registry-mirrors': [`http://${host.registryInGuest}`],
      'insecure-registries': [host.registryInGuest],
      'exec-opts': ['native.cgroupdriver=cgroupfs'],
    });
    host.ssh(`echo '${daemon}' | sudo tee /etc/berth/daemon.json >/dev/null && sudo systemctl restart berth.service`);
    await host.tunnel();
    assert.equal(ok(['info', '--format', '{{.CgroupDriver}}']), 'cgroupfs');
    // A new container: the new driver's cgroup.
    const fresh = ok(['run', '-d', '-m', '32m', 'busybox', 'sleep', '600']);
    assert.equal(host.ssh(`cat /sys/fs/cgroup/berth/${fresh}/memory.max`).out.trim(), String(32 << 20));
    ok(['rm', '-f', fresh]);
    // The container from before: its scope's numbers, limits, freezer, kill.
    const stats = JSON.parse(ok(['stats', '--no-stream', '--format', '{{json .}}', webId]));
    assert.equal(stats.PIDs, '1');
    assert.match(stats.MemUsage, /\/ 128MiB$/);
    ok(['update', '--memory', '160m', '--memory-swap', '320m', '--pids-limit', '44', webId]);
    assert.deepEqual(host.ssh(`cd ${scope} && cat memory.max pids.max`).out.trim().split('\n'), [
      String(160 << 20),
      '44',
    ]);
    ok(['update', '--pids-limit', '-1', webId]);
    assert.equal(host.ssh(`cat ${scope}/pids.max`).out.trim(), 'max');
    ok(['pause', webId]);
    assert.equal(host.ssh(`cat ${scope}/cgroup.freeze`).out.trim(), '1');
    ok(['unpause', webId]);
    assert.equal(host.ssh(`cat ${scope}/cgroup.freeze`).out.trim(), '0');
    ok(['exec', oomId, 'touch', '/tmp/go']);
    assert.equal(ok(['wait', oomId]), '137');
    assert.equal(ok(['inspect', '-f', '{{.State.OOMKilled}}', oomId]), 'true');
    ok(['kill', webId]);
    assert.equal(ok(['wait', webId]), '137');
    assert.equal(host.ssh(`test -e ${scope} && echo left || echo gone`).out.trim(), 'gone');
  });
});
