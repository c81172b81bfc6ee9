// Builds, commits, imports and healthchecks as the client libraries drive them (issue 17's "docker-py's and
// dockerode's build calls"): docker-py's images.build / api.build with a custom gzip context / commit / import /
// healthcheck (test/clients/python/build.py), and dockerode's buildImage with its progress stream, a failing
// build's error, and commit. The docker CLI's and compose's builds are tested in test/engine/build.
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Docker from 'dockerode';
import { DEBIAN_PYTHON, requireClient } from '../helpers/clients';
import { type MirroredEngine, startMirroredEngine } from '../helpers/mirrored-engine';

/** A build context with two stages, a build arg, a Dockerfile in a subfolder and one that fails. */
function makeContext(dir: string): void {
  fs.mkdirSync(path.join(dir, 'sub'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'greeting.txt'), 'unused by the final stage\n');
  fs.writeFileSync(
    path.join(dir, 'sub', 'Dockerfile.py'),
    [
      'FROM busybox AS base',
      'ARG GREETING=unset',
      'RUN echo "$GREETING" > /greeting',
      'FROM busybox AS final',
      'COPY --from=base /greeting /greeting',
      'CMD ["cat", "/greeting"]',
      'FROM busybox AS never',
      'RUN exit 1',
      '',
    ].join('\n'),
  );
  fs.writeFileSync(path.join(dir, 'sub', 'Dockerfile.fail'), 'FROM busybox\nRUN echo going && exit 3\n');
}

/** Runs a python script with Debian's interpreter against `host`; returns the JSON object it printed. */
function python(host: string, script: string, args: string[]): Promise<any> {
  return new Promise((resolve, reject) => {
    const p = spawn(DEBIAN_PYTHON, [script, ...args], { env: { ...process.env, DOCKER_HOST: host } });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('close', (code) => {
      if (code !== 0) reject(new Error(`${path.basename(script)} failed (${code}):\n${err}${out}`));
      else resolve(JSON.parse(out.trim().split('\n').pop()!));
    });
  });
}

describe('clients: builds, commits and healthchecks', function () {
  this.timeout(240_000);
  let target: MirroredEngine;
  let ctx: string;

  before(async () => {
    target = await startMirroredEngine();
    ctx = fs.mkdtempSync(path.join(target.engine.dir, 'client-build-'));
    makeContext(ctx);
  });
  after(async () => target?.cleanup());

  it('docker-py: images.build with args, target, labels and a subfolder Dockerfile; cache; BuildError; custom gzip context; commit; import; healthcheck', async function () {
    requireClient(this, 'python3-docker');
    const r = await python(target.engine.host, path.join(__dirname, 'python', 'build.py'), [ctx]);
    assert.deepEqual(r.tags, ['py-built:1']);
    assert.deepEqual(r.labels, { 'made-by': 'docker-py' });
    // --target final: the "never" stage is not built.
    assert.deepEqual(
      r.streamed_steps.map((s: string) => s.replace(/^Step \d+\/\d+ : /, '')),
      [
        'FROM busybox AS base',
        'ARG GREETING=unset',
        'RUN echo "$GREETING" > /greeting',
        'FROM busybox AS final',
        'COPY --from=base /greeting /greeting',
        'CMD ["cat", "/greeting"]',
        // dockerd's classic builder adds the request's labels as one last step.
        'LABEL made-by=docker-py',
      ],
    );
    assert.equal(r.greeting, 'hello from py\n');
    assert.equal(r.cached, 4, 'ARG, RUN, COPY and CMD from the cache');
    assert.equal(r.failure, "The command '/bin/sh -c echo going && exit 3' returned a non-zero code: 3");
    assert.deepEqual(r.fails_tagged, []);
    assert.equal(r.custom_aux, true);
    assert.equal(r.custom, 'from a custom context\n');
    assert.equal(r.commit_run, 'committed\n');
    assert.equal(r.commit_comment, 'by docker-py');
    assert.equal(r.imported_size, 9);
    assert.deepEqual(r.health_config, {
      Test: ['CMD-SHELL', 'test -e /tmp/ready'],
      Interval: 200_000_000,
      Timeout: 2_000_000_000,
      Retries: 3,
    });
    assert.equal(r.health, 'healthy');
    assert.equal(r.health_log_ok, true);
  });

  it('dockerode: buildImage streams progress to the image; a failing step ends the stream with its error; commit', async () => {
    const docker = new Docker({ socketPath: target.engine.socket });
    const follow = (stream: NodeJS.ReadableStream) =>
      new Promise<any[]>((resolve, reject) =>
        docker.modem.followProgress(stream, (err: unknown, out: any[]) => (err ? reject(err) : resolve(out))),
      );

    const built = await follow(
      await docker.buildImage(
        { context: ctx, src: ['sub/Dockerfile.py', 'greeting.txt'] },
        {
          t: 'node-built:1',
          dockerfile: 'sub/Dockerfile.py',
          target: 'final',
          buildargs: { GREETING: 'hello from node' },
        },
      ),
    );
    const id = built.find((m) => m.aux?.ID)?.aux.ID;
    assert.match(id, /^sha256:[0-9a-f]{64}$/);
    assert.ok(built.some((m) => m.stream === 'Successfully tagged node-built:1\n'));
    const failed = await follow(
      await docker.buildImage(
        { context: ctx, src: ['sub/Dockerfile.fail'] },
        { t: 'node-fails:1', dockerfile: 'sub/Dockerfile.fail' },
      ),
    ).catch((err) => [{ rejected: String(err.message ?? err) }]);
    const error = failed.find((m) => m.error || m.rejected);
    assert.ok(error, JSON.stringify(failed));
    assert.match(error.error ?? error.rejected, /returned a non-zero code: 3/);
    assert.equal(error.errorDetail?.code ?? 3, 3);
    await assert.rejects(docker.getImage('node-fails:1').inspect(), (e: any) => e.statusCode === 404);

    const container = await docker.createContainer({ Image: 'busybox', Cmd: ['sh', '-c', 'echo from node > /n'] });
    await container.start();
    await container.wait();
    const commit = await container.commit({ repo: 'node-commit', tag: '1', changes: 'CMD ["cat", "/n"]' });
    assert.match(commit.Id, /^sha256:[0-9a-f]{64}$/);
    const img = await docker.getImage('node-commit:1').inspect();
    assert.deepEqual(img.Config.Cmd, ['cat', '/n']);
    await container.remove();
  });
});
