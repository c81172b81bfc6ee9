// dockerode (npm) against berthd: what a Node program built on it does — pull with progress, run, attach and
// demultiplex, exec over a hijacked stream, events, and the errors it turns into statusCode/json.
import * as assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import Docker from 'dockerode';
import { type MirroredEngine, startMirroredEngine } from '../helpers/mirrored-engine';

/** Collects a stream's text. */
function sink(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (d) => (text += d));
  return { stream, text: () => text };
}

/** What a rejected dockerode call carried: the status and Docker's message. */
async function failure(p: Promise<unknown>): Promise<{ statusCode: number; message: string }> {
  try {
    await p;
  } catch (err: any) {
    return { statusCode: err.statusCode, message: err.json?.message ?? String(err.json ?? err.message) };
  }
  throw new Error('the call did not fail');
}

describe('clients: dockerode', function () {
  this.timeout(180_000);
  let target: MirroredEngine;
  let docker: Docker;

  before(async () => {
    target = await startMirroredEngine();
    docker = new Docker({ socketPath: target.engine.socket });
  });
  after(async () => target?.cleanup());

  it("pulls with progress, and answers unknown objects with 404 and Docker's message", async () => {
    const stream = await docker.pull('hello-world');
    const events: any[] = await new Promise((resolve, reject) =>
      docker.modem.followProgress(stream, (err: unknown, out: any[]) => (err ? reject(err) : resolve(out))),
    );
    assert.match(events.at(-1).status, /Downloaded newer image for hello-world:latest|Image is up to date/);
    const tags = (await docker.listImages()).flatMap((i) => i.RepoTags ?? []);
    assert.ok(tags.includes('hello-world:latest'), tags.join(' '));
    assert.deepEqual(await failure(docker.getContainer('nope').inspect()), {
      statusCode: 404,
      message: 'No such container: nope',
    });
  });

  it('runs a container with docker.run, demultiplexing stdout from stderr', async () => {
    const out = sink();
    const err = sink();
    const [result, container] = await docker.run(
      'busybox',
      ['sh', '-c', 'echo to-out; echo to-err >&2; exit 4'],
      [out.stream, err.stream],
      { Tty: false },
    );
    assert.equal(result.StatusCode, 4);
    assert.equal(out.text(), 'to-out\n');
    assert.equal(err.text(), 'to-err\n');
    const logs = (await container.logs({ stdout: true, stderr: true, follow: false })) as unknown as Buffer;
    const split = { out: sink(), err: sink() };
    const framed = new PassThrough();
    docker.modem.demuxStream(framed, split.out.stream, split.err.stream);
    framed.end(logs);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual([split.out.text(), split.err.text()], ['to-out\n', 'to-err\n']);
    await container.remove();
  });

  it('execs over a hijacked stream, with and without a TTY, and reads the exit code', async () => {
    const c = await docker.createContainer({ Image: 'busybox', Cmd: ['sleep', '600'], name: 'node-exec' });
    await c.start();
    try {
      const plain = await c.exec({
        Cmd: ['sh', '-c', 'echo out; echo err >&2; exit 2'],
        AttachStdout: true,
        AttachStderr: true,
      });
      const stream = await plain.start({ hijack: true, stdin: false });
      const out = sink();
      const err = sink();
      docker.modem.demuxStream(stream, out.stream, err.stream);
      await new Promise((r) => stream.on('end', r));
      assert.deepEqual([out.text(), err.text()], ['out\n', 'err\n']);
      assert.equal((await plain.inspect()).ExitCode, 2);

      const tty = await c.exec({ Cmd: ['tty'], AttachStdout: true, Tty: true });
      const raw = await tty.start({ hijack: true, stdin: false, Tty: true });
      let text = '';
      raw.on('data', (d: Buffer) => (text += d));
      await new Promise((r) => raw.on('end', r));
      assert.match(text, /^\/dev\/pts\/\d+\r\n$/, 'raw bytes, no frame headers');
    } finally {
      await c.remove({ force: true });
    }
  });

  it("lists a container's short ID and hostname among its aliases on user networks for clients before API 1.45", async () => {
    await docker.createNetwork({ Name: 'node-aliases' });
    const c = await docker.createContainer({
      Image: 'busybox',
      name: 'node-aliased',
      Hostname: 'node-host',
      HostConfig: { NetworkMode: 'node-aliases' },
      NetworkingConfig: { EndpointsConfig: { 'node-aliases': { Aliases: ['svc'] } } },
    });
    try {
      const old = new Docker({ socketPath: target.engine.socket, version: 'v1.44' });
      const before145 = await old.getContainer(c.id).inspect();
      assert.deepEqual(before145.NetworkSettings.Networks['node-aliases'].Aliases, [
        'svc',
        c.id.slice(0, 12),
        'node-host',
      ]);
      const current = await c.inspect();
      assert.deepEqual(current.NetworkSettings.Networks['node-aliases'].Aliases, ['svc']);
    } finally {
      await c.remove();
      await docker.getNetwork('node-aliases').remove();
    }
  });

  it('follows events as a stream', async () => {
    const events = (await docker.getEvents({ filters: { type: ['container'], event: ['create'] } })) as any;
    const seen = new Promise<any>((resolve) => events.on('data', (d: Buffer) => resolve(JSON.parse(d.toString()))));
    const c = await docker.createContainer({ Image: 'busybox', name: 'node-events' });
    const e = await seen;
    events.destroy();
    assert.equal(e.Action, 'create');
    assert.equal(e.Actor.Attributes.name, 'node-events');
    assert.equal(e.id, c.id);
    await c.remove();
  });

  it("sees no swarm and no plugins; network and volume errors and prunes are dockerd's", async () => {
    const notManager =
      'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.';
    assert.deepEqual(await failure(docker.swarmInspect()), { statusCode: 503, message: notManager });
    assert.deepEqual(await failure(docker.listServices()), { statusCode: 503, message: notManager });
    assert.deepEqual(await docker.listPlugins(), []);
    assert.deepEqual(await failure(docker.createNetwork({ Name: 'node-net', Labels: { n: 1 } as any })), {
      statusCode: 400,
      message: 'json: cannot unmarshal number into Go struct field NetworkCreateRequest.Labels of type string',
    });
    assert.deepEqual(await failure(docker.createNetwork({ Name: 'node-net', Driver: 'host' })), {
      statusCode: 403,
      message: 'only one instance of "host" network is allowed',
    });
    await docker.createNetwork({ Name: 'node-net', Labels: { n: '1' } });
    assert.deepEqual(await docker.pruneNetworks({ filters: { label: ['n=2'] } }), { NetworksDeleted: null });
    assert.deepEqual(await docker.pruneNetworks(), { NetworksDeleted: ['node-net'] });
    await docker.createVolume({ Name: 'node-named' });
    await docker.createVolume({});
    const anon = await docker.pruneVolumes();
    assert.equal(anon.VolumesDeleted.length, 1);
    assert.match(anon.VolumesDeleted[0], /^[0-9a-f]{64}$/);
    assert.deepEqual((await docker.pruneVolumes({ filters: { all: ['true'] } })).VolumesDeleted, ['node-named']);
  });
  it('creates with Init, IpcMode, UTSMode, Links and MacAddress; updates a running one; stats per interface', async () => {
    const db = await docker.createContainer({
      Image: 'busybox',
      Cmd: ['sleep', '600'],
      name: 'node-db',
      Env: ['ROLE=db'],
      ExposedPorts: { '6379/tcp': {} },
    });
    await db.start();
    const app = await docker.createContainer({
      Image: 'busybox',
      Cmd: ['sleep', '600'],
      name: 'node-app',
      HostConfig: { Init: true, IpcMode: 'shareable', UTSMode: 'host', Links: ['node-db:cache'] },
      NetworkingConfig: { EndpointsConfig: { bridge: { MacAddress: '02:42:ac:11:00:77' } } },
    });
    try {
      await app.start();
      const run = async (cmd: string[]) => {
        const exec = await app.exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
        const stream = await exec.start({ hijack: true, stdin: false });
        const out = sink();
        docker.modem.demuxStream(stream, out.stream, out.stream);
        await new Promise((r) => stream.on('end', r));
        return out.text();
      };
      assert.equal(await run(['sh', '-c', 'echo $CACHE_ENV_ROLE $CACHE_PORT_6379_TCP_PORT']), 'db 6379\n');
      assert.match(await run(['cat', '/etc/hosts']), /\tcache [0-9a-f]{12} node-db\n/);
      assert.equal(await run(['cat', '/proc/1/cmdline']), ['/sbin/docker-init', '--', 'sleep', '600', ''].join('\0'));
      assert.equal(await run(['cat', '/sys/class/net/eth0/address']), '02:42:ac:11:00:77\n');
      await app.update({
        RestartPolicy: { Name: 'unless-stopped' },
        Memory: 32 * 1024 * 1024,
        MemorySwap: 64 * 1024 * 1024,
      });
      const hc = (await app.inspect()).HostConfig;
      assert.deepEqual(
        [hc.Init, hc.IpcMode, hc.UTSMode, hc.Links, hc.RestartPolicy?.Name, hc.Memory],
        [true, 'shareable', 'host', ['/node-db:/node-app/cache'], 'unless-stopped', 32 * 1024 * 1024],
      );
      const stats = await app.stats({ stream: false });
      assert.deepEqual(Object.keys(stats.networks ?? {}), ['eth0']);
    } finally {
      await app.remove({ force: true });
      await db.remove({ force: true });
    }
  });
});
