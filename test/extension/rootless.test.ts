// The extension on a host where the user is not root and no engine answers: it starts the user's own rootless
// engine — no prompt, no sudo — and stops it again. The launcher code runs as an ordinary user made by the test
// set-up, exactly as the extension host (that user's process) would run it.
import * as assert from 'node:assert/strict';
import { buildSync } from 'esbuild';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { candidateHosts, rootlessSocket, startChoice } from '../../src/extension/engine/launcher';
import { requireDeps } from '../helpers/deps';
import { ROOT } from '../helpers/engine';
import { installFor, processesOf, ROOTLESS_TOOLS, stockTunDevice, testUser } from '../helpers/rootless';

// What lifecycle.ts does when nothing answers, for a user who is not root: the same function (startLocalEngine).
const AS_EXTENSION = `
const u = require('./src/extension/engine/user-service');
const [what, extensionPath] = process.argv.slice(2);
(async () => {
  if (what === 'start') {
    const started = await u.startLocalEngine(extensionPath, process.env.HOME + '/berthd.log');
    if (started.choice !== 'rootless') throw new Error(JSON.stringify(started));
    console.log(JSON.stringify(started));
  } else if (!(await u.stopRootlessEngine())) throw new Error('not stopped');
})().catch((e) => { console.error(e.message); process.exit(1); });
`;

describe('extension: the rootless engine started for a user who is not root', function () {
  this.timeout(60_000);

  it('chooses rootless for a user, the service only where rootless cannot run, and lists the user’s socket first', () => {
    assert.equal(startChoice(true, []), 'root');
    assert.equal(startChoice(false, []), 'rootless');
    assert.equal(startChoice(false, ['slirp4netns: not found on PATH']), 'offer-service');
    const env = { XDG_RUNTIME_DIR: '/run/user/1000' };
    assert.equal(rootlessSocket(env, 1000), 'unix:///run/user/1000/berth/berth.sock');
    assert.equal(rootlessSocket({}, 1000), 'unix:///tmp/berth-1000/berth/berth.sock');
    assert.equal(candidateHosts('', false)[1], 'unix:///run/berth/berth.sock');
  });

  it('starts it with no prompt, as the user, and stops it leaving nothing', async function () {
    requireDeps(this, ROOTLESS_TOOLS);
    stockTunDevice();
    const user = testUser('berth-rl-a', true);
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-ext-rootless-'));
    const runtime = path.join(home, 'run');
    fs.mkdirSync(runtime);
    for (const d of [home, runtime]) fs.chownSync(d, user.uid, user.gid);
    const env = { PATH: process.env.PATH, HOME: home, USER: user.name, XDG_RUNTIME_DIR: runtime };
    // The launcher's code bundled (as the extension's is) where the user can run it, over the engine it would find.
    const extensionPath = installFor(user);
    const script = path.join(home, 'as-extension.js');
    buildSync({
      stdin: { contents: AS_EXTENSION, resolveDir: ROOT, loader: 'js' },
      bundle: true,
      platform: 'node',
      outfile: script,
      logLevel: 'error',
    });
    fs.chmodSync(script, 0o644);
    const asUser = (what: string) =>
      spawnSync(process.execPath, [script, what, extensionPath], {
        cwd: home,
        uid: user.uid,
        gid: user.gid,
        env,
        encoding: 'utf8',
        timeout: 40_000,
      });
    try {
      const started = asUser('start');
      assert.equal(started.status, 0, started.stderr + started.stdout);
      const { host, how } = JSON.parse(started.stdout);
      const socket = host.replace('unix://', '');
      assert.equal(socket, path.join(runtime, 'berth/berth.sock'));
      // No user manager answers this user here (and the hierarchy is hybrid v1 on this machine): spawned directly,
      // saying why. test/vm/rhel-rootless.test.ts has the user service.
      assert.equal(how.how, 'direct');
      assert.match(how.why, /^(cgroup v1 \(or hybrid\)|no systemd user manager answers)/);
      const info = spawnSync('docker', ['-H', `unix://${socket}`, 'info', '--format', '{{json .}}'], {
        encoding: 'utf8',
      });
      const parsed = JSON.parse(info.stdout);
      assert.ok(parsed.SecurityOptions.includes('name=rootless'));
      assert.equal(parsed.DockerRootDir, path.join(home, '.local/share/berth'));
      const stopped = asUser('stop');
      assert.equal(stopped.status, 0, stopped.stderr);
      assert.deepEqual(processesOf(user), []);
    } finally {
      for (const line of processesOf(user)) spawnSync('kill', ['-9', line.trim().split(/\s+/)[0]]);
      fs.rmSync(home, { recursive: true, force: true });
    }
  });
});
