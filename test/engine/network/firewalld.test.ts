// Hosts unlike Debian's: firewalld (CentOS/RHEL's default firewall): Berth's bridges go in a zone of their own with target ACCEPT and a
// forwarding policy into it, as dockerd does, and a firewall-cmd --reload binds them again and re-applies their
// rules. No firewalld here: a fake busctl records the D-Bus calls it is asked to make and answers as firewalld
// would (keeping its zones), a fake firewall-cmd stands in where a firewalld before 0.9 needs it, a fake dbus-monitor
// emits firewalld's Reloaded signal when told to.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Firewalld, POLICY, setupCommands, ZONE } from '../../../src/engine/network/firewalld';
import { probeRestoreWait } from '../../../src/engine/network/host';
import { type Registry, seedMirror, startRegistry } from '../../fixtures';
import { startEngine, type TestEngine } from '../../helpers/engine';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const F = 'org.fedoraproject.FirewallD1';
const P = '/org/fedoraproject/FirewallD1';
/** The busctl calls as the fake records them (its --timeout left out). */
const STATE = `get-property ${F} ${P} ${F} state`;
const bindCall = (bridge: string) => `call ${F} ${P} ${F}.zone changeZoneOfInterface ss ${ZONE} ${bridge}`;
const RELOAD = `call ${F} ${P} ${F} reload`;
const ADD_ZONE = `call ${F} ${P}/config ${F}.config addZone2 sa{sv} ${ZONE} 1 target s ACCEPT`;

function fakes(state: 'running' | 'not running', policies = true, reloadReply = true) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'firewalld-'));
  const calls = path.join(dir, 'calls');
  const zones = path.join(dir, 'zones');
  fs.writeFileSync(zones, 'block dmz drop external home internal public trusted work\n');
  fs.writeFileSync(
    path.join(dir, 'busctl'),
    `#!/bin/sh
case "$1" in --timeout=*) shift ;; esac
echo "$*" >> ${calls}
echo $$ >> ${dir}/pids
# A slow firewalld (seconds a call under emulation): one process, killed with its pid; the permanent set-up is not.
[ -e ${dir}/slow ] && case "$*" in *" ${P}/config "*) ;; *) exec sleep 5 ;; esac
case "$*" in
  "${STATE}") ${state === 'running' ? `echo 's "RUNNING"'` : `echo "Failed to get property state on interface ${F}: The name ${F} was not provided by any .service files" >&2; exit 1`} ;;
  *" getZoneNames") printf 'as %d' $(wc -w < ${zones}); for z in $(cat ${zones}); do printf ' "%s"' $z; done; echo ;;
  *" getPolicyNames") ${policies ? `echo 'as 1 "allow-host-ipv6"'` : `echo "Call failed: No such method 'getPolicyNames'" >&2; exit 1`} ;;
  "${ADD_ZONE}") echo "$(cat ${zones}) ${ZONE}" > ${zones}; echo 'o "${P}/config/zone/10"' ;;
  *" addPolicy "*) echo 'o "${P}/config/policy/2"' ;;
  "${RELOAD}") ${reloadReply ? 'true' : 'echo "Call failed: Connection timed out" >&2; exit 1'} ;;
  *" changeZoneOfInterface ss ${ZONE} br-kept") echo "Call failed: ZONE_ALREADY_SET: '${ZONE}' already bound to 'br-kept'" >&2; exit 1 ;;
esac
`,
    { mode: 0o755 },
  );
  // firewall-cmd: only a firewalld before 0.9 (no policies) has its zone made with it.
  fs.writeFileSync(
    path.join(dir, 'firewall-cmd'),
    `#!/bin/sh
echo "$*" >> ${calls}
echo $$ >> ${dir}/pids
case "$*" in
  "--permanent --new-zone=${ZONE}") echo "$(cat ${zones}) ${ZONE}" > ${zones}; echo success ;;
  *) echo success ;;
esac
`,
    { mode: 0o755 },
  );
  // dbus-monitor: prints a Reloaded signal each time the test touches the trigger file.
  fs.writeFileSync(
    path.join(dir, 'dbus-monitor'),
    `#!/bin/sh
echo "$*" > ${dir}/monitor-args
echo $$ >> ${dir}/pids
n=0
while :; do
  if [ -e ${dir}/reload ]; then rm -f ${dir}/reload
    echo "signal time=1 sender=:1.5 -> destination=(null destination) serial=9 path=/org/fedoraproject/FirewallD1; interface=org.fedoraproject.FirewallD1; member=Reloaded"
  fi
  sleep 0.05
done
`,
    { mode: 0o755 },
  );
  const fw = new Firewalld({
    firewallCmd: path.join(dir, 'firewall-cmd'),
    busctl: path.join(dir, 'busctl'),
    dbusMonitor: path.join(dir, 'dbus-monitor'),
  });
  return {
    dir,
    fw,
    calls: () => (fs.existsSync(calls) ? fs.readFileSync(calls, 'utf8').trim().split('\n') : []),
    reset: () => fs.rmSync(calls, { force: true }),
    reload: () => fs.writeFileSync(path.join(dir, 'reload'), ''),
    slow: () => fs.writeFileSync(path.join(dir, 'slow'), ''),
    /** Fake busctl, firewall-cmd and dbus-monitor processes still running. */
    alive: () =>
      (fs.existsSync(path.join(dir, 'pids')) ? fs.readFileSync(path.join(dir, 'pids'), 'utf8').split('\n') : [])
        .filter(Boolean)
        .map(Number)
        .filter((pid) => {
          try {
            process.kill(pid, 0);
            return true;
          } catch {
            return false;
          }
        }),
    cleanup: async () => {
      await fw.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe('network: firewalld zone and forwarding policy', () => {
  it('plans the zone (target ACCEPT) with firewall-cmd only where missing (firewalld before 0.9)', () => {
    assert.deepEqual(setupCommands(['public']), [
      ['--permanent', `--new-zone=${ZONE}`],
      ['--permanent', `--zone=${ZONE}`, '--set-target=ACCEPT'],
    ]);
    assert.deepEqual(setupCommands(['public', ZONE]), []);
  });

  it('does nothing but ask for its state where firewalld is not running', async () => {
    const f = fakes('not running');
    try {
      let reapplied = 0;
      await f.fw.bind('br-x', async () => void reapplied++);
      await f.fw.bind('br-y', async () => void reapplied++);
      assert.deepEqual(f.calls(), [STATE]);
      assert.equal(reapplied, 0);
    } finally {
      await f.cleanup();
    }
  });

  it('makes the zone and policy once (then a reload), binds each bridge, unbinds it when it goes', async () => {
    const f = fakes('running');
    try {
      await f.fw.bind('br-a', async () => {});
      assert.deepEqual(f.calls(), [
        STATE,
        `call ${F} ${P}/config ${F}.config getZoneNames`,
        `call ${F} ${P}/config ${F}.config getPolicyNames`,
        ADD_ZONE,
        `call ${F} ${P}/config ${F}.config addPolicy sa{sv} ${POLICY} 3 ingress_zones as 1 ANY egress_zones as 1 ${ZONE} target s ACCEPT`,
        RELOAD,
        bindCall('br-a'),
      ]);
      f.reset();
      await f.fw.bind('br-a', async () => {}); // bound already: nothing to ask
      await f.fw.bind('br-b', async () => {});
      assert.deepEqual(f.calls(), [bindCall('br-b')]);
      f.reset();
      await f.fw.unbind('br-b');
      assert.deepEqual(f.calls(), [`call ${F} ${P} ${F}.zone removeInterface ss ${ZONE} br-b`]);
    } finally {
      await f.cleanup();
    }
  });

  it('a bridge still in the zone from before the engine restarted is bound (as firewall-cmd, ZONE_ALREADY_SET is no error)', async () => {
    const f = fakes('running');
    try {
      const reapplied: string[] = [];
      await f.fw.bind('br-kept', async () => void reapplied.push('br-kept'));
      f.reload();
      for (let i = 0; i < 100 && reapplied.length < 1; i++) await sleep(50);
      assert.deepEqual(reapplied, ['br-kept'], 'tracked, so a reload re-applies its rules');
    } finally {
      await f.cleanup();
    }
  });

  it('a firewalld before 0.9 (no policies): the zone made with firewall-cmd, the rest over D-Bus', async () => {
    const f = fakes('running', false);
    try {
      await f.fw.bind('br-a', async () => {});
      assert.deepEqual(f.calls().slice(2), [
        `call ${F} ${P}/config ${F}.config getPolicyNames`,
        `--permanent --new-zone=${ZONE}`,
        `--permanent --zone=${ZONE} --set-target=ACCEPT`,
        RELOAD,
        bindCall('br-a'),
      ]);
    } finally {
      await f.cleanup();
    }
  });

  it('a reload slower than its call waits for the reply: the state says when it is done, then the bridge is bound', async () => {
    const f = fakes('running', true, false);
    try {
      await f.fw.bind('br-a', async () => {});
      assert.deepEqual(f.calls().slice(-3), [RELOAD, STATE, bindCall('br-a')]);
    } finally {
      await f.cleanup();
    }
  });

  it('after firewalld’s Reloaded signal binds every bridge again and re-applies its rules', async () => {
    const f = fakes('running', false);
    try {
      const reapplied: string[] = [];
      await f.fw.bind('br-a', async () => void reapplied.push('br-a'));
      await f.fw.bind('br-b', async () => void reapplied.push('br-b'));
      assert.match(
        fs.readFileSync(path.join(f.dir, 'monitor-args'), 'utf8'),
        /--system .*FirewallD1.*member='Reloaded'/,
      );
      f.reset();
      f.reload();
      for (let i = 0; i < 100 && reapplied.length < 2; i++) await sleep(50);
      assert.deepEqual(reapplied, ['br-a', 'br-b']);
      const calls = f.calls();
      assert.ok(calls.includes(bindCall('br-a')), calls.join('\n'));
      assert.ok(calls.includes(bindCall('br-b')), calls.join('\n'));
      // The zone exists now (permanent): no second creation, no reload loop.
      assert.ok(!calls.some((c) => c.includes('--new-zone') || c === RELOAD), calls.join('\n'));
    } finally {
      await f.cleanup();
    }
  });
});

describe('network: firewalld binding at start, and a quick stop', () => {
  // The engine's start binds the restored bridges in the background; a stop soon after must leave no busctl
  // or dbus-monitor running, nor start one later (the background binding would go on into a stopped engine's host).
  it('a stop while the binding is still asking for the state: nothing runs after, nothing starts later', async () => {
    const f = fakes('running');
    try {
      f.slow();
      f.fw.bindInBackground('br-a', async () => {});
      for (let i = 0; i < 100 && !f.calls().length; i++) await sleep(20);
      assert.deepEqual(f.calls(), [STATE]);
      await f.fw.close();
      assert.deepEqual(f.alive(), [], 'busctl still running after close');
      await sleep(700);
      assert.deepEqual(f.alive(), [], 'started after close');
      assert.deepEqual(f.calls(), [STATE]);
      assert.ok(!fs.existsSync(path.join(f.dir, 'monitor-args')), 'dbus-monitor started after close');
    } finally {
      await f.cleanup();
    }
  });

  it('a stop while a bridge is being bound, the Reloaded watch on: both end', async () => {
    const f = fakes('running');
    try {
      await f.fw.bind('br-a', async () => {});
      assert.ok(fs.existsSync(path.join(f.dir, 'monitor-args')), 'the watch is on');
      f.slow();
      f.reset();
      f.fw.bindInBackground('br-b', async () => {});
      for (let i = 0; i < 100 && !f.calls().length; i++) await sleep(20);
      assert.deepEqual(f.calls(), [bindCall('br-b')]);
      await f.fw.close();
      assert.deepEqual(f.alive(), [], 'busctl or dbus-monitor still running after close');
    } finally {
      await f.cleanup();
    }
  });

  it('a permanent set-up begun goes to its end (a zone without its policy would pass for made), then stops', async () => {
    const f = fakes('running');
    try {
      f.fw.bindInBackground('br-a', async () => {});
      for (let i = 0; i < 200 && !f.calls().includes(ADD_ZONE); i++) await sleep(5);
      await f.fw.close();
      assert.deepEqual(f.alive(), []);
      const calls = f.calls();
      assert.ok(
        calls.some((c) => c.includes(' addPolicy ')),
        calls.join('\n'),
      );
      assert.ok(calls.includes(RELOAD), calls.join('\n'));
      assert.ok(!calls.some((c) => c.includes('changeZoneOfInterface')), calls.join('\n'));
      assert.ok(!fs.existsSync(path.join(f.dir, 'monitor-args')), 'dbus-monitor started after close');
    } finally {
      await f.cleanup();
    }
  });
});

describe('berthd with firewalld: a stop right after a start', function () {
  this.timeout(180_000);
  let registry: Registry;
  let engine: TestEngine | undefined;
  let f: ReturnType<typeof fakes>;

  before(async () => {
    registry = await startRegistry();
    await seedMirror(registry);
    f = fakes('running');
  });

  after(async () => {
    if (engine) {
      engine.docker(['rm', '-f', 'kept']);
      await engine.cleanup();
    }
    await registry?.stop();
    await f?.cleanup();
  });

  it('leaves no busctl or dbus-monitor of the restored bridges’ background binding', async () => {
    engine = await startEngine({
      config: { 'registry-mirrors': [registry.url], 'default-address-pools': [{ base: '10.197.0.0/16', size: 24 }] },
      env: {
        BERTH_FIREWALL_CMD: path.join(f.dir, 'firewall-cmd'),
        BERTH_BUSCTL: path.join(f.dir, 'busctl'),
        BERTH_DBUS_MONITOR: path.join(f.dir, 'dbus-monitor'),
      },
    });
    const ok = (...args: string[]) => {
      const r = engine!.docker(args);
      assert.equal(r.code, 0, `docker ${args.join(' ')}: ${r.stderr}`);
      return r.stdout.trim();
    };
    ok('run', '-d', '--name', 'kept', 'busybox', 'sleep', '600');
    const bridge = JSON.parse(ok('network', 'inspect', 'bridge'))[0].Options['com.docker.network.bridge.name'];
    assert.ok(f.calls().includes(bindCall(bridge)), f.calls().join('\n'));
    await engine.stop();
    assert.deepEqual(f.alive(), [], 'the stop ends the Reloaded watch');
    // The container kept running; the next start binds its bridge again in the background, each call taking
    // seconds (as under emulation), and is stopped at once.
    f.slow();
    f.reset();
    await engine.restart();
    await engine.stop();
    assert.deepEqual(f.calls(), [STATE], 'the binding had begun');
    assert.deepEqual(f.alive(), [], 'busctl or dbus-monitor left running by the stopped engine');
  });
});

describe('network: firewalld reload, what comes after the bridges', () => {
  it('runs the after-reload hooks (published ports) once every bridge is bound and its rules are back', async () => {
    const f = fakes('running');
    try {
      const order: string[] = [];
      await f.fw.bind('br-a', async () => void order.push('rules br-a'));
      const stop = f.fw.onReloaded(async () => void order.push('ports'));
      f.reload();
      for (let i = 0; i < 100 && order.length < 2; i++) await sleep(50);
      assert.deepEqual(order, ['rules br-a', 'ports']);
      stop();
      f.reload();
      for (let i = 0; i < 100 && order.length < 3; i++) await sleep(50);
      assert.deepEqual(order, ['rules br-a', 'ports', 'rules br-a'], 'a removed hook runs no more');
    } finally {
      await f.cleanup();
    }
  });
});

describe('network: iptables-restore probed for -w', () => {
  it('uses -w 5 where iptables-restore has it, leaves it out where it is refused (iptables before 1.6.2)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iptables-'));
    try {
      const old = path.join(dir, 'old-restore');
      fs.writeFileSync(
        old,
        '#!/bin/sh\nfor a; do [ "$a" = -w ] && { echo "iptables-restore: unrecognized option \'-w\'" >&2; exit 2; }; done\ncat >/dev/null\n',
        { mode: 0o755 },
      );
      const current = path.join(dir, 'restore');
      fs.writeFileSync(current, '#!/bin/sh\ncat >/dev/null\n', { mode: 0o755 });
      assert.deepEqual(await probeRestoreWait(old), []);
      assert.deepEqual(await probeRestoreWait(current), ['-w', '5']);
      assert.deepEqual(await probeRestoreWait(), ['-w', '5'], "this host's iptables-restore has -w");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
