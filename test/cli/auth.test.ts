// Registry credentials: what berth login stores, what it reads back (its own config, then docker's), and the
// X-Registry-Auth header the engine receives.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  authForImage,
  berthConfigPath,
  DOCKER_HUB,
  lookupAuth,
  registryOf,
  removeAuth,
  serverKey,
  storeAuth,
} from '../../src/cli/auth';
import { encodeAuthHeader } from '../../src/client';

describe('cli registry credentials', () => {
  let dir: string;
  const saved = { BERTH_CONFIG: process.env.BERTH_CONFIG, DOCKER_CONFIG: process.env.DOCKER_CONFIG };
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-auth-'));
    process.env.BERTH_CONFIG = path.join(dir, 'berth');
    process.env.DOCKER_CONFIG = path.join(dir, 'docker');
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
    for (const [k, v] of Object.entries(saved))
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
  });

  it("maps image references to docker's config.json keys", () => {
    assert.equal(registryOf('busybox'), DOCKER_HUB);
    assert.equal(registryOf('library/busybox:1'), DOCKER_HUB);
    assert.equal(registryOf('docker.io/user/app'), DOCKER_HUB);
    assert.equal(registryOf('127.0.0.1:5000/library/busybox'), '127.0.0.1:5000');
    assert.equal(registryOf('registry.example.com/team/app@sha256:abc'), 'registry.example.com');
    assert.equal(registryOf('localhost/app'), 'localhost');
    assert.equal(serverKey(), DOCKER_HUB);
    assert.equal(serverKey('https://index.docker.io/v1/'), DOCKER_HUB);
    assert.equal(serverKey('https://reg.example.com/v2/'), 'reg.example.com');
  });

  it('stores credentials privately in ~/.config/berth/config.json and reads them back', () => {
    const file = storeAuth('127.0.0.1:5056', 'alice', 's3cret');
    assert.equal(file, berthConfigPath());
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    const cfg = JSON.parse(fs.readFileSync(file, 'utf8'));
    assert.equal(Buffer.from(cfg.auths['127.0.0.1:5056'].auth, 'base64').toString(), 'alice:s3cret');
    assert.deepEqual(authForImage('127.0.0.1:5056/alice/app:1'), {
      username: 'alice',
      password: 's3cret',
      serveraddress: '127.0.0.1:5056',
      identitytoken: undefined,
    });
    assert.equal(authForImage('127.0.0.1:5057/alice/app'), undefined);
    assert.equal(removeAuth('127.0.0.1:5056'), true);
    assert.equal(removeAuth('127.0.0.1:5056'), false);
    assert.equal(lookupAuth('127.0.0.1:5056'), undefined);
  });

  it("falls back to docker's ~/.docker/config.json auths (https:// keys too)", () => {
    fs.mkdirSync(process.env.DOCKER_CONFIG!, { recursive: true });
    fs.writeFileSync(
      path.join(process.env.DOCKER_CONFIG!, 'config.json'),
      JSON.stringify({
        auths: {
          'https://index.docker.io/v1/': { auth: Buffer.from('bob:pw:with:colons').toString('base64') },
          'https://reg.example.com': { auth: Buffer.from('carol:x').toString('base64') },
        },
      }),
    );
    assert.equal(authForImage('busybox')?.password, 'pw:with:colons');
    assert.equal(authForImage('reg.example.com/app')?.username, 'carol');
    // Berth's own login wins over docker's.
    storeAuth(DOCKER_HUB, 'dave', 'mine');
    assert.equal(authForImage('busybox')?.username, 'dave');
  });

  it('encodes X-Registry-Auth as padded URL-safe base64 JSON (what dockerd decodes)', () => {
    const auth = { username: 'a?>', password: 'b~~', serveraddress: 'r' };
    const h = encodeAuthHeader(auth);
    assert.doesNotMatch(h, /[+/]/);
    assert.equal(h.length % 4, 0);
    assert.deepEqual(JSON.parse(Buffer.from(h.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString()), auth);
  });
});
