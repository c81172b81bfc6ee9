// SELinux labels on a host where SELinux is enforcing (CentOS/RHEL/Fedora with container-selinux). CI's host and
// guest cannot enforce SELinux (Debian kernel without an SELinux policy; README says so): this suite is only
// registered where `getenforce` prints Enforcing, so it is neither run nor reported as pending elsewhere. The
// labels themselves are covered everywhere by the pure tests in platform.test.ts (spec, mount options, relabel plan).
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type Registry, seedMirror, startRegistry } from '../../fixtures';
import { requireDockerCli, startEngine, type TestEngine } from '../../helpers/engine';

const enforcing = spawnSync('getenforce', [], { encoding: 'utf8' }).stdout?.trim() === 'Enforcing';
const contextOf = (p: string) => spawnSync('stat', ['-c', '%C', p], { encoding: 'utf8' }).stdout.trim();

if (enforcing) {
  describe('runtime: SELinux enforcing (container_t, MCS pairs, :z/:Z, label=)', function () {
    this.timeout(120_000);
    let reg: Registry;
    let engine: TestEngine;
    let dir: string;
    const ok = (args: string[]) => {
      const r = engine.docker(args);
      assert.equal(r.code, 0, `docker ${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    };

    before(async function () {
      requireDockerCli(this);
      reg = await startRegistry();
      await seedMirror(reg);
      engine = await startEngine({ config: { 'registry-mirrors': [reg.url] } });
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-selinux-'));
    });
    after(async () => {
      await engine?.cleanup();
      await reg?.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it('runs as container_t with its own MCS pair; docker info lists selinux', () => {
      assert.ok(JSON.parse(ok(['info', '--format', '{{json .SecurityOptions}}'])).includes('name=selinux'));
      const a = ok(['run', '--rm', 'busybox', 'cat', '/proc/self/attr/current']).replace(/\0/g, '').trim();
      const b = ok(['run', '--rm', 'busybox', 'cat', '/proc/self/attr/current']).replace(/\0/g, '').trim();
      assert.match(a, /:container_t:s0:c\d+,c\d+$/);
      assert.notEqual(a, b, 'two containers, two pairs');
    });

    it(':Z gives a bind mount the container’s pair, :z level s0; the container can write there', () => {
      const priv = path.join(dir, 'private');
      const shared = path.join(dir, 'shared');
      fs.mkdirSync(priv);
      fs.mkdirSync(shared);
      const id = ok(['create', '-v', `${priv}:/p:Z`, '-v', `${shared}:/s:z`, 'busybox', 'sh', '-c', 'touch /p/x /s/x']);
      ok(['start', '-a', id.trim()]);
      const label = ok(['inspect', '-f', '{{.MountLabel}}', id.trim()]).trim();
      assert.equal(contextOf(priv), label);
      assert.match(contextOf(shared), /:container_file_t:s0$/);
      assert.ok(fs.existsSync(path.join(priv, 'x')) && fs.existsSync(path.join(shared, 'x')));
      ok(['rm', id.trim()]);
    });

    it('refuses to relabel /usr or the home directory', () => {
      for (const src of ['/usr', os.homedir()]) {
        const r = engine.docker(['run', '--rm', '-v', `${src}:/x:Z`, 'busybox', 'true']);
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, /SELinux relabeling of .* is not allowed/);
      }
    });

    it('label=disable runs without a container label; label=type: changes the type', () => {
      const off = ok(['run', '--rm', '--security-opt', 'label=disable', 'busybox', 'cat', '/proc/self/attr/current']);
      assert.doesNotMatch(off, /container_t/);
      const typed = ok([
        'run',
        '--rm',
        '--security-opt',
        'label=type:container_logreader_t',
        'busybox',
        'cat',
        '/proc/self/attr/current',
      ]);
      assert.match(typed, /:container_logreader_t:s0:c\d+,c\d+/);
    });
  });
}
