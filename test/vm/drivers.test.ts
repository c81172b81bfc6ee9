// The drivers' command lines and the host side's pure pieces (vfkit and WSL cannot boot here: these are what CI
// checks of them).
import * as assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { vmEnv } from '../../src/vm';
import { makeVmTls } from '../../src/vm/certs';
import { encodeCmdlinePath } from '../../src/vm/driver';
import { platformDrivers, qemuPlatform } from '../../src/vm/drivers';
import { ENGINE_ENV, ENGINE_NODE_FLAGS } from '../../src/common/host/engine-process';
import { imageHint, loadImage, sha256File } from '../../src/vm/image';
import { VmPaths, windowsPipeName } from '../../src/vm/paths';
import {
  accelCandidates,
  bootKernel,
  kernelCmdline,
  machineArgs,
  parseUsernetPort,
  qemuArgs,
  qemuHostIo,
  rootAsPmem,
  seedFiles,
  tcgTbMiB,
} from '../../src/vm/qemu';
import { ensureDataDisk } from '../../src/vm/supervisor';
import { ROOT } from '../helpers/engine';
import {
  gvproxyArgs,
  gvproxyExpose,
  hostAddressFacing,
  leasedAddress,
  natMac,
  uncompressedKernel,
  vfkitArgs,
  vfkitCmdline,
} from '../../src/vm/vfkit';
import { parseWslList, wslImportArgs, wslPath, wslRunArgs, wslRunEnv } from '../../src/vm/wsl';

const shares = [
  { tag: 'berth-seed', hostPath: '/h/.berth/vm/default/seed', guestPath: '/run/berth-seed', readonly: true },
  { tag: 'berth-home', hostPath: '/Users/Jane Doe', guestPath: '/Users/Jane Doe' },
];

/** A 2-CPU x64 guest under TCG on Linux, the root as a disk: the inputs the command-line tests vary. */
const linuxTcg: Parameters<typeof qemuArgs>[0] = {
  platform: 'linux',
  arch: 'x64',
  accel: 'tcg',
  cpus: 2,
  memoryMiB: 2048,
  kernel: '/img/vmlinuz',
  initrd: '/img/initrd.img',
  root: '/img/root.img',
  dataDisk: '/vm/data.img',
  shares,
  seed: [],
  channels: { kind: 'unix', qmpSocket: '/vm/qmp.sock', controlSocket: '/vm/guest-control.sock' },
  apiHostPort: 0,
};

describe('vm drivers: command lines', () => {
  it('qemu: direct kernel boot, read-only root, sparse data disk, API forward, 9p shares, control port, QMP', () => {
    const args = qemuArgs(linuxTcg);
    const line = args.join(' ');
    for (const part of [
      '-machine q35 -accel tcg,tb-size=128 -cpu max',
      '-smp 2 -m 2048M',
      '-kernel /img/vmlinuz -initrd /img/initrd.img',
      'if=none,id=root,file=/img/root.img,format=raw,readonly=on',
      'if=none,id=data,file=/vm/data.img,format=raw,discard=unmap',
      'user,id=net0,ipv6=off,hostfwd=tcp:127.0.0.1:0-10.0.2.15:2376',
      'socket,id=control,path=/vm/guest-control.sock,server=on,wait=off',
      'virtserialport,chardev=control,name=berth.control',
      '-qmp unix:/vm/qmp.sock,server=on,wait=off',
      'local,id=fs0,path=/h/.berth/vm/default/seed,security_model=none,readonly=on',
      'virtio-9p-pci,fsdev=fs1,mount_tag=berth-home',
      '-no-reboot',
    ])
      assert.ok(line.includes(part), `${part} in ${line}`);
    const append = args[args.indexOf('-append') + 1];
    assert.equal(
      append,
      'console=ttyS0 quiet panic=-1 transparent_hugepage=madvise swiotlb=1024 berth.net=10.0.2.15/24:10.0.2.2:10.0.2.3 berth.data=/dev/vdb berth.share=9p:berth-seed:/run/berth-seed berth.share=9p:berth-home:/Users/Jane%20Doe',
    );
    // A path with a space is one argument for QEMU (fsdev path), no shell in between.
    assert.ok(args.includes('local,id=fs1,path=/Users/Jane Doe,security_model=none'));
  });

  it('qemu on Windows: the seed as fw_cfg files, no 9p, QEMU connecting out to loopback TCP for QMP and control', () => {
    const seedDir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth seed,'));
    try {
      fs.mkdirSync(path.join(seedDir, 'tls'));
      for (const f of ['tls/ca.pem', 'tls/server-cert.pem', 'tls/server-key.pem', 'daemon.json', 'host-ports'])
        fs.writeFileSync(path.join(seedDir, f), f);
      const seed = seedFiles(seedDir);
      assert.deepEqual(
        seed.map((f) => f.name),
        ['daemon.json', 'host-ports', 'tls/ca.pem', 'tls/server-cert.pem', 'tls/server-key.pem'],
      );
      const input = {
        platform: 'win32' as const,
        arch: 'x64' as const,
        accel: 'whpx' as const,
        cpus: 2,
        memoryMiB: 2048,
        kernel: 'C:\\b\\vmlinuz',
        initrd: 'C:\\b\\initrd.img',
        root: 'C:\\b\\root.img',
        dataDisk: 'C:\\Users\\Doe, Jane\\berth\\vm\\default\\data.img',
        shares: [{ ...shares[0], hostPath: seedDir }, shares[1]],
        seed,
        channels: { kind: 'tcp' as const, qmpPort: 50001, controlPort: 50002, name: 'berth-0123' },
        apiHostPort: 0,
      };
      const args = qemuArgs(input);
      const line = args.join(' ');
      for (const part of [
        '-name berth-0123 ',
        '-machine q35,accel=whpx -cpu host',
        // A comma in a path is doubled, or QEMU would read what follows as another option.
        'if=none,id=data,file=C:\\Users\\Doe,, Jane\\berth\\vm\\default\\data.img,format=raw,discard=unmap',
        '-chardev socket,id=control,host=127.0.0.1,port=50002 ',
        '-chardev socket,id=qmp,host=127.0.0.1,port=50001 -mon chardev=qmp,mode=control',
        `-fw_cfg name=opt/berth/seed/tls/server-key.pem,file=${seedDir.replace(/,/g, ',,')}/tls/server-key.pem`,
        `-fw_cfg name=opt/berth/seed/host-ports,file=`,
      ])
        assert.ok(line.includes(part), `${part} in ${line}`);
      // QEMU listens on nothing: no server=on anywhere, no -qmp, no 9p.
      assert.doesNotMatch(line, /server=on|-qmp |virtio-9p|-fsdev/);
      assert.equal(args.filter((a) => a === '-fw_cfg').length, 5);
      assert.equal(
        args[args.indexOf('-append') + 1],
        'console=ttyS0 quiet panic=-1 transparent_hugepage=madvise swiotlb=1024 berth.net=10.0.2.15/24:10.0.2.2:10.0.2.3 berth.data=/dev/vdb berth.seed=fw_cfg',
      );
      // The channels must be what the platform's QEMU and Node can use.
      assert.throws(
        () => qemuArgs({ ...input, channels: { kind: 'unix', qmpSocket: 'q', controlSocket: 'c' } }),
        /QEMU on win32 talks to the host over tcp, not unix/,
      );
      assert.deepEqual(qemuHostIo('darwin'), { seed: '9p', homeShare: true, channels: 'unix', rootPmem: true });
      assert.deepEqual(qemuHostIo('win32'), { seed: 'fw_cfg', homeShare: false, channels: 'tcp', rootPmem: false });
      // No file-backed guest memory in QEMU for Windows: the root stays a disk there.
      assert.throws(() => qemuArgs({ ...input, rootPmemBytes: 2 * 1048576 }), /cannot map the root image/);
      assert.equal(qemuPlatform({ BERTH_QEMU_PLATFORM: 'win32' }, 'linux'), 'win32');
      assert.equal(qemuPlatform({ BERTH_QEMU_PLATFORM: 'beos' }, 'linux'), 'linux');
      assert.equal(qemuPlatform({}, 'darwin'), 'darwin');
    } finally {
      fs.rmSync(seedDir, { recursive: true, force: true });
    }
  });

  it('qemu: the root image as virtio-pmem (mapped read-only from the file, DAX in the guest), room for it in maxmem', () => {
    const args = qemuArgs({
      ...linuxTcg,
      platform: 'darwin',
      accel: 'hvf',
      root: '/img,x/root.img',
      rootPmemBytes: 230 * 1048576 + 1,
    });
    const line = args.join(' ');
    for (const part of [
      '-m 2048M,maxmem=2279M ',
      '-object memory-backend-file,id=rootmem,mem-path=/img,,x/root.img,size=241172481,share=on,readonly=on',
      '-device virtio-pmem-pci,memdev=rootmem',
    ])
      assert.ok(line.includes(part), `${part} in ${line}`);
    assert.doesNotMatch(line, /id=root,file=/);
    // The data disk is the first virtio disk then.
    assert.match(args[args.indexOf('-append') + 1], / berth\.root=\/dev\/pmem0 berth\.data=\/dev\/vda /);
  });

  it('qemu: the root goes in as pmem only for x64 guests, where QEMU has the device and the image is whole 2 MiB', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-pmem-'));
    try {
      const even = path.join(dir, 'even.img');
      const odd = path.join(dir, 'odd.img');
      fs.writeFileSync(even, '');
      fs.truncateSync(even, 4 * 1048576);
      fs.writeFileSync(odd, '');
      fs.truncateSync(odd, 3 * 1048576);
      // A stand-in QEMU answering -device help as a build with or without virtio-pmem-pci does.
      const fake = (devices: string) => {
        const f = path.join(dir, `qemu-${crypto.randomBytes(4).toString('hex')}`);
        fs.writeFileSync(f, `#!/bin/sh\nprintf '%s\\n' '${devices}'\n`, { mode: 0o755 });
        return f;
      };
      const withPmem = fake('name "virtio-pmem-pci", bus PCI');
      const without = fake('name "virtio-blk-pci", bus PCI');
      const posix = qemuHostIo('linux');
      assert.equal(rootAsPmem(withPmem, posix, 'x64', even, {}), 4 * 1048576);
      assert.equal(rootAsPmem(without, posix, 'x64', even, {}), undefined);
      assert.equal(rootAsPmem(withPmem, posix, 'x64', odd, {}), undefined);
      assert.equal(rootAsPmem(withPmem, posix, 'arm64', even, {}), undefined);
      assert.equal(rootAsPmem(withPmem, qemuHostIo('win32'), 'x64', even, {}), undefined);
      assert.equal(rootAsPmem(withPmem, posix, 'x64', even, { BERTH_VM_ROOT: 'disk' }), undefined);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('qemu: the machine per architecture and accelerator', () => {
    assert.deepEqual(machineArgs('x64', 'kvm'), ['-machine', 'q35,accel=kvm', '-cpu', 'host']);
    assert.deepEqual(machineArgs('arm64', 'hvf'), ['-machine', 'virt,accel=hvf', '-cpu', 'host']);
    assert.deepEqual(machineArgs('arm64', 'tcg'), [
      '-machine',
      'virt,gic-version=3',
      '-accel',
      'tcg,tb-size=128',
      '-cpu',
      'max,pauth-impdef=on',
    ]);
    assert.deepEqual(machineArgs('x64', 'tcg', 512).slice(2, 4), ['-accel', 'tcg,tb-size=512']);
    assert.equal(tcgTbMiB({}), 128);
    assert.equal(tcgTbMiB({ BERTH_VM_TCG_TB_MIB: '512' }), 512);
    assert.equal(tcgTbMiB({ BERTH_VM_TCG_TB_MIB: 'lots' }), 128);
    assert.match(kernelCmdline('arm64', []), /^console=ttyAMA0 /);
    assert.deepEqual(accelCandidates('linux', 'x64', 'x64'), ['kvm', 'tcg']);
    assert.deepEqual(accelCandidates('darwin', 'arm64', 'arm64'), ['hvf', 'tcg']);
    assert.deepEqual(accelCandidates('win32', 'x64', 'x64'), ['whpx', 'tcg']);
    assert.deepEqual(accelCandidates('linux', 'arm64', 'x64'), ['tcg'], 'another architecture is emulated');
  });

  it('qemu: boots the unpacked kernel (PVH) under TCG only, and only where the image has it', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-vm-image-'));
    try {
      const files: Record<string, { size: number; sha256: string }> = {};
      for (const f of ['vmlinuz', 'vmlinux', 'initrd.img', 'root.img']) {
        fs.writeFileSync(path.join(dir, f), `${f} bytes`);
        files[f] = { size: fs.statSync(path.join(dir, f)).size, sha256: sha256File(path.join(dir, f)) };
      }
      fs.writeFileSync(
        path.join(dir, 'manifest.json'),
        JSON.stringify({ arch: 'x64', kernel: '6.1', berth: '0', files }),
      );
      const image = loadImage(dir);
      assert.equal(image.kernelElf, path.join(dir, 'vmlinux'));
      assert.equal(bootKernel(image, 'tcg'), path.join(dir, 'vmlinux'));
      assert.equal(bootKernel(image, 'kvm'), path.join(dir, 'vmlinuz'), 'hardware: the bzImage (less resident)');
      // The platform packages leave vmlinux out of an image whose manifest lists it: the bzImage then.
      fs.rmSync(path.join(dir, 'vmlinux'));
      assert.equal(bootKernel(loadImage(dir), 'tcg'), path.join(dir, 'vmlinuz'));
      // Present but not the manifest's: corrupt, as any other image file.
      fs.writeFileSync(path.join(dir, 'vmlinux'), 'other');
      assert.throws(() => loadImage(dir), /vmlinux is corrupt/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a missing image says what to do where it was looked for (the Linux package carries none by design)', () => {
    const pkg = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-pkg-'));
    try {
      fs.mkdirSync(path.join(pkg, 'dist'));
      const bundleDir = path.join(pkg, 'dist');
      const linux = imageHint('x64', { bundleDir, env: {}, platform: 'linux' });
      assert.match(
        linux,
        /^the Berth package for Linux carries no guest image .*set BERTH_VM_IMAGE to a guest image folder/,
      );
      assert.match(linux, /extension\/dist\/vm\/x64 unzipped from berth-darwin-x64\.vsix or berth-win32-x64\.vsix/);
      assert.match(imageHint('arm64', { bundleDir, env: {}, platform: 'linux' }), /from berth-darwin-arm64\.vsix,/);
      assert.match(imageHint('x64', { bundleDir, env: {}, platform: 'win32' }), /^reinstall the Berth extension/);
      assert.match(imageHint('x64', { bundleDir, env: { BERTH_VM_IMAGE: '/x' } }), /^BERTH_VM_IMAGE names this folder/);
      assert.equal(
        imageHint('x64', { bundleDir: path.join(ROOT, 'dist'), env: {}, platform: 'linux' }),
        'rebuild it with "npm run vm-image"',
        'a checkout',
      );
      assert.throws(
        () => loadImage(path.join(bundleDir, 'vm', 'x64'), { hint: linux }),
        (err: Error) =>
          err.message === `no Berth guest image in ${bundleDir}/vm/x64 (manifest.json is missing): ${linux}`,
      );
    } finally {
      fs.rmSync(pkg, { recursive: true, force: true });
    }
  });

  it("the guest's berthd starts with the memory settings every launcher gives it", () => {
    const run = fs.readFileSync(path.join(ROOT, 'scripts/vm/guest/berthd.run'), 'utf8');
    const exec = run.split('\n').find((l) => l.startsWith('exec node '));
    for (const flag of ENGINE_NODE_FLAGS) assert.ok(exec?.includes(` ${flag} `), `${flag} in ${exec}`);
    for (const [k, v] of Object.entries(ENGINE_ENV)) assert.match(run, new RegExp(`^export ${k}=${v}$`, 'm'));
  });

  it("qemu: reads the API's host port back from info usernet", () => {
    const text =
      'Hub -1 (net0):\r\n  Protocol[State]    FD  Source Address  Port   Dest. Address  Port RecvQ SendQ\r\n' +
      '  TCP[HOST_FORWARD]  12       127.0.0.1  8080       10.0.2.15  8080     0     0\r\n' +
      '  TCP[HOST_FORWARD]   3       127.0.0.1 40353       10.0.2.15  2376     0     0\r\n';
    assert.equal(parseUsernetPort(text, 2376), 40353);
    assert.equal(parseUsernetPort(text, 9999), undefined);
  });

  it('vfkit: Linux boot loader with the cmdline, virtio disks, gvproxy network, virtiofs shares, REST API', () => {
    const args = vfkitArgs({
      cpus: 4,
      memoryMiB: 4096,
      kernel: '/vm/vmlinux',
      initrd: '/img/initrd.img',
      root: '/img/root.img',
      dataDisk: '/vm/data.img',
      shares,
      network: { kind: 'gvproxy', socket: '/vm/gvproxy-vfkit.sock' },
      restSocket: '/vm/vfkit.sock',
      consoleLog: '/vm/vfkit-console.log',
    });
    assert.deepEqual(args.slice(0, 4), ['--cpus', '4', '--memory', '4096']);
    assert.equal(args[5], `linux,kernel=/vm/vmlinux,initrd=/img/initrd.img,cmdline="${vfkitCmdline(shares)}"`);
    assert.match(
      vfkitCmdline(shares),
      /^console=hvc0 .*transparent_hugepage=madvise berth\.net=192\.168\.127\.2\/24:192\.168\.127\.1:192\.168\.127\.1 .*berth\.share=virtiofs:berth-home:\/Users\/Jane%20Doe$/,
    );
    for (const d of [
      'virtio-blk,path=/img/root.img',
      'virtio-blk,path=/vm/data.img',
      'virtio-net,unixSocketPath=/vm/gvproxy-vfkit.sock,mac=5a:94:ef:e4:0c:ee',
      'virtio-fs,sharedDir=/Users/Jane Doe,mountTag=berth-home',
      'virtio-serial,logFilePath=/vm/vfkit-console.log',
    ])
      assert.ok(args.includes(d), d);
    assert.deepEqual(args.slice(-2), ['--restful-uri', 'unix:///vm/vfkit.sock']);
    assert.deepEqual(gvproxyArgs('/vm/n.sock', '/vm/g.sock', '/vm/g.pid'), [
      '-listen-vfkit',
      'unixgram:///vm/n.sock',
      '-listen',
      'unix:///vm/g.sock',
      '-ssh-port',
      '-1',
      '-pid-file',
      '/vm/g.pid',
    ]);
    assert.deepEqual(gvproxyExpose({ protocol: 'tcp', hostIp: '127.0.0.1', hostPort: 8080, guestPort: 8080 }), {
      local: '127.0.0.1:8080',
      remote: '192.168.127.2:8080',
      protocol: 'tcp',
    });
  });

  it('the data disk is sparse: its size, none of its blocks; it grows and never shrinks', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-disk-'));
    try {
      const disk = path.join(dir, 'data.img');
      const GiB = 1024 ** 3;
      ensureDataDisk(disk, 4);
      let st = fs.statSync(disk);
      assert.equal(st.size, 4 * GiB);
      assert.ok(st.blocks * 512 < 1024 * 1024, `a new 4 GiB disk takes ${st.blocks * 512} bytes`);
      assert.equal(st.mode & 0o777, 0o600);
      fs.writeFileSync(disk, 'guest data', { flag: 'r+' });
      ensureDataDisk(disk, 8);
      st = fs.statSync(disk);
      assert.equal(st.size, 8 * GiB);
      assert.ok(st.blocks * 512 < 1024 * 1024, `grown to 8 GiB it takes ${st.blocks * 512} bytes`);
      const head = Buffer.alloc(10);
      const fd = fs.openSync(disk, 'r');
      fs.readSync(fd, head, 0, 10, 0);
      fs.closeSync(fd);
      assert.equal(head.toString(), 'guest data', 'what the guest wrote stays');
      ensureDataDisk(disk, 2);
      assert.equal(fs.statSync(disk).size, 8 * GiB, 'a smaller --disk does not cut the file system');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("vfkit without gvproxy: its own NAT with the VM's MAC, DHCP in the guest; the lease and the host's address", () => {
    const mac = natMac('/Users/jane/.berth/vm/default');
    assert.match(mac, /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
    assert.equal(Number.parseInt(mac.slice(0, 2), 16) & 3, 2, 'locally administered, unicast');
    assert.equal(natMac('/Users/jane/.berth/vm/default'), mac, 'stable: the same lease at each start');
    assert.notEqual(natMac('/Users/bob/.berth/vm/default'), mac, "another user's VM: another MAC");
    const args = vfkitArgs({
      cpus: 2,
      memoryMiB: 2048,
      kernel: '/vm/vmlinux',
      initrd: '/img/initrd.img',
      root: '/img/root.img',
      dataDisk: '/vm/data.img',
      shares,
      network: { kind: 'nat', mac },
      restSocket: '/vm/vfkit.sock',
      consoleLog: '/vm/vfkit-console.log',
    });
    assert.ok(args.includes(`virtio-net,nat,mac=${mac}`));
    assert.ok(!args.some((a) => a.includes('unixSocketPath')), 'no gvproxy socket');
    assert.equal(args[5], `linux,kernel=/vm/vmlinux,initrd=/img/initrd.img,cmdline="${vfkitCmdline(shares, 'nat')}"`);
    assert.match(vfkitCmdline(shares, 'nat'), / berth\.net=dhcp /);
    assert.doesNotMatch(vfkitCmdline(shares, 'nat'), /192\.168\.127/);
    // macOS's /var/db/dhcpd_leases: bytes of the MAC without leading zeros, the newest of a MAC's leases wins.
    const leases = [
      '{\n\tname=other\n\tip_address=192.168.64.2\n\thw_address=1,2:0:0:0:0:1\n\tidentifier=1,2:0:0:0:0:1\n\tlease=0x6554c8f5\n}',
      '{\n\tname=berth\n\tip_address=192.168.64.7\n\thw_address=1,2:a:b:c:d:e\n\tlease=0x6554c8f0\n}',
      '{\n\tname=berth\n\tip_address=192.168.64.9\n\thw_address=1,2:a:b:c:d:e\n\tlease=0x6554c8ff\n}',
    ].join('\n');
    assert.equal(leasedAddress(leases, '02:0a:0b:0c:0d:0e'), '192.168.64.9');
    assert.equal(leasedAddress(leases, '02:00:00:00:00:01'), '192.168.64.2');
    assert.equal(leasedAddress(leases, '02:00:00:00:00:02'), undefined);
    assert.equal(leasedAddress('', mac), undefined);
    // The host's address on the guest's network: the bridge's, not the LAN's or the loopback.
    const iface = (address: string, netmask: string, internal = false) => ({
      address,
      netmask,
      family: 'IPv4' as const,
      mac: '00:00:00:00:00:00',
      internal,
      cidr: null,
    });
    const interfaces = {
      lo0: [iface('127.0.0.1', '255.0.0.0', true)],
      en0: [iface('10.1.2.3', '255.255.0.0')],
      bridge100: [iface('192.168.64.1', '255.255.255.0')],
    };
    assert.equal(hostAddressFacing('192.168.64.9', interfaces), '192.168.64.1');
    assert.equal(hostAddressFacing('10.1.200.1', interfaces), '10.1.2.3');
    assert.equal(hostAddressFacing('172.16.0.5', interfaces), undefined);
  });

  it('vfkit: a gzip-compressed kernel is handed over uncompressed', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-vfkit-'));
    try {
      const image = crypto.randomBytes(4096);
      fs.writeFileSync(path.join(dir, 'Image.gz'), require('node:zlib').gzipSync(image));
      const out = uncompressedKernel(path.join(dir, 'Image.gz'), path.join(dir, 'vmlinux'));
      assert.deepEqual(fs.readFileSync(out), image);
      fs.writeFileSync(path.join(dir, 'plain'), image);
      assert.equal(uncompressedKernel(path.join(dir, 'plain'), path.join(dir, 'x')), path.join(dir, 'plain'));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('wsl: import, run, paths and the UTF-16 list', () => {
    assert.deepEqual(
      wslImportArgs('default', 'C:\\Users\\me\\AppData\\Local\\berth\\vm\\default\\wsl', 'C:\\x\\rootfs.tar.gz'),
      [
        '--import',
        'berth-default',
        'C:\\Users\\me\\AppData\\Local\\berth\\vm\\default\\wsl',
        'C:\\x\\rootfs.tar.gz',
        '--version',
        '2',
      ],
    );
    assert.equal(wslPath('C:\\Users\\Jane Doe\\src'), '/mnt/c/Users/Jane Doe/src');
    assert.equal(wslPath('D:\\'), '/mnt/d');
    assert.equal(wslPath('/home/x'), '/home/x');
    assert.deepEqual(wslRunArgs('default', 'C:\\b\\seed'), [
      '-d',
      'berth-default',
      '-u',
      'root',
      '--exec',
      '/bin/sh',
      '/etc/berth/wsl-init',
      '/mnt/c/b/seed',
    ]);
    assert.deepEqual(parseWslList(Buffer.from('Ubuntu\r\nberth-default\r\n', 'utf16le')), ['Ubuntu', 'berth-default']);
  });

  it('wsl: WSLENV carries the drive root and the distribution to the engine (it translates C:\\… paths)', () => {
    const env = wslRunEnv('default', { PATH: 'C:\\Windows', WSLENV: 'USERPROFILE/p:BERTH_WSL_DISTRO' });
    assert.equal(env.BERTH_WINDOWS_DRIVES, '/mnt');
    assert.equal(env.BERTH_WSL_DISTRO, 'berth-default');
    assert.equal(env.WSLENV, 'USERPROFILE/p:BERTH_WINDOWS_DRIVES:BERTH_WSL_DISTRO');
    assert.equal(env.PATH, 'C:\\Windows');
    assert.equal(wslRunEnv('dev', {}).WSLENV, 'BERTH_WINDOWS_DRIVES:BERTH_WSL_DISTRO');
  });

  it('drivers per platform, preferred first', () => {
    assert.deepEqual(platformDrivers('darwin'), ['vfkit', 'qemu']);
    assert.deepEqual(platformDrivers('win32'), ['wsl', 'qemu']);
    assert.deepEqual(platformDrivers('linux'), ['qemu']);
  });

  it('encodes kernel command line paths', () => {
    assert.equal(encodeCmdlinePath('/Users/Jane Doe/é'), '/Users/Jane%20Doe/%c3%a9');
  });

  it('prints docker-machine style environments', () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-env-'));
    try {
      const sh = vmEnv('dev', 'sh', home);
      assert.match(sh, new RegExp(`^export DOCKER_HOST="unix://${home}/vm/dev/berth.sock"$`, 'm'));
      assert.match(sh, /^export BERTH_HOST=/m);
      assert.match(sh, /^# eval "\$\(berth vm env dev\)"$/m);
      assert.match(vmEnv('default', 'fish', home), /^set -gx DOCKER_HOST "unix:\/\/.*";$/m);
      assert.match(vmEnv('default', 'powershell', home), /^\$Env:DOCKER_HOST = "/m);
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
  });

  it("Windows: a VM's named pipes are the user's own (one pipe namespace for the whole machine)", () => {
    const jane = 'C:\\Users\\jane\\AppData\\Local\\berth\\vm\\default';
    const bob = 'C:\\Users\\bob\\AppData\\Local\\berth\\vm\\default';
    const api = windowsPipeName(jane, 'default', 'api', 'jane');
    assert.match(api, /^\\\\\.\\pipe\\berth-default-[0-9a-f]{16}$/);
    assert.equal(windowsPipeName(jane, 'default', 'supervisor', 'jane'), `${api}-supervisor`);
    // Another user's VM of the same name, or the same folder under another account: other pipes.
    assert.notEqual(windowsPipeName(bob, 'default', 'api', 'bob'), api);
    assert.notEqual(windowsPipeName(jane, 'default', 'api', 'bob'), api);
    assert.notEqual(windowsPipeName(`${jane}2`, 'default', 'api', 'jane'), api);
    // Windows compares user names and paths without case: the same user, the same pipe.
    assert.equal(windowsPipeName(jane.toUpperCase(), 'default', 'api', 'JANE'), api);
    assert.equal(windowsPipeName(jane, 'default', 'api', 'jane'), api, 'stable: the CLI and the supervisor agree');
    // What a VM's paths give on Windows: those names, for this user and this VM's folder.
    const platform = Object.getOwnPropertyDescriptor(process, 'platform')!;
    Object.defineProperty(process, 'platform', { value: 'win32' });
    try {
      const p = new VmPaths('default', 'C:\\Users\\jane\\AppData\\Local\\berth');
      assert.equal(p.apiSocket, windowsPipeName(p.dir, 'default'));
      assert.equal(p.controlSocket, windowsPipeName(p.dir, 'default', 'supervisor'));
      assert.match(p.apiSocket, /^\\\\\.\\pipe\\berth-default-[0-9a-f]{16}$/);
    } finally {
      Object.defineProperty(process, 'platform', platform);
    }
  });

  it('makes per-VM certificates that chain to the VM CA and name the guest', () => {
    const t = makeVmTls('unit');
    const ca = new crypto.X509Certificate(t.ca);
    const server = new crypto.X509Certificate(t.serverCert);
    const client = new crypto.X509Certificate(t.clientCert);
    assert.ok(ca.ca);
    assert.ok(server.verify(ca.publicKey) && client.verify(ca.publicKey));
    assert.ok(server.checkIP('127.0.0.1') && server.checkHost('localhost'));
    assert.equal(client.checkHost('localhost'), undefined);
    assert.notEqual(makeVmTls('unit').ca, t.ca, 'a new CA per VM');
  });
});
