// Rootless Berth on a RHEL-like host over SSH (test/helpers/rhel-host.ts: systemd as PID 1 on cgroup v2, logind,
// cloud-user with a real login session and its user@1000.service), started the way the extension starts it: the
// extension's own launcher code (src/extension/engine/user-service.ts startLocalEngine, bundled as the extension
// is) run by the VS Code server's node as cloud-user from an SSH session. Everything an SSH login spawns lives in its
// session scope, root's and not delegated; the launcher starts the engine as a transient service of the user's
// systemd with Delegate=yes instead, so limits work there — and the engine outlives the SSH session.
//
// What the set-up adds, as root, to what a RHEL 9 host has: the user's ~/.local/share/berth on the data disk (this
// host's root file system is an overlay, where overlay cannot stack; RHEL's /home is xfs). The stand-in for the VS
// Code server is a node process an SSH session leaves running (it keeps the login session, and so the user's
// systemd, alive as the server does); it also relays the test registry to the guest's loopback, which is what
// 10.0.2.2 is from the rootless engine's network namespace.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildSync } from 'esbuild';
import { requireDeps } from '../helpers/deps';
import { requireDockerCli, ROOT } from '../helpers/engine';
import { EXTENSION_PATH, type RhelHost, SERVER_DIR, SERVER_NODE, sharedRhelHost, USER } from '../helpers/rhel-host';
import { assertOomKilled, dockerOk, requireQemu } from '../helpers/vm';

const UID = 1000;
const SOCKET = `/run/user/${UID}/berth/berth.sock`;
const UNIT = 'berthd.service';
/** Where systemd-run --user puts a transient service: app.slice of the user's manager. */
const UNIT_CGROUP = `/user.slice/user-${UID}.slice/user@${UID}.service/app.slice/${UNIT}`;
const LOG = `/home/${USER}/berth-storage/berthd.log`;

// The extension's code as lifecycle.ts runs it when no engine answers (start), and its stop and Diagnose.
const AS_EXTENSION = `
const u = require('./src/extension/engine/user-service');
const d = require('./src/extension/engine/diagnose');
const [what, extensionPath, logFile] = process.argv.slice(2);
(async () => {
  // The engine's first start takes longer than the extension waits under TCG.
  if (what === 'start') console.log(JSON.stringify(await u.startLocalEngine(extensionPath, logFile, { timeoutMs: 180000 })));
  else if (what === 'stop') console.log(JSON.stringify(await u.stopRootlessEngine()));
  else console.log(JSON.stringify(d.diagnose().checks));
})().catch((e) => { console.error(e.message); process.exit(1); });
`;

// The VS Code server's stand-in: it stays, and relays the registry port on the guest's loopback.
const STAND_IN = `const net = require('net');
const port = Number(process.argv[2]);
net.createServer((c) => { const u = net.connect(port, '10.0.2.2'); c.pipe(u); u.pipe(c);
  c.on('error', () => u.destroy()); u.on('error', () => c.destroy()); }).listen(port, '127.0.0.1');`;

describe('vm: rootless Berth on a RHEL-like host, started by the extension’s launcher in a delegated user service', function () {
  this.timeout(300_000);
  const rhel = sharedRhelHost();
  let host: RhelHost;
  let registry = '';
  const ok = dockerOk((args) => host.docker(args));
  const asExtension = (what: string) =>
    host.ssh(`${SERVER_NODE} ${SERVER_DIR}/as-extension.js ${what} ${EXTENSION_PATH} ${LOG}`, { timeoutMs: 240_000 });
  const engineLog = () => host.ssh(`cat ${LOG}`, { allowFail: true }).out;

  before(async function () {
    this.timeout(900_000);
    requireQemu(this);
    requireDockerCli(this);
    requireDeps(this, {
      what: 'the OpenSSH client (ssh, ssh-keygen)',
      install: 'bash scripts/install-deps.sh --vm',
      present: () => spawnSync('ssh', ['-V']).status === 0,
    });
    host = await rhel.get();
    registry = host.registryInGuest;
    // The launcher bundled as the extension is, beside the staged server (shared read-only at ~/.vscode-server).
    const server = path.join(host.dir, 'server');
    buildSync({
      stdin: { contents: AS_EXTENSION, resolveDir: ROOT, loader: 'js' },
      bundle: true,
      platform: 'node',
      outfile: path.join(server, 'as-extension.js'),
      logLevel: 'error',
    });
    fs.writeFileSync(path.join(server, 'stand-in.js'), STAND_IN);
    host.ssh(
      [
        'set -e',
        'sudo install -d -o cloud-user -g cloud-user /var/lib/berth/rootless-data ~/.local ~/.local/share ~/.local/share/berth ~/.config/berth ~/berth-storage',
        'sudo mount --bind /var/lib/berth/rootless-data ~/.local/share/berth',
        `echo '{"insecure-registries":["${registry}"]}' > ~/.config/berth/daemon.json`,
        `setsid ${SERVER_NODE} ${SERVER_DIR}/stand-in.js ${registry.split(':')[1]} </dev/null >/dev/null 2>&1 &`,
        'echo $! > ~/stand-in.pid',
      ].join('\n'),
    );
  });

  after(async function () {
    this.timeout(300_000);
    try {
      // The shared host as the next suite expects it: no rootless engine (the last test stops it; a failed run may
      // not have), no stand-in server, the storage's bind mount gone.
      if (host) {
        if (host.ssh(`systemctl --user is-active ${UNIT}`, { allowFail: true }).out.trim() === 'active')
          asExtension('stop');
        host.ssh('kill $(cat ~/stand-in.pid) && rm ~/stand-in.pid && sudo umount ~/.local/share/berth');
      }
    } finally {
      await rhel.release();
    }
  });

  it('the launcher starts the engine as berthd.service of the user’s systemd, delegated, not in the SSH session’s scope', async function () {
    this.timeout(600_000); // the engine's first start: 3.5 min under TCG with other guests running
    const r = asExtension('start');
    assert.deepEqual(
      JSON.parse(r.out.trim().split('\n').pop()!),
      { choice: 'rootless', host: `unix://${SOCKET}`, how: { how: 'user-service', unit: UNIT } },
      `${r.out}\n${engineLog()}`,
    );
    assert.equal(
      host.ssh(`systemctl --user show -p Delegate -p KillMode -p ControlGroup ${UNIT}`).out.trim(),
      `ControlGroup=${UNIT_CGROUP}\nDelegate=yes\nKillMode=mixed`,
    );
    // The engine (the pidfile's process, inside its namespaces) and its outer half sit in the unit's leaf.
    const pid = host.ssh(`cat /run/user/${UID}/berth/berthd.pid`).out.trim();
    assert.equal(host.ssh(`cat /proc/${pid}/cgroup`).out.trim(), `0::${UNIT_CGROUP}/berthd`);
    assert.equal(host.ssh(`cat /sys/fs/cgroup${UNIT_CGROUP}/cgroup.subtree_control`).out.trim(), 'cpu memory pids');
    await host.tunnel(SOCKET);
    const info = JSON.parse(ok(['info', '--format', '{{json .}}']));
    assert.ok(info.SecurityOptions.includes('name=rootless'), info.SecurityOptions);
    assert.equal(info.CgroupDriver, 'cgroupfs');
    assert.equal(info.CgroupVersion, '2');
    assert.deepEqual([info.MemoryLimit, info.CpuCfsQuota, info.PidsLimit], [true, true, true]);
    assert.ok(!info.Warnings.some((w: string) => /resource limits need/.test(w)), info.Warnings.join('\n'));
    // What user@.service delegates on systemd 252 (cpu memory pids): the others are named.
    assert.ok(
      info.Warnings.includes(`WARNING: the io controller is not delegated to ${USER}: limits that need it are refused`),
    );
  });

  it('the engine outlives the SSH session that started it (its scope is gone, the unit answers)', async () => {
    // The launcher's session ended when its SSH command did; logind stops a user's systemd 10 s after the last
    // session, and the stand-in server keeps one, as the VS Code server does.
    await new Promise((r) => setTimeout(r, 12_000));
    assert.equal(host.ssh(`systemctl --user is-active ${UNIT}`).out.trim(), 'active');
    assert.match(ok(['version', '--format', '{{.Server.Version}}']), /\S/);
  });

  it('docker run -m 64m --cpus 0.5: memory.max and cpu.max inside, the container’s cgroup below the unit', () => {
    ok(['pull', '-q', `${registry}/library/busybox`]);
    ok(['tag', `${registry}/library/busybox`, 'busybox']);
    const id = ok(['run', '-d', '-m', '64m', '--cpus', '0.5', '--pids-limit', '20', 'busybox', 'sleep', '600']);
    const want = [String(64 << 20), '50000 100000', '20'];
    const files = ['memory.max', 'cpu.max', 'pids.max'];
    assert.deepEqual(ok(['exec', id, 'cat', ...files.map((f) => `/sys/fs/cgroup/${f}`)]).split('\n'), want);
    assert.deepEqual(
      host
        .ssh(`cd /sys/fs/cgroup${UNIT_CGROUP}/berth/${id} && cat ${files.join(' ')}`)
        .out.trim()
        .split('\n'),
      want,
    );
    const stats = JSON.parse(ok(['stats', '--no-stream', '--format', '{{json .}}', id]));
    assert.match(stats.MemUsage, /\/ 64MiB$/);
    ok(['rm', '-f', id]);
  });

  it('--cpus is enforced: a busy loop at --cpus 0.2 is throttled', () => {
    const out = ok([
      ...['run', '--rm', '--cpus', '0.2', 'busybox', 'sh', '-c'],
      'timeout 3 sh -c "while :; do :; done"; cat /sys/fs/cgroup/cpu.stat',
    ]);
    const throttled = Number(/^nr_throttled (\d+)$/m.exec(out)?.[1]);
    assert.ok(throttled > 0, out);
  });

  it('OOM: -m 24m kills the allocation, State.OOMKilled true, exit 137', () => {
    assertOomKilled(host.docker, 'oom', 24);
  });

  it('Diagnose there: the user service, its controllers, and lingering off with what it means', () => {
    const checks = JSON.parse(asExtension('diagnose').out.trim().split('\n').pop()!);
    const by = Object.fromEntries(checks.map((c: any) => [c.name, c]));
    assert.equal(
      by["rootless engine's cgroup"].found,
      'systemd 252 user manager: Berth runs the engine as berthd.service with Delegate=yes',
    );
    assert.equal(
      by['delegated controllers'].found,
      'cpu memory pids (refused: --cpuset-cpus, --cpuset-mems, --blkio-weight)',
    );
    assert.equal(by.lingering.ok, false);
    assert.equal(by.lingering.fix.note, `sudo loginctl enable-linger ${USER}`);
  });

  it('stopping it leaves nothing: no unit, no cgroup, no process of the engine or its containers', () => {
    ok(['run', '-d', '--name', 'left', 'busybox', 'sleep', '600']);
    assert.equal(JSON.parse(asExtension('stop').out.trim().split('\n').pop()!), true);
    assert.equal(host.ssh(`systemctl --user is-active ${UNIT}`, { allowFail: true }).out.trim(), 'inactive');
    assert.equal(host.ssh(`test -e /sys/fs/cgroup${UNIT_CGROUP} && echo left || echo gone`).out.trim(), 'gone');
    const procs = host
      .ssh(`ps -u ${USER} -o pid=,args=`)
      .out.split('\n')
      .filter((l) => /engine\.js|slirp4netns|berth-shim|sleep 600|runc/.test(l));
    assert.deepEqual(procs, []);
    assert.equal(host.ssh(`test -e ${SOCKET} && echo left || echo gone`).out.trim(), 'gone');
  });
});
