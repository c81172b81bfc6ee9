// run/create flags become the same create body the docker CLI sends.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  buildCreateConfig,
  type CreateOptions,
  parseMount,
  parsePublish,
  parseSecurityOpts,
} from '../../src/cli/runopts';

const base: CreateOptions = { network: 'default', pull: 'missing', restart: 'no' };

describe('cli run/create flags', () => {
  it('parses -p like docker (ip, ranges, protocols, IPv6)', () => {
    const exposed: Record<string, object> = {};
    const bindings: Record<string, { HostIp: string; HostPort: string }[]> = {};
    parsePublish(
      ['8080:80', '127.0.0.1:9000-9001:9000-9001/udp', '53/udp', '[::1]:8443:443', '7000-7001:7000'],
      exposed,
      bindings,
    );
    assert.deepEqual(Object.keys(exposed).sort(), ['443/tcp', '53/udp', '7000/tcp', '80/tcp', '9000/udp', '9001/udp']);
    assert.deepEqual(bindings['80/tcp'], [{ HostIp: '', HostPort: '8080' }]);
    assert.deepEqual(bindings['9001/udp'], [{ HostIp: '127.0.0.1', HostPort: '9001' }]);
    assert.deepEqual(bindings['53/udp'], [{ HostIp: '', HostPort: '' }]);
    assert.deepEqual(bindings['443/tcp'], [{ HostIp: '::1', HostPort: '8443' }]);
    assert.deepEqual(bindings['7000/tcp'], [{ HostIp: '', HostPort: '7000-7001' }]);
    assert.throws(() => parsePublish(['1:2:3:4'], {}, {}), /invalid port format/);
    assert.throws(() => parsePublish(['80/icmp'], {}, {}), /invalid proto/);
  });

  it('sends --security-opt as the docker CLI: a seccomp profile file as its compacted JSON', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-secopt-'));
    try {
      const file = path.join(dir, 'p.json');
      fs.writeFileSync(file, '{\n  "defaultAction": "SCMP_ACT_ALLOW",\n  "syscalls": []\n}\n');
      assert.deepEqual(
        parseSecurityOpts(['no-new-privileges', 'seccomp=unconfined', `seccomp=${file}`, 'label:disable']),
        [
          'no-new-privileges',
          'seccomp=unconfined',
          'seccomp={"defaultAction":"SCMP_ACT_ALLOW","syscalls":[]}',
          'label:disable',
        ],
      );
      assert.throws(() => parseSecurityOpts(['bogus']), /Invalid --security-opt: "bogus"/);
      assert.throws(() => parseSecurityOpts([`seccomp=${dir}/none.json`]), /opening seccomp profile/);
      fs.writeFileSync(file, '{nope');
      assert.throws(() => parseSecurityOpts([`seccomp=${file}`]), /compacting json for seccomp profile/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('parses --mount CSV into HostConfig.Mounts', () => {
    assert.deepEqual(parseMount('type=bind,source=/srv/html,target=/usr/share/nginx/html,readonly'), {
      Type: 'bind',
      Source: '/srv/html',
      Target: '/usr/share/nginx/html',
      ReadOnly: true,
    });
    assert.deepEqual(parseMount('source=data,target=/data,volume-label=a=b'), {
      Type: 'volume',
      Source: 'data',
      Target: '/data',
      VolumeOptions: { Labels: { a: 'b' } },
    });
    assert.deepEqual(parseMount('type=tmpfs,dst=/run,tmpfs-size=64m'), {
      Type: 'tmpfs',
      Target: '/run',
      TmpfsOptions: { SizeBytes: 64 * 1024 * 1024 },
    });
    assert.throws(() => parseMount('type=bind,source=/x'), /target is required/);
    assert.throws(() => parseMount('type=bind,bogus=1,target=/x'), /unexpected key 'bogus'/);
  });

  it('builds the create body: env, env-file, volumes, limits, restart, tty/stdin', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-envfile-'));
    const envFile = path.join(dir, 'env');
    fs.writeFileSync(envFile, '# comment\nA=1\n\n  B=two words\nFROM_HOST\n');
    process.env.FROM_HOST = 'hostvalue';
    try {
      const c = buildCreateConfig('nginx', ['nginx', '-g', 'daemon off;'], {
        ...base,
        env: ['C=3', 'FROM_HOST'],
        envFile: [envFile],
        volume: ['/anon', 'named:/data:ro'],
        memory: '512m',
        cpus: '1.5',
        restart: 'on-failure:3',
        name: 'web',
        interactive: true,
        tty: true,
        workdir: '/w',
        user: '1000:1000',
        hostname: 'h',
        entrypoint: '',
        publish: ['8080:80'],
        label: ['k=v'],
      });
      assert.deepEqual(c.Env, ['A=1', 'B=two words', 'FROM_HOST=hostvalue', 'C=3', 'FROM_HOST=hostvalue']);
      assert.deepEqual(c.Cmd, ['nginx', '-g', 'daemon off;']);
      assert.deepEqual(c.Entrypoint, ['']);
      assert.deepEqual(c.Volumes, { '/anon': {} });
      assert.deepEqual(c.HostConfig?.Binds, ['named:/data:ro']);
      assert.equal(c.HostConfig?.Memory, 512 * 1024 * 1024);
      assert.equal(c.HostConfig?.NanoCpus, 1.5e9);
      assert.deepEqual(c.HostConfig?.RestartPolicy, { Name: 'on-failure', MaximumRetryCount: 3 });
      assert.deepEqual(c.HostConfig?.PortBindings, { '80/tcp': [{ HostIp: '', HostPort: '8080' }] });
      assert.equal(c.HostConfig?.NetworkMode, 'default');
      assert.deepEqual(c.Labels, { k: 'v' });
      assert.equal(c.Tty, true);
      assert.equal(c.OpenStdin, true);
      assert.equal(c.AttachStdin, true);
      assert.equal(c.StdinOnce, true);
      assert.equal(c.WorkingDir, '/w');
      assert.equal(c.User, '1000:1000');
      assert.equal(c.Hostname, 'h');
    } finally {
      delete process.env.FROM_HOST;
      fs.rmSync(dir, { recursive: true, force: true });
    }
    const d = buildCreateConfig('busybox', [], { ...base, detach: true, rm: true });
    assert.equal(d.Cmd, null);
    assert.equal(d.AttachStdout, false);
    assert.equal(d.HostConfig?.AutoRemove, true);
    assert.throws(
      () => buildCreateConfig('busybox', [], { ...base, rm: true, restart: 'always' }),
      /Conflicting options: --restart and --rm/,
    );
    assert.throws(() => buildCreateConfig('busybox', [], { ...base, restart: 'sometimes' }), /invalid restart policy/);
  });
});
