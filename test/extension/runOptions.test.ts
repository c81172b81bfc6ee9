// The Run command's answers → the engine's create body (docker run's formats), and pull arguments.
import * as assert from 'node:assert/strict';
import { buildRunConfig, parsePorts, pullArgs, RunOptionError, shellSplit } from '../../src/extension/run/options';

describe('extension: run options', () => {
  it('builds a detached container with ports, env, volumes and a command', () => {
    const { name, config } = buildRunConfig({
      image: 'busybox:latest',
      name: 'web',
      ports: '8080:80, 127.0.0.1:5353:53/udp 9000',
      env: 'A=1 B="two words"',
      volumes: 'data:/data /srv/site:/site:ro',
      command: `sh -c 'echo "hi there"'`,
      interactive: false,
    });
    assert.equal(name, 'web');
    assert.deepEqual(config.Cmd, ['sh', '-c', 'echo "hi there"']);
    assert.deepEqual(config.Env, ['A=1', 'B=two words']);
    assert.deepEqual(config.ExposedPorts, { '80/tcp': {}, '53/udp': {}, '9000/tcp': {} });
    assert.deepEqual(config.HostConfig?.PortBindings, {
      '80/tcp': [{ HostIp: '', HostPort: '8080' }],
      '53/udp': [{ HostIp: '127.0.0.1', HostPort: '5353' }],
      '9000/tcp': [{ HostIp: '', HostPort: '' }],
    });
    assert.deepEqual(config.HostConfig?.Binds, ['data:/data', '/srv/site:/site:ro']);
    assert.equal(config.Tty, false);
    assert.equal(config.OpenStdin, false);
  });

  it('builds an interactive (-it) container that keeps the image command', () => {
    const { name, config } = buildRunConfig({ image: 'busybox', interactive: true, name: '', command: '  ' });
    assert.equal(name, undefined);
    assert.equal(config.Cmd, undefined);
    assert.deepEqual([config.Tty, config.OpenStdin, config.StdinOnce, config.AttachStdin], [true, true, true, true]);
    assert.equal(config.HostConfig?.Binds, null);
  });

  it('rejects bad input with a message naming it', () => {
    const bad: [Record<string, string>, RegExp][] = [
      [{ ports: '80:abc' }, /invalid port "80:abc"/],
      [{ ports: '70000:80' }, /70000 is out of range/],
      [{ env: '=x' }, /invalid environment variable/],
      [{ volumes: 'data' }, /invalid volume "data"/],
      [{ volumes: 'data:relative' }, /invalid volume/],
      [{ volumes: 'data:/d:rx' }, /invalid volume mode "rx"/],
      [{ name: 'bad name' }, /invalid container name/],
      [{ command: `sh -c 'unterminated` }, /unterminated ' quote/],
      [{ image: ' ' }, /an image is required/],
    ];
    for (const [over, re] of bad)
      assert.throws(
        () => buildRunConfig({ image: 'busybox', interactive: false, ...over }),
        (e: Error) => e instanceof RunOptionError && re.test(e.message),
        JSON.stringify(over),
      );
  });

  it('takes host folders written the Windows way (Berth on Windows: the WSL engine translates them)', () => {
    const { config } = buildRunConfig({
      image: 'busybox',
      interactive: false,
      volumes: 'C:\\Users\\me\\project:/src, "D:\\My Data\\":/data:ro \\\\wsl$\\berth-default\\srv:/srv my\\ vol:/v',
    });
    assert.deepEqual(config.HostConfig?.Binds, [
      'C:\\Users\\me\\project:/src',
      'D:\\My Data\\:/data:ro',
      '\\\\wsl$\\berth-default\\srv:/srv',
      'my vol:/v',
    ]);
    for (const bad of ['C:\\Users\\me', 'C:\\p:relative', 'C:\\p:/d:rx'])
      assert.throws(() => buildRunConfig({ image: 'busybox', interactive: false, volumes: bad }), RunOptionError, bad);
  });

  it('splits commands like a shell (quotes, escapes, empty strings)', () => {
    assert.deepEqual(shellSplit(`a "b c" 'd "e"' f\\ g "" h`), ['a', 'b c', 'd "e"', 'f g', '', 'h']);
    assert.deepEqual(shellSplit('  '), []);
  });

  it('accepts IPv6 host addresses in ports', () => {
    assert.deepEqual(parsePorts('[::1]:8080:80').bindings, { '80/tcp': [{ HostIp: '::1', HostPort: '8080' }] });
  });

  it('splits pull references like docker (registry ports, digests, default tag)', () => {
    assert.deepEqual(pullArgs('busybox'), { fromImage: 'busybox', tag: 'latest' });
    assert.deepEqual(pullArgs('127.0.0.1:5000/library/busybox:1.36'), {
      fromImage: '127.0.0.1:5000/library/busybox',
      tag: '1.36',
    });
    assert.deepEqual(pullArgs('127.0.0.1:5000/library/busybox'), {
      fromImage: '127.0.0.1:5000/library/busybox',
      tag: 'latest',
    });
    assert.deepEqual(pullArgs('busybox@sha256:abc'), { fromImage: 'busybox@sha256:abc', tag: undefined });
  });
});
