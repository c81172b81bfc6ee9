// The extension on a host where the user is not root and no engine answers: it starts the user's own rootless
// engine — no prompt, no sudo — and stops it again. The launcher code runs as an ordinary user made by the test
// set-up, exactly as the extension host (that user's process) would run it: startLocalEngine, and above it
// ensureEngine as activation runs it (autoStart, no prompt, no service offer, the no-sub-ids notice once).
import * as assert from 'node:assert/strict';
import { buildSync } from 'esbuild';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { candidateHosts, rootlessSocket, startChoice } from '../../src/extension/engine/launcher';
import { requireDeps } from '../helpers/deps';
import { ROOT } from '../helpers/engine';
import { installFor, processesOf, ROOTLESS_TOOLS, stockTunDevice, testUser, type TestUser } from '../helpers/rootless';

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

// What runs on activation: ensureEngine() itself, over a Berth that finds hosts as the real one does (candidateHosts,
// answers) and a vscode stand-in that records what the user would see. Asking anything (a quick pick, an input box,
// a modal message) is recorded as a prompt and fails: the rootless engine starts with none.
const VSCODE_STAND_IN = `
const calls = (globalThis.vscodeCalls = []);
const prompt = (what) => async () => {
  calls.push({ prompt: what });
  throw new Error('prompted: ' + what);
};
const message = (kind) => async (message, ...rest) => {
  const modal = typeof rest[0] === 'object' && rest[0] !== null && rest[0].modal;
  calls.push(modal ? { prompt: kind, message } : { [kind]: message, items: rest.filter((r) => typeof r === 'string') });
  return undefined;
};
module.exports = {
  ProgressLocation: { SourceControl: 1, Window: 10, Notification: 15 },
  window: {
    showInformationMessage: message('information'),
    showWarningMessage: message('warning'),
    showErrorMessage: message('error'),
    showQuickPick: prompt('quick pick'),
    showInputBox: prompt('input box'),
    showOpenDialog: prompt('open dialog'),
    showSaveDialog: prompt('save dialog'),
    withProgress: async (_o, task) => task({ report() {} }),
  },
  commands: { executeCommand: async (id) => void calls.push({ command: id }) },
  env: { clipboard: { writeText: async (t) => void calls.push({ clipboard: t }) } },
};
`;
const ENSURE_AS_EXTENSION = `
const { ensureEngine, stopBundledEngine } = require('./src/extension/engine/lifecycle');
const { answers, candidateHosts } = require('./src/extension/engine/launcher');
const { usesVm } = require('./src/extension/engine/vm');
const [extensionPath, storage] = process.argv.slice(2);
const state = new Map();
const connects = [];
const output = [];
const berth = {
  settings: { host: '', mode: 'auto', autoStart: false },
  context: {
    extensionPath,
    globalStorageUri: { fsPath: storage },
    globalState: { get: (k) => state.get(k), update: async (k, v) => void state.set(k, v) },
  },
  output: { appendLine: (l) => output.push(l) },
  get usesVm() { return !this.settings.host.trim() && usesVm(this.settings.mode); },
  candidates() { return candidateHosts(this.settings.host); },
  async resolveHost() {
    for (const h of this.candidates()) if (await answers(h)) return h;
    return undefined;
  },
  async connect() { connects.push((await this.resolveHost()) ?? null); },
};
const settle = () => new Promise((r) => setTimeout(r, 200));
(async () => {
  const steps = [];
  const step = async (name, run) => {
    const result = await run();
    await settle(); // the no-sub-ids notice is not awaited by ensureEngine
    steps.push({ name, result, calls: globalThis.vscodeCalls.splice(0), connects: connects.splice(0) });
  };
  await step('autoStart off', () => ensureEngine(berth, false));
  berth.settings.autoStart = true;
  await step('activation', () => ensureEngine(berth, false));
  await step('stop', () => stopBundledEngine(berth));
  await step('activation again', () => ensureEngine(berth, false));
  await step('stop again', () => stopBundledEngine(berth));
  console.log(JSON.stringify({ steps, state: Object.fromEntries(state), output }));
  process.exit(0);
})().catch((e) => { console.error(e.stack); process.exit(1); });
`;

/** A home and runtime dir of the user's own, and `source` bundled (with vscode as `standIn`) where it can run it. */
function asUserScript(user: TestUser, source: string, standIn?: string) {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-ext-rootless-'));
  const runtime = path.join(home, 'run');
  fs.mkdirSync(runtime);
  for (const d of [home, runtime]) fs.chownSync(d, user.uid, user.gid);
  const script = path.join(home, 'as-extension.js');
  buildSync({
    stdin: { contents: source, resolveDir: ROOT, loader: 'js' },
    bundle: true,
    platform: 'node',
    outfile: script,
    logLevel: 'error',
    // vscode is the extension host's, as in the VSIX: here the stand-in, where require() finds it.
    external: standIn ? ['vscode'] : [],
  });
  if (standIn) {
    fs.mkdirSync(path.join(home, 'node_modules/vscode'), { recursive: true });
    fs.writeFileSync(path.join(home, 'node_modules/vscode/index.js'), standIn, { mode: 0o644 });
  }
  fs.chmodSync(script, 0o644);
  const env = { PATH: process.env.PATH, HOME: home, USER: user.name, XDG_RUNTIME_DIR: runtime };
  const run = (args: string[]) =>
    spawnSync(process.execPath, [script, ...args], {
      cwd: home,
      uid: user.uid,
      gid: user.gid,
      env,
      encoding: 'utf8',
      timeout: 100_000,
    });
  return { home, runtime, run };
}

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
    // The launcher's code bundled (as the extension's is) where the user can run it, over the engine it would find.
    const extensionPath = installFor(user);
    const { home, runtime, run } = asUserScript(user, AS_EXTENSION);
    const asUser = (what: string) => run([what, extensionPath]);
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

  it('on activation (ensureEngine): starts it with no prompt, and tells a user without sub-ids once', async function () {
    this.timeout(120_000);
    requireDeps(this, ROOTLESS_TOOLS);
    stockTunDevice();
    const user = testUser('berth-rl-nosub', false);
    const extensionPath = installFor(user);
    const { home, runtime, run } = asUserScript(user, ENSURE_AS_EXTENSION, VSCODE_STAND_IN);
    const socket = `unix://${path.join(runtime, 'berth/berth.sock')}`;
    try {
      const r = run([extensionPath, path.join(home, 'storage')]);
      assert.equal(r.status, 0, r.stderr + r.stdout);
      const { steps, state, output } = JSON.parse(r.stdout);
      const by = Object.fromEntries(steps.map((s: any) => [s.name, s]));
      const prompts = steps.flatMap((s: any) => s.calls.filter((c: any) => c.prompt));
      assert.deepEqual(prompts, [], 'nothing is asked');

      // berth.engine.autoStart off: activation starts nothing and says nothing.
      assert.deepEqual(by['autoStart off'], { name: 'autoStart off', result: false, calls: [], connects: [] });

      // On: the user's rootless engine, connected to, and one notice — no Install Service offer (rootless can run).
      const first = by.activation;
      assert.equal(first.result, true);
      assert.deepEqual(first.connects, [socket]);
      assert.equal(first.calls.length, 1, JSON.stringify(first.calls));
      const [notice] = first.calls;
      assert.deepEqual(notice.items, ['Copy Command', 'Diagnose']);
      assert.match(
        notice.warning,
        /^Berth: the rootless engine runs with a single id — berth-rl-nosub has no lines in \/etc\/subuid .*sudo usermod --add-subuids \d+-\d+ --add-subgids \d+-\d+ berth-rl-nosub/,
      );
      assert.match(output.join('\n'), new RegExp(`started the bundled engine on ${socket} directly`));
      assert.deepEqual(state, { 'berth.noSubidsShown': true }, 'no service offer was recorded');
      assert.deepEqual(by.stop.calls, []);
      assert.equal(by.stop.result, true);

      // Started again (the next window): the engine, without the notice a second time.
      assert.equal(by['activation again'].result, true);
      assert.deepEqual(by['activation again'].connects, [socket]);
      assert.deepEqual(by['activation again'].calls, []);
      assert.equal(by['stop again'].result, true);
      assert.deepEqual(processesOf(user), []);
    } finally {
      for (const line of processesOf(user)) spawnSync('kill', ['-9', line.trim().split(/\s+/)[0]]);
      fs.rmSync(home, { recursive: true, force: true });
    }
  });
});
