// The engine as the wsl driver runs it (BERTH_WINDOWS_DRIVES / BERTH_WSL_DISTRO, carried by WSLENV), on Linux: the
// host paths a Windows docker CLI sends (`-v C:\Users\me\p:/src`, --mount source=C:/…, a bind-backed volume's device)
// land on the drive's folder under the automount root — here a temporary folder standing for /mnt, which WSL owns on
// Windows — while inspect shows the path as the client sent it (HostConfig.Binds), as Docker Desktop's engine does.
// The requests go through the VM's relay (unix socket → mutual TLS), as on a laptop.
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EngineApiError, EngineClient } from '../../src/client';
import { makeVmTls, TLS_FILES, writeVmTls } from '../../src/vm/certs';
import { type Relay, startRelay } from '../../src/vm/relay';
import { type Registry, seedMirror, startRegistry } from '../fixtures';
import { requireDockerCli, startEngine, type TestEngine } from '../helpers/engine';
import { freePort } from '../helpers/net';

describe('vm wsl: Windows host paths reach the guest engine as /mnt/<drive>/…', function () {
  this.timeout(120_000);
  let dir: string;
  let drives: string;
  let engine: TestEngine;
  let relay: Relay;
  let registry: Registry;
  let sock: string;
  let client: EngineClient;

  before(async function () {
    requireDockerCli(this);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-wslpaths-'));
    drives = path.join(dir, 'mnt');
    const project = path.join(drives, 'c', 'Users', 'Jane Doe', 'project');
    fs.mkdirSync(project, { recursive: true });
    fs.writeFileSync(path.join(project, 'hello.txt'), 'from the C: drive\n');
    fs.mkdirSync(path.join(drives, 'd', 'data'), { recursive: true });
    const material = makeVmTls('wsl-paths');
    writeVmTls(path.join(dir, 'tls'), material);
    registry = await startRegistry();
    await seedMirror(registry);
    const port = await freePort();
    const t = (f: string) => path.join(dir, 'tls', f);
    engine = await startEngine({
      config: { 'registry-mirrors': [registry.url] },
      env: { BERTH_WINDOWS_DRIVES: drives, BERTH_WSL_DISTRO: 'berth-default' },
      args: [
        '-H',
        `tcp://127.0.0.1:${port}`,
        '--tlsverify',
        '--tlscacert',
        t(TLS_FILES.ca),
        '--tlscert',
        t(TLS_FILES.serverCert),
        '--tlskey',
        t(TLS_FILES.serverKey),
      ],
    });
    sock = path.join(dir, 'api.sock');
    relay = await startRelay(sock, { host: '127.0.0.1', port }, material);
    client = new EngineClient(`unix://${sock}`);
    const pull = await docker(['pull', 'busybox']);
    assert.equal(pull.status, 0, pull.stderr);
  });

  after(async () => {
    await client?.close();
    await relay?.close();
    await engine?.cleanup();
    await registry?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  // Not spawnSync: the relay runs in this process and must keep serving while docker runs.
  const docker = (args: string[]) =>
    new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      const c = spawn('docker', args, { env: { ...process.env, DOCKER_HOST: `unix://${sock}` } });
      let stdout = '';
      let stderr = '';
      c.stdout.on('data', (d) => (stdout += d));
      c.stderr.on('data', (d) => (stderr += d));
      const timer = setTimeout(() => c.kill(), 60_000);
      c.on('close', (status) => {
        clearTimeout(timer);
        resolve({ status, stdout, stderr });
      });
      c.stdin.end();
    });

  /** The status and body of a request (an error's too). */
  const call = async (method: string, p: string, body?: unknown) => {
    try {
      return { status: 200, body: await client.json(method, p, { body }) };
    } catch (err) {
      if (err instanceof EngineApiError) return { status: err.status, body: { message: err.message } };
      throw err;
    }
  };
  /** Creates a container as a Windows docker CLI does, the paths as Windows writes them. */
  const create = (hostConfig: Record<string, unknown>, cmd: string[]) =>
    call('POST', '/containers/create', { Image: 'busybox', Cmd: cmd, HostConfig: hostConfig });
  const inspect = (id: string) => client.json('GET', `/containers/${id}/json`);
  const containerCount = async () => (await client.json('GET', '/containers/json', { query: { all: '1' } })).length;

  const runToEnd = async (id: string) => {
    await client.json('POST', `/containers/${id}/start`);
    await client.json('POST', `/containers/${id}/wait`);
    const logs = await docker(['logs', id]);
    return logs.stdout;
  };

  it('-v C:\\Users\\…:/src reads and writes the folder under /mnt/c, inspect shows the bind as sent', async () => {
    const bind = 'C:\\Users\\Jane Doe\\project\\:/src';
    const c = await create({ Binds: [bind] }, ['sh', '-c', 'cat /src/hello.txt; echo from the container > /src/out']);
    assert.equal(c.status, 200, JSON.stringify(c.body));
    assert.equal(await runToEnd(c.body.Id), 'from the C: drive\n');
    const folder = path.join(drives, 'c', 'Users', 'Jane Doe', 'project');
    assert.equal(fs.readFileSync(path.join(folder, 'out'), 'utf8'), 'from the container\n');
    const info = await inspect(c.body.Id);
    assert.deepEqual(info.HostConfig.Binds, [bind]);
    assert.deepEqual(
      info.Mounts.map((m: any) => [m.Type, m.Source, m.Destination, m.RW]),
      [['bind', folder, '/src', true]],
    );
  });

  it('--mount type=bind,source=c:/…,readonly and a \\\\wsl$ path of its own distribution', async () => {
    const own = path.join(dir, 'own');
    fs.mkdirSync(own);
    fs.writeFileSync(path.join(own, 'f'), 'in the distribution\n');
    const c = await create(
      {
        Mounts: [
          { Type: 'bind', Source: 'c:/Users/Jane Doe/project', Target: '/p', ReadOnly: true },
          { Type: 'bind', Source: `\\\\wsl$\\berth-default${own.replace(/\//g, '\\')}`, Target: '/own' },
        ],
      },
      ['sh', '-c', 'cat /p/hello.txt /own/f; touch /p/x 2>/dev/null || echo read-only'],
    );
    assert.equal(c.status, 200, JSON.stringify(c.body));
    assert.equal(await runToEnd(c.body.Id), 'from the C: drive\nin the distribution\nread-only\n');
    const info = await inspect(c.body.Id);
    assert.equal(info.HostConfig.Mounts[0].Source, 'c:/Users/Jane Doe/project');
    assert.equal(info.Mounts.find((m: any) => m.Destination === '/own').Source, own);
  });

  it('the docker CLI: -v D:\\data:/data and a bind-backed volume on D:\\data', async () => {
    const run = await docker(['run', '--rm', '-v', 'D:\\data:/data', 'busybox', 'sh', '-c', 'echo cli > /data/cli']);
    assert.equal(run.status, 0, run.stderr);
    assert.equal(fs.readFileSync(path.join(drives, 'd', 'data', 'cli'), 'utf8'), 'cli\n');
    const vol = await docker([
      'volume',
      'create',
      '--opt',
      'type=none',
      '--opt',
      'o=bind',
      '--opt',
      'device=D:\\data',
      'ddata',
    ]);
    assert.equal(vol.status, 0, vol.stderr);
    const used = await docker(['run', '--rm', '-v', 'ddata:/v', 'busybox', 'cat', '/v/cli']);
    assert.equal(used.status, 0, used.stderr);
    assert.equal(used.stdout, 'cli\n');
    const inspect = await docker(['volume', 'inspect', '--format', '{{json .Options}}', 'ddata']);
    assert.deepEqual(JSON.parse(inspect.stdout), { type: 'none', o: 'bind', device: 'D:\\data' });
  });

  it('a network share or another distribution is a 400 saying why, and nothing is created', async () => {
    const before = await containerCount();
    const share = await create({ Binds: ['\\\\fileserver\\team:/t'] }, ['true']);
    assert.equal(share.status, 400);
    assert.match(
      share.body.message,
      /^invalid volume specification: '\\\\fileserver\\team:\/t': \\\\fileserver\\team is on a network share, which Berth's VM cannot see/,
    );
    const other = await create({ Mounts: [{ Type: 'bind', Source: '\\\\wsl$\\Ubuntu\\home\\me', Target: '/m' }] }, [
      'true',
    ]);
    assert.equal(other.status, 400);
    assert.match(other.body.message, /^invalid mount config for type "bind": .*WSL distribution "Ubuntu"/);
    const vol = await call('POST', '/volumes/create', {
      Name: 'share',
      DriverOpts: { type: 'none', o: 'bind', device: '\\\\fileserver\\team' },
    });
    assert.equal(vol.status, 400);
    assert.match(vol.body.message, /^create share: \\\\fileserver\\team is on a network share/);
    assert.equal(await containerCount(), before);
  });
});
