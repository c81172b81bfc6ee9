import * as assert from 'node:assert/strict';
import { familiarString, parseNormalizedNamed, parseReference } from '../../../src/engine/registry/reference';
import { isInsecure, parseChallenges } from '../../../src/engine/registry';
import { EngineError } from '../../../src/engine/errdefs';

describe('registry: references', () => {
  const cases: [string, string, string, string | undefined, string | undefined][] = [
    ['busybox', 'docker.io', 'library/busybox', 'latest', undefined],
    ['busybox:1.36', 'docker.io', 'library/busybox', '1.36', undefined],
    ['user/repo', 'docker.io', 'user/repo', 'latest', undefined],
    ['docker.io/busybox', 'docker.io', 'library/busybox', 'latest', undefined],
    ['index.docker.io/library/busybox:x', 'docker.io', 'library/busybox', 'x', undefined],
    ['127.0.0.1:5000/ns/repo:tag', '127.0.0.1:5000', 'ns/repo', 'tag', undefined],
    ['localhost/repo', 'localhost', 'repo', 'latest', undefined],
    ['quay.io/a/b/c', 'quay.io', 'a/b/c', 'latest', undefined],
    ['busybox@sha256:' + 'a'.repeat(64), 'docker.io', 'library/busybox', undefined, 'sha256:' + 'a'.repeat(64)],
    ['r:5000/x:t@sha256:' + 'b'.repeat(64), 'r:5000', 'x', 't', 'sha256:' + 'b'.repeat(64)],
  ];
  for (const [input, domain, path, tag, digest] of cases) {
    it(`normalizes ${input}`, () => {
      const r = parseNormalizedNamed(input);
      assert.deepEqual({ domain: r.domain, path: r.path, tag: r.tag, digest: r.digest }, { domain, path, tag, digest });
    });
  }

  it('renders familiar strings like docker', () => {
    assert.equal(familiarString(parseNormalizedNamed('docker.io/library/busybox')), 'busybox:latest');
    assert.equal(familiarString(parseNormalizedNamed('user/repo:1')), 'user/repo:1');
    assert.equal(
      familiarString(parseNormalizedNamed('127.0.0.1:5000/library/busybox')),
      '127.0.0.1:5000/library/busybox:latest',
    );
  });

  it('refuses bad references with Docker messages', () => {
    const msg = (s: string) => {
      try {
        parseReference(s);
        return 'ok';
      } catch (e) {
        assert.ok(e instanceof EngineError);
        assert.equal(e.status, 400);
        return e.message;
      }
    };
    assert.equal(msg(''), 'invalid reference format');
    assert.equal(msg('a b'), 'invalid reference format');
    assert.equal(msg('busybox:'), 'invalid reference format');
    assert.equal(msg('-bad'), 'invalid reference format');
    assert.equal(msg('repo@sha256:abc'), 'invalid reference format');
    assert.equal(msg('BusyBox'), 'invalid reference format: repository name must be lowercase');
    assert.equal(
      msg('a'.repeat(64)),
      `invalid repository name (${'a'.repeat(64)}), cannot specify 64-byte hexadecimal strings`,
    );
    assert.equal(msg('repo:' + 'x'.repeat(129)), 'invalid reference format');
  });

  it('treats 127.0.0.0/8 and listed registries as insecure', () => {
    assert.equal(isInsecure('127.0.0.1:5000', []), true);
    assert.equal(isInsecure('localhost:5000', []), true);
    assert.equal(isInsecure('10.1.2.3:5000', []), false);
    assert.equal(isInsecure('10.1.2.3:5000', ['10.0.0.0/8']), true);
    assert.equal(isInsecure('myreg:5000', ['myreg:5000']), true);
    assert.equal(isInsecure('example.com', []), false);
  });

  it('parses WWW-Authenticate challenges', () => {
    const c = parseChallenges(
      'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull"',
    );
    assert.deepEqual(c, [
      {
        scheme: 'bearer',
        params: { realm: 'https://auth.example/token', service: 'registry.example', scope: 'repository:a/b:pull' },
      },
    ]);
    assert.deepEqual(parseChallenges('Basic realm="x"'), [{ scheme: 'basic', params: { realm: 'x' } }]);
  });
});
