// Registries: addresses and references as Docker reads them, the Registries view's rows, credentials kept only in
// SecretStorage, and the registry API (_catalog, tags/list) with Basic auth against a real registry — plus a push
// and a pull through berthd with the stored credentials as X-Registry-Auth, its progress summed as the
// notification shows it.
import * as assert from 'node:assert/strict';
import type { AuthConfig } from '../../src/client/types';
import {
  baseUrl,
  normalizeAddress,
  RegistryApi,
  referenceIn,
  registryOfReference,
} from '../../src/extension/registries/api';
import { RegistryStore } from '../../src/extension/registries/store';
import { PullProgress } from '../../src/extension/run/progress';
import { buildRegistryTree, buildRepositoryRecords, buildTagRecords } from '../../src/views/registries';
import { pushFixture, startRegistry, type Registry } from '../fixtures';
import { startEngine, type TestEngine } from '../helpers/engine';

class Memory {
  data = new Map<string, unknown>();
  get<T>(k: string, d?: T): T {
    return (this.data.has(k) ? this.data.get(k) : d) as T;
  }
  async update(k: string, v: unknown) {
    this.data.set(k, v);
  }
  keys() {
    return [...this.data.keys()];
  }
}
class Secrets {
  data = new Map<string, string>();
  async get(k: string) {
    return this.data.get(k);
  }
  async store(k: string, v: string) {
    this.data.set(k, v);
  }
  async delete(k: string) {
    this.data.delete(k);
  }
  onDidChange = () => ({ dispose() {} });
}

describe('extension: registries', () => {
  it('reads addresses and references as Docker does', () => {
    assert.equal(normalizeAddress('https://index.docker.io/v1/'), 'docker.io');
    assert.equal(normalizeAddress('https://ghcr.io/'), 'ghcr.io');
    assert.equal(baseUrl('localhost:5000'), 'http://localhost:5000');
    assert.equal(baseUrl('127.0.0.1:5000'), 'http://127.0.0.1:5000');
    assert.equal(baseUrl('ghcr.io'), 'https://ghcr.io');
    assert.equal(baseUrl('docker.io'), 'https://registry-1.docker.io');
    assert.equal(registryOfReference('busybox:1'), 'docker.io');
    assert.equal(registryOfReference('team/app:1'), 'docker.io');
    assert.equal(registryOfReference('localhost/app'), 'localhost');
    assert.equal(registryOfReference('127.0.0.1:5000/team/app:1'), '127.0.0.1:5000');
    assert.equal(referenceIn('127.0.0.1:5000', 'team/app', 'v1'), '127.0.0.1:5000/team/app:v1');
    assert.equal(referenceIn('docker.io', 'library/busybox', 'latest'), 'busybox:latest');
  });

  it('builds the Registries rows: registries, then lazily repositories and tags that pull by reference', () => {
    const [reg] = buildRegistryTree([{ address: '127.0.0.1:5000', username: 'ann' }]);
    assert.deepEqual(
      [reg.label, reg.description, reg.lazy, reg.contextValue],
      ['127.0.0.1:5000', 'as ann', true, 'registry'],
    );
    const [repo] = buildRepositoryRecords(reg, ['team/app']);
    assert.deepEqual(
      [repo.id, repo.repository, repo.lazy, repo.expanded],
      ['registry:127.0.0.1:5000/team/app', 'team/app', true, false],
    );
    const [tag] = buildTagRecords(repo, ['v1'], (t) => referenceIn('127.0.0.1:5000', 'team/app', t));
    assert.deepEqual([tag.label, tag.imageRef, tag.contextValue], ['v1', '127.0.0.1:5000/team/app:v1', 'registry.tag']);
  });

  it('keeps passwords in SecretStorage only, never in the registry list', async () => {
    const state = new Memory();
    const secrets = new Secrets();
    const store = new RegistryStore(state as any, secrets as any);
    await store.add('https://ghcr.io', { username: 'ann', password: 's3cret', serveraddress: 'ghcr.io' });
    await store.add('localhost:5000');
    assert.deepEqual(store.list(), [
      { address: 'ghcr.io', username: 'ann' },
      { address: 'localhost:5000', username: undefined },
    ]);
    assert.ok(!JSON.stringify([...state.data.values()]).includes('s3cret'), 'no password in state');
    assert.equal((await store.authFor('ghcr.io/ann/app:1'))?.password, 's3cret');
    assert.equal(await store.authFor('localhost:5000/app'), undefined);
    await store.remove('ghcr.io');
    assert.equal(secrets.data.size, 0);
    assert.deepEqual(store.list(), [{ address: 'localhost:5000', username: undefined }]);
  });
});

describe('extension: registries against a real registry and berthd', function () {
  this.timeout(180_000);
  let registry: Registry;
  let mirror: Registry;
  let engine: TestEngine;
  const auth = { username: 'berth', password: 'pw-for-tests' };

  before(async () => {
    registry = await startRegistry({ auth });
    mirror = await startRegistry();
    await pushFixture(mirror, 'busybox', 'library/busybox');
    engine = await startEngine({ config: { 'registry-mirrors': [mirror.url] } });
    for await (const m of engine.client.pullImage('busybox', 'latest')) if (m.error) throw new Error(m.error);
  });
  after(async () => {
    await engine?.cleanup();
    await registry?.stop();
    await mirror?.stop();
  });

  it('pushes with X-Registry-Auth, lists the catalog and tags with Basic auth, and pulls back', async () => {
    const ref = `${registry.host}/team/app`;
    await engine.client.tagImage('busybox:latest', ref, 'v1');
    const creds: AuthConfig = { ...auth, serveraddress: registry.host };
    assert.match((await engine.client.checkAuth(creds)).Status, /Login Succeeded/);
    const progress = new PullProgress();
    let digest = '';
    for await (const m of engine.client.pushImage(ref, 'v1', { auth: creds })) {
      assert.equal(m.error, undefined, m.error);
      progress.add(m);
      digest ||= /digest: (sha256:\w+)/.exec(m.status ?? '')?.[1] ?? '';
    }
    assert.match(digest, /^sha256:/);
    assert.equal(progress.fraction, 1);
    const api = new RegistryApi(registry.host, creds);
    assert.deepEqual(await api.repositories(), ['team/app']);
    assert.deepEqual(await api.tags('team/app'), ['v1']);
    await api.close();
    const anonymous = new RegistryApi(registry.host);
    await assert.rejects(anonymous.repositories(), /authentication required/);
    await anonymous.close();
    const wrong = new RegistryApi(registry.host, { username: 'berth', password: 'nope' });
    await assert.rejects(wrong.repositories(), (e: any) => e.status === 401);
    await wrong.close();
    await engine.client.removeImage(`${ref}:v1`);
    for await (const m of engine.client.pullImage(ref, 'v1', { auth: creds }))
      assert.equal(m.error, undefined, m.error);
    assert.ok((await engine.client.inspectImage(`${ref}:v1`)).Id);
  });
});

describe('extension: registry API with Bearer tokens and paged catalogs', () => {
  it("asks the realm the 401 names for a token with the stored credentials, and follows the catalog's Link pages", async () => {
    const http = await import('node:http');
    const seen: string[] = [];
    const server = http.createServer((req, res) => {
      const url = new URL(req.url!, 'http://x');
      seen.push(`${url.pathname}${url.search}`);
      if (url.pathname === '/token') {
        const basic = `Basic ${Buffer.from('ann:pw').toString('base64')}`;
        if (req.headers.authorization !== basic) return res.writeHead(401).end();
        assert.equal(url.searchParams.get('service'), 'test-registry');
        res.writeHead(200, { 'content-type': 'application/json' });
        return res.end(JSON.stringify({ token: `tok-${url.searchParams.get('scope')}` }));
      }
      const scope = url.pathname === '/v2/_catalog' ? 'registry:catalog:*' : 'repository:team/app:pull';
      if (req.headers.authorization !== `Bearer tok-${scope}`) {
        res.writeHead(401, {
          'www-authenticate': `Bearer realm="http://127.0.0.1:${port}/token",service="test-registry",scope="${scope}"`,
        });
        return res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
      }
      res.setHeader('content-type', 'application/json');
      if (url.pathname === '/v2/_catalog') {
        if (!url.searchParams.get('last')) {
          res.setHeader('link', '</v2/_catalog?last=team%2Fapp&n=100>; rel="next"');
          return res.end(JSON.stringify({ repositories: ['team/api', 'team/app'] }));
        }
        return res.end(JSON.stringify({ repositories: ['team/web'] }));
      }
      return res.end(JSON.stringify({ name: 'team/app', tags: ['v2', 'v1'] }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      const api = new RegistryApi(`127.0.0.1:${port}`, { username: 'ann', password: 'pw' });
      assert.deepEqual(await api.repositories(), ['team/api', 'team/app', 'team/web']);
      assert.deepEqual(await api.tags('team/app'), ['v1', 'v2']);
      await api.close();
      assert.ok(seen.includes('/token?service=test-registry&scope=registry%3Acatalog%3A*'));
      const wrong = new RegistryApi(`127.0.0.1:${port}`, { username: 'ann', password: 'bad' });
      await assert.rejects(wrong.repositories(), /token service refused the credentials/);
      await wrong.close();
    } finally {
      server.close();
    }
  });
});
