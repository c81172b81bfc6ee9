// The extension in a real VS Code (code-server, whose extension host runs server-side as under Remote-SSH) driven by
// headless Chromium: the packaged VSIX shows an engine's images and containers, runs a container from the palette,
// sees it appear with no manual refresh (events), follows its logs across a restart, opens an exec shell and types
// into it, stops and removes it from the context menu. Screenshots go to test/artifacts/ui/.
//
// Needs code-server set up (scripts/setup-ui.sh, which scripts/test.sh runs: once per machine, then cached); where it is
// not, the suite skips — and fails under CI=true. It also checks what a desktop VS Code run of @vscode/test-electron
// would: every contributed command registered, activation time (a probe extension beside Berth). The engine is a real
// berthd; BERTH_UI_ENGINE=ref runs the same steps against the reference dockerd instead (by hand, to tell an
// extension bug from an engine bug).
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tarStream from 'tar-stream';
import { EngineClient } from '../../src/client';
import { ContainerFiles } from '../../src/extension/files/containerFiles';
import {
  ARTIFACTS,
  CODE_SERVER_UI,
  launchBrowser,
  packageProbeVsix,
  packageVsix,
  startCodeServer,
  type CodeServer,
} from '../helpers/codeserver';
import { requireDeps } from '../helpers/deps';
import { ROOT, startEngine, type TestEngine } from '../helpers/engine';
import { pushFixture, startRegistry, type Registry } from '../fixtures';

const REF_HOST = 'unix:///run/berth-ref/docker.sock';
const SHOTS = path.join(ARTIFACTS, 'ui');

describe('UI: the Berth extension in code-server', function () {
  this.timeout(600_000);
  let engine: TestEngine | undefined;
  let registry: Registry | undefined;
  /** A registry with a password, for the Registries step. */
  let authRegistry: Registry | undefined;
  /** What the test pulls from the palette: busybox through berthd's registry mirror, or the registry's own name. */
  let imageRef = '';
  let host = '';
  let client: EngineClient;
  let cs: CodeServer | undefined;
  let browser: any;
  let page: any;
  const name = `berth-ui-${process.pid}`;
  const volumeName = `berth-ui-vol-${process.pid}`;
  const interactiveName = `berth-ui-it-${process.pid}`;
  const networkName = `berth-ui-net-${process.pid}`;
  const project = `uiproj${process.pid}`;
  let step = 0;
  const shot = async (label: string) => {
    fs.mkdirSync(SHOTS, { recursive: true });
    await page.screenshot({ path: path.join(SHOTS, `${String(++step).padStart(2, '0')}-${label}.png`) });
  };

  before(async function () {
    requireDeps(this, CODE_SERVER_UI);
    fs.rmSync(SHOTS, { recursive: true, force: true });
    registry = await startRegistry();
    await pushFixture(registry, 'busybox', 'library/busybox');
    if (process.env.BERTH_UI_ENGINE !== 'ref')
      engine = await startEngine({ config: { 'registry-mirrors': [registry.url] } });
    host = engine?.host ?? REF_HOST;
    client = new EngineClient(host);
    await client.negotiateApiVersion();
    imageRef = engine ? 'busybox:latest' : `${registry.host}/library/busybox:latest`;
    console.log(`      engine: ${engine ? 'berthd' : 'reference dockerd'} on ${host}; pulling ${imageRef}`);
    const vsix = path.join(ROOT, 'dist/berth-ui-test.vsix');
    packageVsix(vsix);
    const probe = path.join(ROOT, 'dist/berth-ui-probe.vsix');
    packageProbeVsix(probe);
    cs = await startCodeServer(
      vsix,
      { 'berth.engine.host': host, 'berth.logs.tail': 50, 'berth.containers.groupBy': 'composeProject' },
      { alsoInstall: [probe] },
    );
    browser = await launchBrowser();
    page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await page.goto(cs.url);
    await page.waitForSelector('.monaco-workbench', { timeout: 90_000 });
  });

  after(async () => {
    await browser?.close().catch(() => undefined);
    await cs?.stop().catch(() => undefined);
    await client?.removeContainer(name, { force: true }).catch(() => undefined);
    await client?.removeContainer(interactiveName, { force: true }).catch(() => undefined);
    await client?.removeImage(`berth-ui-built-${process.pid}:latest`, { force: true }).catch(() => undefined);
    await client?.removeImage(imageRef).catch(() => undefined);
    await client?.removeVolume(volumeName).catch(() => undefined);
    for (const c of ['web', 'db'])
      await client?.removeContainer(`${project}-${c}-1`, { force: true }).catch(() => undefined);
    await client?.removeNetwork(networkName).catch(() => undefined);
    await client?.close().catch(() => undefined);
    await engine?.cleanup();
    await registry?.stop();
    await authRegistry?.stop();
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed' && page)
      await shot(`FAILED-${this.currentTest.title.slice(0, 40).replace(/\W+/g, '-')}`).catch(() => undefined);
  });

  // Rows of Berth's trees only (notifications are list rows too).
  const row = (text: string) => page.locator(`.part.sidebar .monaco-list-row[aria-label*="${text}"]`).first();
  const view = (title: string) => page.locator(`.pane:has(.pane-header[aria-label*="${title}"])`).first();
  // The terminal on screen (VS Code keeps the others in the DOM, hidden).
  const terminalText = () =>
    page.evaluate(() =>
      [...(globalThis as any).document.querySelectorAll('.xterm-rows')]
        .filter((e: any) => e.offsetParent !== null)
        .map((e: any) => e.textContent)
        .join('\n'),
    );
  async function waitForTerminal(re: RegExp, timeout = 30_000): Promise<string> {
    const deadline = Date.now() + timeout;
    let text = '';
    while (Date.now() < deadline) {
      text = await terminalText();
      if (re.test(text)) return text;
      await page.waitForTimeout(250);
    }
    throw new Error(`terminal never showed ${re}; it shows:\n${text}`);
  }
  /** Types into the terminal on screen once it has the keyboard focus (VS Code moves it there a moment after the
   * terminal opens; keys typed before go elsewhere). */
  async function typeInTerminal(text: string) {
    await page.waitForFunction(
      () => {
        const active = (globalThis as any).document.activeElement;
        return active?.classList.contains('xterm-helper-textarea') && active.closest('.xterm')?.offsetParent !== null;
      },
      undefined,
      { timeout: 10_000 },
    );
    await page.keyboard.type(text);
    await page.keyboard.press('Enter');
  }
  /** Answers the Run prompts one by one, each once its input box shows (a key pressed earlier goes elsewhere). */
  async function answerPrompts(answers: [prompt: string, value: string][]) {
    for (const [prompt, value] of answers) {
      const box = page.locator('.quick-input-widget', { hasText: prompt });
      await box.waitFor({ state: 'visible', timeout: 10_000 });
      await page.waitForFunction(
        () => (globalThis as any).document.activeElement?.closest('.quick-input-widget') != null,
        undefined,
        { timeout: 5000 },
      );
      if (value) await page.keyboard.type(value);
      await page.keyboard.press('Enter');
      await box.waitFor({ state: 'hidden', timeout: 10_000 });
    }
  }
  const RUN_PROMPTS = ['Container name', 'Published ports', 'Environment', 'Volumes and bind mounts', 'Command (empty'];
  async function palette(commandTitle: string) {
    await page.keyboard.press('F1');
    // A webview that had the focus (closed or not) can swallow the key: focus the workbench and ask again.
    if (
      !(await page.waitForSelector('.quick-input-widget', { state: 'visible', timeout: 3000 }).then(
        () => true,
        () => false,
      ))
    ) {
      await page
        .locator('.part.editor')
        .first()
        .click({ position: { x: 20, y: 200 } });
      await page.keyboard.press('F1');
      await page.waitForSelector('.quick-input-widget', { state: 'visible' });
    }
    await page.keyboard.type(commandTitle);
    await focusedPick(commandTitle);
    await page.keyboard.press('Enter');
  }
  /** Runs a context-menu entry of a row (its text, or a locator). */
  async function contextMenu(target: string | any, item: string) {
    const element = typeof target === 'string' ? row(target) : target;
    // Other clients may change the engine meanwhile (the tree re-renders under an open menu): retry a few times.
    for (let attempt = 1; ; attempt++) {
      try {
        await page.keyboard.press('Escape');
        await element.click({ button: 'right', timeout: 5000 });
        const entry = page.locator(`.monaco-menu .action-item:has-text("${item}")`).first();
        await entry.waitFor({ state: 'visible', timeout: 5000 });
        await entry.hover({ timeout: 5000 });
        await entry.click({ timeout: 5000 });
        // Under load a click can land while the menu still animates: the highlighted entry then runs on Enter.
        const menu = page.locator('.context-view .monaco-menu').first();
        if (
          !(await menu.waitFor({ state: 'hidden', timeout: 2000 }).then(
            () => true,
            () => false,
          ))
        )
          await page.keyboard.press('Enter');
        await menu.waitFor({ state: 'hidden', timeout: 3000 });
        return;
      } catch (err) {
        if (attempt >= 4) throw err;
      }
    }
  }
  /** Expands a Berth view whose pane is collapsed (Disk Usage starts so). */
  async function openView(title: string) {
    const header = page.locator(`.part.sidebar .pane-header[aria-label*="${title}"]`).first();
    await header.waitFor({ timeout: 10_000 });
    if ((await header.getAttribute('aria-expanded')) !== 'true') await header.click();
  }
  /** Expands a tree row (a click on a collapsed row toggles it). */
  async function expand(target: any, timeout = 20_000) {
    // A row gets its arrow (aria-expanded) only once it has children, which may come with the next refresh.
    const deadline = Date.now() + timeout;
    for (;;) {
      const state = await target.getAttribute('aria-expanded', { timeout: 5000 }).catch(() => null);
      if (state === 'true') return;
      if (state === 'false') await target.click();
      assert.ok(Date.now() < deadline, 'the row expands');
      await page.waitForTimeout(250);
    }
  }
  /** Picks an entry of the open quick pick by its text. */
  async function pickItem(text: string) {
    const entry = page.locator(`.quick-input-widget .monaco-list-row[aria-label*="${text}"]`).first();
    await entry.waitFor({ timeout: 10_000 });
    await entry.click();
  }
  /** The element matching `selector` inside a webview (two iframes deep), polled until it shows. */
  async function inWebview(selector: string, timeout = 30_000): Promise<any> {
    const deadline = Date.now() + timeout;
    for (;;) {
      for (const f of page.frames()) {
        const el = await f.$(selector).catch(() => null);
        if (el) return el;
      }
      assert.ok(Date.now() < deadline, `a webview shows ${selector}`);
      await page.waitForTimeout(250);
    }
  }
  async function waitForLabel(target: any, re: RegExp, timeout = 30_000): Promise<string> {
    const deadline = Date.now() + timeout;
    for (;;) {
      const label = (await target.getAttribute('aria-label').catch(() => '')) ?? '';
      if (re.test(label)) return label;
      assert.ok(Date.now() < deadline, `row label ${label} matches ${re}`);
      await page.waitForTimeout(250);
    }
  }
  async function berthLog(re: RegExp): Promise<RegExpExecArray> {
    // The output channel reaches its log file a moment after it is written.
    const deadline = Date.now() + 15_000;
    for (;;) {
      const m = re.exec(cs!.berthLog());
      if (m) return m;
      assert.ok(Date.now() < deadline, `Berth log shows ${re}: ${cs!.berthLog()}`);
      await page.waitForTimeout(250);
    }
  }

  // Each test makes the state it starts from (any order works): the sidebar open, the image there, the container.
  /** Opens the Berth sidebar unless it is open (a click on the active activity-bar item would close it). */
  async function openSidebar() {
    if (!(await view('Containers').isVisible()))
      await page.locator('.activitybar [aria-label^="Berth"]').first().click();
    await view('Containers').waitFor({ timeout: 60_000 });
  }
  async function givenImage() {
    for await (const m of client.pullImage(imageRef.replace(/:latest$/, ''), 'latest'))
      assert.equal(m.error, undefined, m.error);
  }
  /** The ticking container the run test makes from the palette, made over the API when that test did not run. */
  async function givenTicker() {
    await openSidebar();
    const state = await client.inspectContainer(name).then(
      (c) => c.State,
      () => undefined,
    );
    if (!state?.Running) {
      await client.removeContainer(name, { force: true }).catch(() => undefined);
      await givenImage();
      await client.createContainer(
        {
          Image: imageRef,
          Env: ['GREETING=hi'],
          Cmd: ['sh', '-c', 'i=0; while true; do echo tick-$i-$GREETING; i=$((i+1)); sleep 1; done'],
        },
        { name },
      );
      await client.startContainer(name);
    }
    await page.locator(`.part.sidebar .monaco-list-row[aria-label*="${name}"][aria-label*="Up"]`).first().waitFor();
  }
  /** Waits for the quick pick's focused row to be the one wanted (the list filters as keys arrive). */
  async function focusedPick(text: string) {
    await page.waitForFunction(
      (t: string) =>
        (globalThis as any).document
          .querySelector('.quick-input-widget .monaco-list-row.focused')
          ?.getAttribute('aria-label')
          ?.includes(t),
      text,
      { timeout: 10_000 },
    );
  }

  it('opens the Berth sidebar connected to the engine, with the engine state in the status bar', async () => {
    await openSidebar();
    await page.locator('.statusbar-item:has-text("running")').first().waitFor({ timeout: 30_000 });
    const status = await page.locator('.statusbar-item:has-text("Berth")').first().textContent();
    assert.match(status, /Berth: \d+ running/);
    await shot('sidebar');
    const [, , cpuMs] = await berthLog(/activated in ([\d.]+) ms \(([\d.]+) ms CPU\)/);
    const log = cs!.berthLog();
    console.log(`      ${/activated in .*/.exec(log)?.[0]}; ${/connected to .*/.exec(log)?.[0] ?? ''}`);
    // The bar for the extension's own activation code: activate() only registers. Its CPU time is what
    // the extension spends; the wall time adds whatever else the shared host runs meanwhile.
    assert.ok(Number(cpuMs) <= 50, `activate() took ${cpuMs} ms of CPU`);
  });

  it('registers every contributed command in the extension host, activating in under a second', async () => {
    const file = path.join(cs!.workspace, '.berth-probe.json');
    const deadline = Date.now() + 30_000;
    while (!fs.existsSync(file)) {
      assert.ok(Date.now() < deadline, 'the probe extension never reported');
      await page.waitForTimeout(250);
    }
    const probe = JSON.parse(fs.readFileSync(file, 'utf8'));
    assert.equal(probe.error, undefined, probe.error);
    const contributed: string[] = JSON.parse(
      fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'),
    ).contributes.commands.map((c: { command: string }) => c.command);
    assert.deepEqual(
      contributed.filter((c) => !probe.commands.includes(c)),
      [],
      'every contributed command is registered',
    );
    assert.ok(probe.activationMs < 1000, `activation took ${probe.activationMs} ms`);
  });

  it('pulls an image from the palette with a progress notification, and the Images view shows it', async () => {
    await openSidebar();
    await client.removeImage(imageRef, { force: true }).catch(() => undefined);
    await palette('Berth: Pull Image');
    await page.waitForSelector('.quick-input-widget input', { state: 'visible' });
    await page.keyboard.type(imageRef);
    await page.keyboard.press('Enter');
    await page
      .locator('.notifications-toasts .notification-list-item:has-text("Pulling")')
      .first()
      .waitFor({ timeout: 10_000 })
      .then(
        () => shot('pull-progress'),
        () => console.log('      (the pull finished before its notification could be captured)'),
      );
    const repo = imageRef.replace(/:latest$/, '');
    await row(repo).waitFor({ timeout: 60_000 });
    await shot('pulled');
    const images = await client.listImages();
    assert.ok(
      images.some((i) => i.RepoTags?.includes(imageRef)),
      `the engine has ${imageRef}: ${JSON.stringify(images.map((i) => i.RepoTags))}`,
    );
  });

  it('creates a volume from the palette and the Volumes view shows it', async () => {
    await openSidebar();
    await client.removeVolume(volumeName, true).catch(() => undefined);
    await palette('Berth: Create Volume');
    await page.waitForSelector('.quick-input-widget input', { state: 'visible' });
    await page.keyboard.type(volumeName);
    await page.keyboard.press('Enter');
    await row(volumeName).waitFor({ timeout: 20_000 });
    await shot('volume-created');
    assert.equal((await client.inspectVolume(volumeName)).Name, volumeName);
  });

  it('runs a container from the palette and shows it without a manual refresh', async () => {
    await openSidebar();
    await client.removeContainer(name, { force: true }).catch(() => undefined);
    await givenImage();
    await palette('Berth: Run Container');
    await page.waitForSelector('.quick-input-widget input', { state: 'visible' });
    await page.keyboard.type(imageRef);
    await focusedPick(imageRef);
    await page.keyboard.press('Enter'); // image
    const answers = [
      name,
      '',
      'GREETING=hi',
      '',
      `sh -c 'i=0; while true; do echo tick-$i-$GREETING; i=$((i+1)); sleep 1; done'`,
    ];
    await answerPrompts(RUN_PROMPTS.map((p, i) => [p, answers[i]]));
    await page.locator('.quick-input-widget', { hasText: 'Detached' }).waitFor({ state: 'visible', timeout: 10_000 });
    const t0 = Date.now();
    await page.keyboard.press('Enter'); // Detached
    await row(name).waitFor({ timeout: 15_000 });
    console.log(`      the new container showed in the tree ${Date.now() - t0} ms after Enter`);
    // It shows when created, then as running once started (the start event redraws the row).
    await page
      .locator(`.part.sidebar .monaco-list-row[aria-label*="${name}"][aria-label*="Up"]`)
      .first()
      .waitFor({ timeout: 15_000 });
    const inspect = await client.inspectContainer(name);
    assert.equal(inspect.State.Running, true);
    assert.ok(inspect.Config.Env?.includes('GREETING=hi'));
    await shot('run-appeared');
  });

  it('inspects it as a read-only JSON document', async () => {
    await givenTicker();
    await contextMenu(name, 'Inspect');
    const editor = page.locator('.editor-instance .view-lines').first();
    await page.locator(`.tab[aria-label*="${name}.json"]`).first().waitFor({ timeout: 20_000 });
    await page.waitForFunction(
      (id: string) =>
        (globalThis as any).document.querySelector('.editor-instance .view-lines')?.textContent?.includes(id),
      (await client.inspectContainer(name)).Id.slice(0, 24),
      { timeout: 20_000 },
    );
    assert.match(await editor.textContent(), /"Id":/);
    // A content provider's document: typing does not change it.
    await editor.click();
    await page.keyboard.type('typed');
    // VS Code refuses the keys, saying so.
    await page.locator('.monaco-editor-overlaymessage:has-text("read-only")').first().waitFor({ timeout: 10_000 });
    assert.doesNotMatch(await editor.textContent(), /typed/);
    await shot('inspect');
    await page.keyboard.press('Control+w');
  });

  it('opens the Diagnose report', async () => {
    await palette('Berth: Diagnose');
    await page.locator('.tab[aria-label*="Berth Diagnosis"]').first().waitFor({ timeout: 20_000 });
    // A Markdown preview: a webview, whose document is in the frame inside its frame.
    await page
      .frameLocator('iframe.webview.ready')
      .frameLocator('iframe#active-frame')
      .locator('h1:has-text("host diagnosis")')
      .waitFor({ timeout: 20_000 });
    await shot('diagnose');
    await page.keyboard.press('Control+w');
  });

  it('follows the logs in a terminal, and keeps following across a restart', async () => {
    await givenTicker();
    await contextMenu(name, 'View Logs');
    await waitForTerminal(/tick-\d+-hi/);
    await shot('logs');
    await client.restartContainer(name, { t: 1 });
    await waitForTerminal(/started again — following[\s\S]*tick-0-hi[\s\S]*tick-1-hi/, 40_000);
    await shot('logs-after-restart');
  });

  it('opens an exec shell and runs a typed command, showing the exit code', async () => {
    await givenTicker();
    await contextMenu(name, 'Attach Shell');
    // The shell's first output (busybox ash's banner, then its prompt) reaches the terminal.
    await waitForTerminal(/BusyBox v[\s\S]*\/ # /);
    await typeInTerminal('echo "answer-$((6*7))"; exit 3');
    await waitForTerminal(/answer-42[\s\S]*exited with code 3/);
    await shot('exec');
  });

  it('runs an image interactively from its context menu, in a terminal attached to the new container', async () => {
    await openSidebar();
    await client.removeContainer(interactiveName, { force: true }).catch(() => undefined);
    await givenImage();
    // A busybox tag row (every "latest" here is busybox: berthd has only it; the shared dockerd has busybox copies).
    await contextMenu(page.locator(`.part.sidebar .monaco-list-row[aria-label^="latest"]`).first(), 'Run Interactive');
    // name, ports, env, volumes, command (empty: the image's sh)
    await answerPrompts(RUN_PROMPTS.map((p, i) => [p, i === 0 ? interactiveName : '']));
    await waitForTerminal(/BusyBox v[\s\S]*\/ # /);
    await typeInTerminal('echo "interactive-$((3*3))"; exit 4');
    await waitForTerminal(/interactive-9[\s\S]*exited with code 4/);
    await shot('run-interactive');
    assert.equal((await client.inspectContainer(interactiveName)).State.ExitCode, 4);
  });

  it('shows live CPU and memory in the running row, and a live chart from Show Stats', async () => {
    await givenTicker();
    // One shared stats subscription: the row's description gains "CPU x% · y MB" within a few seconds.
    const label = await waitForLabel(row(name), /CPU [\d.]+% · [\d.]+ (B|kB|MB)/, 30_000);
    console.log(`      row: ${label}`);
    await shot('stats-row');
    await contextMenu(name, 'Show Stats');
    await page.locator(`.tab[aria-label*="${name} (stats)"]`).first().waitFor({ timeout: 20_000 });
    // The chart draws once two samples arrived (CPU needs a previous read).
    await inWebview('#cpu svg path.a');
    await inWebview('#mem svg path.a');
    const text = await (await inWebview('#mem h3 span')).textContent();
    assert.match(text, /\d+(\.\d+)? (B|kB|MB)/, `memory label: ${text}`);
    // A few more points on the lines for the picture.
    const points = async () => ((await (await inWebview('#mem svg path.a')).getAttribute('d')) ?? '').split('L').length;
    for (const deadline = Date.now() + 20_000; (await points()) < 4 && Date.now() < deadline; )
      await page.waitForTimeout(250);
    await shot('stats-chart');
    await page.keyboard.press('Control+w');
  });

  it('creates a network, connects the container, inspects, disconnects and removes it', async () => {
    await givenTicker();
    await client.removeNetwork(networkName).catch(() => undefined);
    await palette('Berth: Create Network');
    await answerPrompts([
      ['Network name', networkName],
      ['Subnet in CIDR', '172.31.99.0/24'],
    ]);
    await page.locator('.quick-input-widget', { hasText: 'Create a network (3/3)' }).waitFor({ timeout: 10_000 });
    await pickItem('Internal');
    const net = row(networkName);
    await waitForLabel(net, /bridge · 172\.31\.99\.0\/24 · internal/);
    const created = await client.inspectNetwork(networkName);
    assert.equal(created.Internal, true);
    assert.equal(created.IPAM.Config?.[0]?.Subnet, '172.31.99.0/24');
    await contextMenu(networkName, 'Connect Container to Network');
    await pickItem(name);
    await answerPrompts([['Network aliases', 'ui-alias']]);
    const member = page.locator(`.part.sidebar .monaco-list-row[aria-label*="${name}, 172.31.99."]`).first();
    await waitForLabel(net, /./);
    await expand(net);
    await member.waitFor({ timeout: 20_000 });
    const attached = await client.inspectContainer(name);
    assert.ok((attached.NetworkSettings as any).Networks[networkName], 'the engine has the container on the network');
    await shot('network-connected');
    await contextMenu(networkName, 'Inspect Network');
    await page.locator(`.tab[aria-label*="${networkName}.json"]`).first().waitFor({ timeout: 20_000 });
    await page.waitForFunction(
      () =>
        /"Subnet":\s*"172\.31\.99\.0\/24"/.test(
          (globalThis as any).document.querySelector('.editor-instance .view-lines')?.textContent ?? '',
        ),
      undefined,
      { timeout: 20_000 },
    );
    await shot('network-inspect');
    await page.keyboard.press('Control+w');
    await contextMenu(member, 'Disconnect from Network');
    await member.waitFor({ state: 'detached', timeout: 20_000 });
    assert.equal((await client.inspectContainer(name)).NetworkSettings.Networks?.[networkName as never], undefined);
    await contextMenu(networkName, 'Remove Network');
    const confirm = page.locator('.monaco-dialog-box .monaco-button:has-text("Remove")').first();
    await confirm.waitFor({ timeout: 10_000 });
    await confirm.click();
    await net.waitFor({ state: 'detached', timeout: 20_000 });
    await assert.rejects(client.inspectNetwork(networkName), /not found|No such network/i);
  });

  it('groups a Compose project, merges its logs with service prefixes, and stops it from the group row', async () => {
    await openSidebar();
    await givenImage();
    for (const service of ['web', 'db'])
      await client.removeContainer(`${project}-${service}-1`, { force: true }).catch(() => undefined);
    for (const service of ['web', 'db']) {
      const { Id } = await client.createContainer(
        {
          Image: imageRef,
          Cmd: ['sh', '-c', `i=0; while true; do echo ${service}-line-$i; i=$((i+1)); sleep 1; done`],
          Labels: {
            'com.docker.compose.project': project,
            'com.docker.compose.service': service,
            'com.docker.compose.container-number': '1',
          },
        },
        { name: `${project}-${service}-1` },
      );
      await client.startContainer(Id);
    }
    const group = row(project);
    await waitForLabel(group, /2\/2 running/);
    await shot('compose-group');
    await contextMenu(project, 'View Project Logs');
    await waitForTerminal(/web-1 \| web-line-\d/);
    await waitForTerminal(/db-1  \| db-line-\d/);
    await shot('compose-logs');
    await contextMenu(project, 'Stop Project');
    await waitForLabel(group, /0\/2 running/, 40_000);
    for (const service of ['web', 'db'])
      assert.equal((await client.inspectContainer(`${project}-${service}-1`)).State.Running, false);
    await shot('compose-stopped');
  });

  it('shows disk usage by category with sizes, and prunes stopped containers from it', async () => {
    await givenTicker();
    const stopped = `berth-prunable-${process.pid}`; // one to prune, whatever ran before
    await client.removeContainer(stopped, { force: true }).catch(() => undefined);
    await client.createContainer({ Image: imageRef, Cmd: ['true'] }, { name: stopped });
    await openView('Disk Usage');
    const containersRow = page.locator('.part.sidebar .monaco-list-row[aria-label^="Containers,"]').first();
    const imagesRow = page.locator('.part.sidebar .monaco-list-row[aria-label^="Images,"]').first();
    await imagesRow.waitFor({ timeout: 20_000 });
    const df = await client.systemDf();
    const label = await waitForLabel(containersRow, /\d+ \(\d+ active\)/);
    const total = (df.Containers ?? []).length;
    assert.match(label, new RegExp(`· ${total} \\(`), `containers row ${label} counts ${total}`);
    assert.match(await imagesRow.getAttribute('aria-label'), /(kB|MB) · \d+ \(\d+ active\)/);
    await shot('disk-usage');
    await contextMenu(containersRow, 'Prune Stopped Containers');
    const confirm = page.locator('.monaco-dialog-box .monaco-button:has-text("Prune")').first();
    await confirm.waitFor({ timeout: 10_000 });
    await confirm.click();
    // The stopped containers go (the Compose project's too, when its test ran); the running ones stay.
    await row(stopped).waitFor({ state: 'detached', timeout: 20_000 });
    await assert.rejects(client.inspectContainer(stopped), /No such container/);
    const running = (await client.listContainers()).length;
    assert.ok(running >= 1, 'the ticking container still runs');
    await waitForLabel(containersRow, new RegExp(` · ${running} \\(${running} active\\)`), 20_000);
    await shot('disk-usage-pruned');
  });

  /** Opens a workspace file in the editor by Quick Open. */
  async function openFile(rel: string) {
    await page.keyboard.press('Escape');
    await page.keyboard.press('Control+P');
    await page.waitForSelector('.quick-input-widget', { state: 'visible' });
    await page.keyboard.type(rel);
    await focusedPick(path.basename(rel));
    await page.keyboard.press('Enter');
    await page
      .locator(`.tabs-container .tab[aria-label*="${path.basename(rel)}"]`)
      .first()
      .waitFor({ timeout: 10_000 });
  }
  /** Replaces the value of the input box showing `prompt` (VS Code selects the proposed value: typing replaces it). */
  async function answerInput(prompt: string, value: string | undefined) {
    const box = page.locator('.quick-input-widget', { hasText: prompt });
    await box.waitFor({ state: 'visible', timeout: 10_000 });
    if (value !== undefined) {
      await page.keyboard.press('Control+A');
      if (value) await page.keyboard.type(value);
      else await page.keyboard.press('Backspace');
    }
    await page.keyboard.press('Enter');
    await box.waitFor({ state: 'hidden', timeout: 10_000 });
  }

  it('Build Image: builds a Dockerfile from the editor title with a build argument, output in a terminal, the image selected', async () => {
    await openSidebar();
    await givenImage();
    const built = `berth-ui-built-${process.pid}`;
    await client.removeImage(`${built}:latest`, { force: true }).catch(() => undefined);
    const app = path.join(cs!.workspace, 'app');
    fs.mkdirSync(app, { recursive: true });
    fs.writeFileSync(path.join(app, 'hello.txt'), 'hello from the context\n');
    fs.writeFileSync(
      path.join(app, 'Dockerfile'),
      `FROM ${imageRef}\nARG WHO\nCOPY hello.txt /\nRUN echo "built for $WHO" && cat /hello.txt\n`,
    );
    await openFile('app/Dockerfile');
    const action = page.locator('.editor-actions .action-label[aria-label^="Build Image"]').first();
    await action.waitFor({ timeout: 10_000 });
    await shot('build-editor-title');
    await action.click();
    // Context folder: the Dockerfile's (proposed first), then the tag and a build argument.
    await page
      .locator('.quick-input-widget .monaco-list-row[aria-label*="Browse"]')
      .first()
      .waitFor({ timeout: 10_000 });
    await focusedPick('app');
    await page.keyboard.press('Enter');
    await answerInput('Tag (name:tag)', built);
    await answerInput('Build arguments', 'WHO=the-ui-suite');
    await waitForTerminal(/Successfully tagged berth-ui-built-\d+:latest/, 120_000);
    const text = await terminalText();
    assert.match(text, /Step 4\/4 : RUN echo/);
    assert.match(text, /built for the-ui-suite/);
    assert.match(text, /hello from the context/);
    await shot('build-output');
    // The new image is selected in the Images view.
    const selectedTag = page
      .locator(`.pane:has(.pane-header[aria-label*="Images"]) .monaco-list-row.selected[aria-label^="latest"]`)
      .first();
    await selectedTag.waitFor({ timeout: 20_000 });
    await row(built).waitFor({ timeout: 5000 });
    await shot('build-selected');
    const img = await client.inspectImage(`${built}:latest`);
    assert.ok(img.Id.startsWith('sha256:'));
  });

  it('Build Image: a failing step is shown in the terminal and in a notification, and no image is tagged', async () => {
    await openSidebar();
    await givenImage();
    const failed = `berth-ui-failed-${process.pid}`;
    const app = path.join(cs!.workspace, 'app');
    fs.mkdirSync(app, { recursive: true });
    fs.writeFileSync(path.join(app, 'Dockerfile.fail'), `FROM ${imageRef}\nRUN echo about to fail; exit 3\n`);
    await openFile('app/Dockerfile.fail');
    await palette('Berth: Build Image');
    await page
      .locator('.quick-input-widget .monaco-list-row[aria-label*="Browse"]')
      .first()
      .waitFor({ timeout: 10_000 });
    await page.keyboard.press('Enter');
    await answerInput('Tag (name:tag)', failed);
    await answerInput('Build arguments', '');
    await waitForTerminal(/Step 2\/2 : RUN echo about to fail; exit 3 failed: .*non-zero code: 3/, 120_000);
    const toast = page.locator('.notifications-toasts .notification-list-item:has-text("failed at Step 2/2")').first();
    await toast.waitFor({ timeout: 20_000 });
    assert.match(await toast.textContent(), /exit code 3/);
    await shot('build-failed');
    await assert.rejects(client.inspectImage(`${failed}:latest`), /No such image/);
  });

  it('Container files: browses a container in the tree, opens, edits and saves a file back, and lists 5,000 entries in budget', async () => {
    await givenTicker();
    const pack = tarStream.pack();
    pack.entry({ name: 'berth-ui-files', type: 'directory', mode: 0o755 });
    pack.entry({ name: 'berth-ui-files/hello.txt', mode: 0o640, uid: 123, gid: 456 }, 'hello from the container\n');
    pack.entry({ name: 'berth-ui-files/many', type: 'directory', mode: 0o755 });
    for (let i = 0; i < 5000; i++) pack.entry({ name: `berth-ui-files/many/f${String(i).padStart(4, '0')}` }, '');
    pack.finalize();
    await client.putArchive(name, '/', pack as any);
    const pane = (text: string) =>
      page.locator(`.pane:has(.pane-header[aria-label*="Containers"]) .monaco-list-row[aria-label^="${text}"]`).first();
    await expand(row(name));
    await expand(pane('Files'));
    await expand(pane('berth-ui-files'));
    const hello = pane('hello.txt');
    await hello.waitFor({ timeout: 20_000 });
    assert.match(await hello.getAttribute('aria-label'), /hello\.txt, 25 B/);
    await hello.click();
    const tab = page.locator('.tabs-container .tab[aria-label*="hello.txt"]').first();
    await tab.waitFor({ timeout: 20_000 });
    await page
      .locator('.monaco-editor .view-lines:has-text("hello from the container")')
      .first()
      .waitFor({ timeout: 10_000 });
    await shot('files-open');
    await page.locator('.part.editor .monaco-editor .view-lines').first().click();
    await page.keyboard.press('Control+End');
    await page.keyboard.type('edited in VS Code');
    await page.keyboard.press('Control+S');
    const files = new ContainerFiles(() => client);
    const deadline = Date.now() + 20_000;
    let saved = await files.read(name, '/berth-ui-files/hello.txt');
    while (!saved.data.toString().includes('edited in VS Code')) {
      assert.ok(Date.now() < deadline, `saved back: ${saved.data}`);
      await page.waitForTimeout(250);
      saved = await files.read(name, '/berth-ui-files/hello.txt');
    }
    assert.equal(saved.data.toString(), 'hello from the container\nedited in VS Code');
    assert.deepEqual([saved.uid, saved.gid, saved.mode], [123, 456, 0o640], 'an edit keeps owner and mode');
    await shot('files-saved');
    await expand(pane('many'));
    await pane('f0000').waitFor({ timeout: 20_000 });
    await berthLog(/listed 5000 entries of berth-container:\/\/\w+\/berth-ui-files\/many\//);
    // Two more listings from the row's Refresh action; the best of three counts (the machine is shared).
    for (let i = 2; i <= 3; i++) {
      await pane('many').hover();
      await pane('many').locator('.action-label[aria-label="Refresh Folder"]').click();
      await berthLog(new RegExp(`(listed 5000 entries of [^\\n]*many/ in \\d+ ms[^]*){${i}}`));
    }
    const times = [...cs!.berthLog().matchAll(/listed 5000 entries of \S+many\/ in (\d+) ms/g)].map((m) =>
      Number(m[1]),
    );
    console.log(
      `      the tree listed 5,000 entries in ${times.join(' / ')} ms (load average ${os.loadavg()[0].toFixed(1)})`,
    );
    // The 300 ms budget is asserted on the same code path in test/extension/files.test.ts; here code-server and
    // Chromium share the host's cores with the engine, so only a gross regression (the whole subtree tarred, as
    // over Docker's GET /archive: seconds) fails this step.
    assert.ok(Math.min(...times) <= 1000, `5,000 entries took ${times.join(' / ')} ms`);
    await shot('files-many');
    await page.keyboard.press('Control+W');
  });

  it("Volume files: browses a volume's files in the Volumes view and opens one, no helper container shown", async () => {
    await openSidebar();
    await givenImage();
    const vol = `berth-ui-files-vol-${process.pid}`;
    await client.createVolume({ Name: vol });
    const { Id } = await client.createContainer({
      Image: imageRef,
      Cmd: ['true'],
      HostConfig: { Binds: [`${vol}:/v`] },
    } as any);
    const pack = tarStream.pack();
    pack.entry({ name: 'from-volume.txt' }, 'kept in a volume\n');
    pack.finalize();
    await client.putArchive(Id, '/v', pack as any);
    await client.removeContainer(Id);
    try {
      const volPane = (text: string) =>
        page.locator(`.pane:has(.pane-header[aria-label*="Volumes"]) .monaco-list-row[aria-label^="${text}"]`).first();
      await expand(volPane(vol));
      const file = volPane('from-volume.txt');
      await file.waitFor({ timeout: 20_000 });
      await file.click();
      await page
        .locator('.monaco-editor .view-lines:has-text("kept in a volume")')
        .first()
        .waitFor({ timeout: 20_000 });
      await shot('volume-files');
      // The helper container that reaches the volume is the extension's, not the user's.
      const helpers = await client.listContainers({ all: true, filters: { label: ['berth.helper'] } });
      assert.equal(helpers.length, 1);
      assert.equal(await row(helpers[0].Id.slice(0, 12)).count(), 0);
      await page.keyboard.press('Control+W');
    } finally {
      for (const c of await client.listContainers({ all: true, filters: { label: ['berth.helper'] } }))
        await client.removeContainer(c.Id, { force: true }).catch(() => undefined);
      await client.removeVolume(vol).catch(() => undefined);
    }
  });

  it('Registries: logs in (password to SecretStorage), pushes with progress, lists repositories and tags, and pulls from the view', async () => {
    await openSidebar();
    await givenImage();
    authRegistry ??= await startRegistry({ auth: { username: 'berth', password: 'ui-secret' } });
    const reg = authRegistry.host;
    const ref = `${reg}/ui/pushed:1`;
    await client.tagImage(imageRef, `${reg}/ui/pushed`, '1');
    await palette('Berth: Log In to a Registry');
    await answerInput('Registry address', reg);
    await answerInput('User name', 'berth');
    await answerInput('Password or access token', 'ui-secret');
    await openView('Registries');
    const regPane = (text: string) =>
      page.locator(`.pane:has(.pane-header[aria-label*="Registries"]) .monaco-list-row[aria-label^="${text}"]`).first();
    await waitForLabel(regPane(reg), /as berth/);
    assert.ok(!cs!.berthLog().includes('ui-secret'), 'the password is not logged');
    assert.ok(!fs.readFileSync(path.join(cs!.dir, 'data/User/settings.json'), 'utf8').includes('ui-secret'));
    await palette('Berth: Push');
    await page
      .locator('.quick-input-widget .monaco-list-row[aria-label*="ui/pushed:1"]')
      .first()
      .waitFor({ timeout: 10_000 });
    await page.keyboard.type(ref);
    await focusedPick(ref);
    await page.keyboard.press('Enter');
    await page
      .locator('.notifications-toasts .notification-list-item:has-text("Pushing")')
      .first()
      .waitFor({ timeout: 20_000 })
      .then(
        () => shot('registry-push-progress'),
        () => undefined, // a fast push may finish before the toast is seen
      );
    await page.locator(`.statusbar-item:has-text("pushed ${ref}")`).first().waitFor({ timeout: 60_000 });
    await expand(regPane(reg));
    await expand(regPane('ui/pushed'));
    const tag = regPane('1, ');
    await waitForLabel(tag, new RegExp(ref.replace(/[.]/g, '\\.')));
    await shot('registry-tags');
    await client.removeImage(ref, { force: true });
    await contextMenu(tag, 'Pull');
    const deadline = Date.now() + 60_000;
    while (
      !(await client.inspectImage(ref).then(
        () => true,
        () => false,
      ))
    ) {
      assert.ok(Date.now() < deadline, `${ref} pulled from the Registries view`);
      await page.waitForTimeout(250);
    }
    await shot('registry-pulled');
  });

  it('Engines: switches to another engine from the status bar, every view naming it, and back', async () => {
    await openSidebar();
    const other = await startEngine();
    try {
      const otherVolume = `berth-ui-other-${process.pid}`;
      await other.client.createVolume({ Name: otherVolume });
      await page.locator('.statusbar-item:has-text("Berth:")').first().click();
      await pickItem('Add Engine');
      await answerInput('Engine address', other.host);
      await answerInput('Name', 'second engine');
      await row(otherVolume).waitFor({ timeout: 30_000 });
      await page.locator('.statusbar-item:has-text("second engine")').first().waitFor({ timeout: 10_000 });
      const header = page.locator('.pane-header[aria-label*="Volumes"]').first();
      assert.match(await header.textContent(), /second engine/);
      assert.match(await page.locator('.pane-header[aria-label*="Containers"]').first().textContent(), /second engine/);
      await shot('engine-switched');
      // Back to the first engine (kept in the list after switching away from it).
      await page.locator('.statusbar-item:has-text("Berth:")').first().click();
      await page
        .locator(
          '.quick-input-widget .monaco-list-row[aria-label*="Added engines"], .quick-input-widget .monaco-list-row',
        )
        .first()
        .waitFor();
      await shot('engine-picker');
      await pickItem(host);
      await row(otherVolume).waitFor({ state: 'detached', timeout: 30_000 });
      await page
        .locator('.statusbar-item:has-text("second engine")')
        .first()
        .waitFor({ state: 'detached', timeout: 10_000 });
      await shot('engine-back-to-first');
    } finally {
      await other.cleanup();
    }
  });

  it('stops and removes it from the context menu, the tree following', async () => {
    await givenTicker();
    await contextMenu(name, 'Stop');
    const deadline = Date.now() + 30_000;
    while (
      !(
        await row(name)
          .getAttribute('aria-label')
          .catch(() => '')
      )?.includes('Exited')
    ) {
      assert.ok(Date.now() < deadline, 'row shows the container exited');
      await page.waitForTimeout(250);
    }
    await shot('stopped');
    await contextMenu(name, 'Remove');
    const confirm = page.locator('.monaco-dialog-box .monaco-button:has-text("Remove")').first();
    await confirm.waitFor({ timeout: 10_000 });
    await shot('remove-confirm');
    await confirm.click();
    await row(name).waitFor({ state: 'detached', timeout: 15_000 });
    await assert.rejects(client.inspectContainer(name), /No such container/);
    await shot('removed');
  });

  it('shows the Start Engine welcome when the engine goes away, and reconnects by itself when it is back', async function () {
    if (!engine) {
      console.log('      SKIPPED engine restart: the reference dockerd is shared and never stopped');
      return this.skip();
    }
    await openSidebar();
    // A row to see come back.
    await client.createVolume({ Name: volumeName });
    await row(volumeName).waitFor({ timeout: 20_000 });
    await engine.stop();
    await page
      .locator('.part.sidebar .welcome-view-content:has-text("No Berth engine answers yet")')
      .first()
      .waitFor({ timeout: 30_000 });
    await page.locator('.statusbar-item:has-text("engine stopped")').first().waitFor({ timeout: 10_000 });
    await shot('engine-stopped');
    await engine.restart();
    await row(volumeName).waitFor({ timeout: 30_000 });
    await page.locator('.statusbar-item:has-text("running")').first().waitFor({ timeout: 10_000 });
    await shot('engine-back');
  });
});
