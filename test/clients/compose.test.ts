// docker-compose 1.29 (Debian's) against berthd: projects brought up, used and taken down as a user does.
// Most projects here use network_mode: bridge; the one on its own network (compose disconnects each created
// container from it and reconnects it with the service's aliases) finds its services through the embedded DNS.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { compose, requireClient } from '../helpers/clients';
import { type MirroredEngine, startMirroredEngine } from '../helpers/mirrored-engine';

describe('clients: docker-compose 1.29', function () {
  this.timeout(300_000);
  let target: MirroredEngine;
  /** A project directory with this compose file; returns a runner for `docker-compose -p name …` in it. */
  const project = (name: string, yaml: string) => {
    const dir = path.join(target.engine.dir, name);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'docker-compose.yml'), yaml);
    return async (...args: string[]) => {
      const r = await compose(target.engine.host, dir, name, args);
      assert.equal(r.code, 0, `docker-compose ${args.join(' ')}:\n${r.stderr}${r.stdout}`);
      return r.stdout;
    };
  };

  before(async function () {
    requireClient(this, 'docker-compose');
    target = await startMirroredEngine();
    target.ok(['pull', '-q', 'web']);
  });
  after(async () => target?.cleanup());

  it('up -d, ps, logs, exec, top, stop and down -v of a two-service project', async () => {
    const dc = project(
      'shop',
      `version: "2.4"
services:
  web:
    image: web
    network_mode: bridge
    volumes: [data:/data]
    labels: { tier: front }
  worker:
    image: busybox
    network_mode: bridge
    command: sh -c 'echo worker up; echo "$$GREETING"; exec sleep 600'
    environment: { GREETING: from-worker }
    depends_on: [web]
volumes:
  data: {}
`,
    );
    await dc('up', '-d');
    const names = target.ok(['ps', '--format', '{{.Names}}', '--filter', 'label=com.docker.compose.project=shop']);
    assert.deepEqual(names.trim().split('\n').sort(), ['shop_web_1', 'shop_worker_1']);
    assert.match(await dc('ps'), /shop_web_1 +httpd -f -v -p 80 -h \/var\/www +Up/);
    const deadline = Date.now() + 20_000;
    let logs = '';
    while (!/from-worker/.test(logs) && Date.now() < deadline) logs = await dc('logs', '--no-color', 'worker');
    assert.match(logs, /worker_1 +\| worker up\nworker_1 +\| from-worker/);
    assert.equal(await dc('exec', '-T', 'worker', 'sh', '-c', 'echo "in exec $GREETING"'), 'in exec from-worker\n');
    assert.match(await dc('top', 'worker'), /sleep 600/);
    assert.equal(target.ok(['inspect', '-f', '{{index .Config.Labels "tier"}}', 'shop_web_1']), 'front\n');
    assert.equal(target.ok(['volume', 'ls', '-q', '--filter', 'name=shop_data']), 'shop_data\n');
    await dc('stop', '-t', '1');
    assert.match(await dc('ps'), /shop_worker_1 .* Exit 137/);
    await dc('down', '-v');
    assert.equal(target.ok(['ps', '-aq', '--filter', 'label=com.docker.compose.project=shop']), '');
    assert.equal(target.ok(['volume', 'ls', '-q', '--filter', 'name=shop_data']), '');
  });

  it('up in the foreground attaches to the services and returns the exit code of the one asked for', async () => {
    const dc = project(
      'batch',
      `version: "2.4"
services:
  job:
    image: busybox
    network_mode: bridge
    command: sh -c 'echo job ran; exit 3'
`,
    );
    const r = await compose(target.engine.host, path.join(target.engine.dir, 'batch'), 'batch', [
      'up',
      '--no-color',
      '--exit-code-from',
      'job',
    ]);
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stdout, /job_1 +\| job ran/);
    await dc('down');
  });

  it('links (legacy, on the default bridge) give the alias in /etc/hosts and the link variables; init: true', async () => {
    const dc = project(
      'linked',
      `version: "2.4"
services:
  db:
    image: busybox
    network_mode: bridge
    command: sleep 600
    environment: { SECRET: s1 }
    expose: ["5432"]
  app:
    image: busybox
    network_mode: bridge
    init: true
    links: [db:database]
    command: sleep 600
`,
    );
    await dc('up', '-d');
    const env = await dc('exec', '-T', 'app', 'sh', '-c', 'env | grep ^DATABASE_ | sort');
    const ip = target.ok(['inspect', '-f', '{{.NetworkSettings.IPAddress}}', 'linked_db_1']).trim();
    assert.match(ip, /^\d+\.\d+\.\d+\.\d+$/);
    assert.equal(
      env,
      [
        'DATABASE_ENV_SECRET=s1',
        'DATABASE_NAME=/linked_app_1/database',
        `DATABASE_PORT=tcp://${ip}:5432`,
        `DATABASE_PORT_5432_TCP=tcp://${ip}:5432`,
        `DATABASE_PORT_5432_TCP_ADDR=${ip}`,
        'DATABASE_PORT_5432_TCP_PORT=5432',
        'DATABASE_PORT_5432_TCP_PROTO=tcp',
        '',
      ].join('\n'),
    );
    assert.match(
      await dc('exec', '-T', 'app', 'cat', '/etc/hosts'),
      new RegExp(`\n${ip.replace(/\./g, '\\.')}\tdatabase [0-9a-f]{12} linked_db_1\n`),
    );
    await dc('exec', '-T', 'app', 'ping', '-c', '1', '-W', '2', '-q', 'database');
    const links = JSON.parse(target.ok(['inspect', '-f', '{{json .HostConfig.Links}}', 'linked_app_1']));
    assert.ok(links.includes('/linked_db_1:/linked_app_1/database'), JSON.stringify(links));
    assert.equal(target.ok(['inspect', '-f', '{{.HostConfig.Init}}', 'linked_app_1']), 'true\n');
    assert.match(await dc('top', 'app'), /docker-init -- sleep 600/);
    await dc('down');
  });

  it('service options dockerd honours: init, pid, ipc (shareable, service:), mac_address, device rules, isolation, logging, restart', async () => {
    const dc = project(
      'opts',
      `version: "2.4"
services:
  main:
    image: busybox
    network_mode: bridge
    command: sh -c 'echo shared > /dev/shm/note; exec sleep 600'
    init: true
    pid: host
    ipc: shareable
    mac_address: "02:42:ac:11:00:55"
    device_cgroup_rules: ["c 42:* rmw"]
    isolation: default
    logging: { driver: json-file, options: { max-file: "3" } }
  peer:
    image: busybox
    network_mode: bridge
    ipc: "service:main"
    command: sleep 600
  bouncer:
    image: busybox
    network_mode: bridge
    restart: always
    command: "true"
`,
    );
    await dc('up', '-d');
    const hc = JSON.parse(target.ok(['inspect', '-f', '{{json .HostConfig}}', 'opts_main_1']));
    assert.deepEqual(
      [hc.Init, hc.PidMode, hc.IpcMode, hc.DeviceCgroupRules, hc.Isolation, hc.LogConfig],
      [true, 'host', 'shareable', ['c 42:* rmw'], 'default', { Type: 'json-file', Config: { 'max-file': '3' } }],
    );
    assert.equal(await dc('exec', '-T', 'main', 'cat', '/sys/class/net/eth0/address'), '02:42:ac:11:00:55\n');
    assert.equal(
      await dc('exec', '-T', 'main', 'readlink', '/proc/self/ns/pid'),
      `${fs.readlinkSync('/proc/self/ns/pid')}\n`,
    );
    assert.equal(await dc('exec', '-T', 'peer', 'cat', '/dev/shm/note'), 'shared\n');
    const deadline = Date.now() + 30_000;
    let restarts = 0;
    while (restarts < 1 && Date.now() < deadline) {
      restarts = Number(target.ok(['inspect', '-f', '{{.RestartCount}}', 'opts_bouncer_1']).trim());
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(restarts >= 1, 'the bouncer restarts by its policy');
    await dc('down');
  });

  it("a project on its own network: services find each other by name through the embedded DNS server, a scaled service's replicas in turn", async () => {
    const dc = project(
      'mesh',
      `version: "2.4"
services:
  web:
    image: web
    networks: { default: { aliases: [frontend] } }
  client:
    image: busybox
    command: sleep 600
`,
    );
    await dc('up', '-d', '--scale', 'web=2');
    const ips = ['mesh_web_1', 'mesh_web_2']
      .map((c) => target.ok(['inspect', '-f', '{{.NetworkSettings.Networks.mesh_default.IPAddress}}', c]).trim())
      .sort();
    assert.ok(
      ips.every((ip) => /^\d+\.\d+\.\d+\.\d+$/.test(ip)),
      ips.join(' '),
    );
    assert.match(await dc('exec', '-T', 'client', 'cat', '/etc/resolv.conf'), /^nameserver 127\.0\.0\.11$/m);
    // The service name and its alias stand for both replicas, the first one in turn.
    const firsts = new Set<string>();
    for (const name of ['web', 'frontend', 'web', 'frontend']) {
      const out = await dc('exec', '-T', 'client', 'nslookup', name);
      const addrs = [...out.matchAll(/^Address: (\d+\.\d+\.\d+\.\d+)$/gm)].map((m) => m[1]);
      assert.deepEqual([...addrs].sort(), ips, `${name}: ${out}`);
      firsts.add(addrs[0]);
    }
    assert.equal(firsts.size, 2, 'each replica comes first in turn');
    assert.match(await dc('exec', '-T', 'client', 'wget', '-qO-', 'http://web/'), /./);
    await dc('down');
    assert.equal(target.ok(['network', 'ls', '-q', '--filter', 'name=mesh_default']), '');
  });
});
