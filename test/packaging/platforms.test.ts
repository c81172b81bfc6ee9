// The platform VSIXs (scripts/package-platforms.sh, vsce package --target): each says its target, carries the static
// C helpers and the engine's addon of its architecture (read from the ELF headers: machine, no interpreter, shared
// object) and, for macOS and Windows, the guest image of the matching architecture whose files match its manifest —
// the Windows one with the WSL tarball; the Linux ones carry no guest image (the engine runs natively there).
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ROOT } from '../helpers/engine';
import { requireQemu } from '../helpers/vm';

const TARGETS = ['linux-x64', 'linux-arm64', 'darwin-x64', 'darwin-arm64', 'win32-x64'] as const;
const ELF_MACHINE = { x64: 62, arm64: 183 } as const;

/** The machine an ELF file is for, whether it is static (no PT_INTERP program header) and a shared object. */
function elfInfo(buf: Buffer): { machine: number; static: boolean; sharedObject: boolean } {
  assert.equal(buf.subarray(0, 4).toString('latin1'), '\x7fELF', 'an ELF file');
  assert.equal(buf[4], 2, '64-bit');
  const machine = buf.readUInt16LE(18);
  const phoff = Number(buf.readBigUInt64LE(32));
  const phentsize = buf.readUInt16LE(54);
  const phnum = buf.readUInt16LE(56);
  let interp = false;
  for (let i = 0; i < phnum; i++) if (buf.readUInt32LE(phoff + i * phentsize) === 3) interp = true;
  return { machine, static: !interp, sharedObject: buf.readUInt16LE(16) === 3 };
}

describe('packaging: the platform VSIXs', function () {
  this.timeout(1_800_000);
  let out: string;
  const entries: Record<string, Map<string, number>> = {};
  const read = (t: string, name: string) =>
    execFileSync('unzip', ['-p', path.join(out, `berth-${t}.vsix`), name], { maxBuffer: 1 << 30 });

  before(function () {
    // The macOS/Windows packages carry guest images, built with the VM tools (install-deps --vm, as QEMU).
    requireQemu(this);
    out = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-platforms-'));
    execFileSync('bash', [path.join(ROOT, 'scripts/package-platforms.sh')], {
      cwd: ROOT,
      env: { ...process.env, BERTH_PACKAGES_OUT: out },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    for (const t of TARGETS) {
      // zipinfo lines: "-rw-r--r--  2.0 unx   214958080 b- defN 80-Jan-01 00:00 extension/dist/vm/x64/root.img"
      entries[t] = new Map(
        execFileSync('zipinfo', [path.join(out, `berth-${t}.vsix`)], { encoding: 'utf8' })
          .split('\n')
          .filter((l) => /^-[rwx-]{9}/.test(l))
          .map((l) => {
            const p = l.trim().split(/\s+/);
            return [p.slice(8).join(' '), Number(p[3])] as const;
          }),
      );
    }
  });
  after(() => out && fs.rmSync(out, { recursive: true, force: true }));

  for (const t of TARGETS) {
    const arch = t.endsWith('arm64') ? 'arm64' : 'x64';
    describe(t, () => {
      it('names its target and carries the bundles, the VM supervisor and the launchers', () => {
        assert.match(read(t, 'extension.vsixmanifest').toString(), new RegExp(`TargetPlatform="${t}"`));
        for (const f of ['extension.js', 'engine.js', 'cli.js', 'vm.js'])
          assert.ok(entries[t].has(`extension/dist/${f}`), `dist/${f}`);
        assert.ok(entries[t].has('extension/engine-bin/berthd'));
      });

      it(`carries the static C helpers and the engine's addon built for ${arch}`, () => {
        const helpers = [...entries[t].keys()].filter((n) => n.startsWith('extension/dist/bin/'));
        for (const h of ['berth-shim', 'berth-init', 'malloc-trim.node'])
          assert.ok(helpers.includes(`extension/dist/bin/${h}`), `${h} in ${helpers.join(', ')}`);
        for (const h of helpers) {
          const info = elfInfo(read(t, h));
          assert.equal(info.machine, ELF_MACHINE[arch], `${h} is for ${arch}`);
          // Node-API addons are shared objects the engine's node loads; the helpers run in any container or host.
          if (h.endsWith('.node')) assert.ok(info.sharedObject, `${h} is a shared object`);
          else assert.ok(info.static, `${h} is static`);
        }
      });

      if (t.startsWith('linux-')) {
        it('carries no guest image (the engine runs natively)', () => {
          assert.deepEqual(
            [...entries[t].keys()].filter((n) => n.startsWith('extension/dist/vm/')),
            [],
          );
        });
      } else {
        it(`carries the ${arch} guest image, whole${t.startsWith('win32') ? ', with the WSL root tarball' : ''}`, () => {
          const manifest = JSON.parse(read(t, `extension/dist/vm/${arch}/manifest.json`).toString());
          assert.equal(manifest.arch, arch);
          const files = ['vmlinuz', 'initrd.img', 'root.img', ...(t.startsWith('win32') ? ['rootfs.tar.gz'] : [])];
          for (const f of files)
            assert.equal(entries[t].get(`extension/dist/vm/${arch}/${f}`), manifest.files[f].size, `${f} size`);
          // The kernel is the guest architecture's: an arm64 Image ("ARMd" at 56) or an x86 bzImage ("HdrS" at 514).
          const kernel = read(t, `extension/dist/vm/${arch}/vmlinuz`);
          if (arch === 'arm64') {
            const raw = kernel[0] === 0x1f && kernel[1] === 0x8b ? require('node:zlib').gunzipSync(kernel) : kernel;
            assert.equal(raw.subarray(56, 60).toString('latin1'), 'ARM\x64');
          } else assert.equal(kernel.subarray(514, 518).toString('latin1'), 'HdrS');
          // The guest's root carries the same architecture's helpers (checked in its manifest's packages).
          assert.ok(manifest.packages.runc, 'runc in the guest');
        });
      }
    });
  }
});
