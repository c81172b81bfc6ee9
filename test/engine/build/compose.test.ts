// docker-compose 1.29 (Debian's, which builds through docker-py's classic build API) with `build:` services and
// `depends_on: condition: service_healthy`: the images are built, the app starts only once the db is healthy.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { requireClient } from '../../helpers/clients';
import { requireDockerCli } from '../../helpers/engine';
import { type MirroredEngine, startMirroredEngine } from '../../helpers/mirrored-engine';

describe('docker-compose 1.29: build and service_healthy', function () {
  this.timeout(240_000);
  let m: MirroredEngine;
  let dir: string;
  const compose = (args: string[]) =>
    spawnSync('docker-compose', ['-p', 'berthbuild', ...args], {
      cwd: dir,
      encoding: 'utf8',
      timeout: 180_000,
      env: {
        ...process.env,
        DOCKER_HOST: m.engine.host,
        DOCKER_CONFIG: path.join(m.engine.dir, 'docker-config'),
        COMPOSE_DOCKER_CLI_BUILD: '0',
      },
    });

  before(async function () {
    requireDockerCli(this);
    requireClient(this, 'docker-compose');
    m = await startMirroredEngine();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-compose-'));
    const put = (p: string, s: string) => {
      fs.mkdirSync(path.dirname(path.join(dir, p)), { recursive: true });
      fs.writeFileSync(path.join(dir, p), s);
    };
    put(
      'db/Dockerfile',
      [
        'FROM busybox',
        'HEALTHCHECK --interval=300ms --retries=50 CMD test -f /tmp/ready',
        // ready only after a while: the app must wait for it
        'CMD ["sh", "-c", "sleep 2; touch /tmp/ready; exec sleep 600"]',
      ].join('\n'),
    );
    put('app/Dockerfile', 'FROM busybox\nARG GREETING\nRUN echo "$GREETING" > /greeting\nCMD ["cat", "/greeting"]\n');
    put(
      'docker-compose.yml',
      [
        'version: "2.4"',
        'services:',
        '  db:',
        '    build: ./db',
        '    network_mode: none',
        '  app:',
        '    build:',
        '      context: ./app',
        '      args:',
        '        GREETING: hello from compose',
        '    network_mode: none',
        '    depends_on:',
        '      db:',
        '        condition: service_healthy',
      ].join('\n'),
    );
  });
  after(async () => {
    if (m && dir) compose(['down', '--rmi', 'local', '-v']);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    await m?.cleanup();
  });

  it('builds both services and starts the app once the db is healthy', () => {
    const built = compose(['build']);
    assert.equal(built.status, 0, built.stderr + built.stdout);
    assert.match(built.stdout + built.stderr, /Successfully tagged berthbuild_app:latest/);
    const up = compose(['up', '-d']);
    assert.equal(up.status, 0, up.stderr + up.stdout);
    const ids = (svc: string) => compose(['ps', '-q', svc]).stdout.trim();
    const inspect = (id: string) => JSON.parse(m.ok(['inspect', id]))[0];
    const db = inspect(ids('db'));
    const app = inspect(ids('app'));
    assert.equal(db.State.Health.Status, 'healthy');
    // The order of events: the db's health_status: healthy comes before the app's start.
    const events = m
      .ok([
        'events',
        '--since',
        '0',
        '--until',
        (Date.now() / 1000).toFixed(3),
        '--filter',
        'event=start',
        '--filter',
        'event=health_status',
        '--format',
        '{{.Actor.ID}} {{.Action}}',
      ])
      .trim()
      .split('\n');
    const healthy = events.indexOf(`${db.Id} health_status: healthy`);
    const appStart = events.indexOf(`${app.Id} start`);
    assert.ok(healthy >= 0 && appStart > healthy, events.join('\n'));
    assert.equal(m.ok(['wait', app.Id]).trim(), '0');
    assert.equal(m.ok(['logs', app.Id]), 'hello from compose\n');
    assert.match(compose(['ps']).stdout, /Up \(healthy\)/);
  });
});
