// The guest image a VM boots (built by scripts/vm-image.sh into dist/vm/<arch>/, carried by the platform VSIX):
// found next to the running bundle, checked against its manifest before a boot so that a missing or corrupt file is
// a clear error instead of a guest that never answers. A file's sha256 is checked once per (size, mtime).
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { berthHome } from './paths';

export type GuestArch = 'x64' | 'arm64';

export interface GuestImage {
  dir: string;
  arch: GuestArch;
  kernel: string;
  /** x64: the kernel unpacked (ELF with a PVH entry), for QEMU under TCG; absent from the platform packages. */
  kernelElf?: string;
  initrd: string;
  root: string;
  /** The root as a tarball (x64, for WSL). */
  rootTar?: string;
  kernelVersion: string;
  version: string;
}

interface Manifest {
  arch: GuestArch;
  kernel: string;
  berth: string;
  files: Record<string, { size: number; sha256: string }>;
}

export function hostGuestArch(arch = process.arch): GuestArch {
  if (arch === 'x64' || arch === 'arm64') return arch;
  throw new Error(`Berth's VM runs on x64 and arm64 hosts, not ${arch}`);
}

/** Where the image for `arch` is looked for: BERTH_VM_IMAGE, else dist/vm/<arch> beside the bundle. */
export function imageDir(arch: GuestArch, bundleDir = __dirname, env = process.env): string {
  if (env.BERTH_VM_IMAGE) return path.resolve(env.BERTH_VM_IMAGE);
  return path.join(bundleDir, 'vm', arch);
}

export class ImageError extends Error {}

/**
 * What to do about a missing or broken image where it was looked for: BERTH_VM_IMAGE's folder, a checkout (its
 * dist/ beside scripts/vm-image.sh), the Linux package (no guest image by design: the engine runs natively there),
 * or a macOS/Windows package (which carries one: a broken install).
 */
export function imageHint(
  arch: GuestArch,
  opts: { bundleDir?: string; env?: NodeJS.ProcessEnv; platform?: NodeJS.Platform } = {},
): string {
  const env = opts.env ?? process.env;
  const build = `"npm run vm-image" in a Berth checkout builds one into dist/vm/${arch}`;
  if (env.BERTH_VM_IMAGE)
    return `BERTH_VM_IMAGE names this folder: point it at a Berth guest image for ${arch} (${build})`;
  if (fs.existsSync(path.join(opts.bundleDir ?? __dirname, '..', 'scripts', 'vm-image.sh')))
    return 'rebuild it with "npm run vm-image"';
  if ((opts.platform ?? process.platform) === 'linux') {
    const packages = arch === 'arm64' ? 'berth-darwin-arm64.vsix' : 'berth-darwin-x64.vsix or berth-win32-x64.vsix';
    return (
      'the Berth package for Linux carries no guest image (on Linux the engine runs natively: berth.engine.mode ' +
      `"native"); for the VM, set BERTH_VM_IMAGE to a guest image folder — extension/dist/vm/${arch} unzipped from ` +
      `${packages}, or dist/vm/${arch} after ${build.replace(/ builds one.*/, '')}`
    );
  }
  return 'reinstall the Berth extension for this platform (its package carries the guest image)';
}

const REQUIRED = ['vmlinuz', 'initrd.img', 'root.img'];
const OPTIONAL = ['vmlinux'];

/** Checks the image in `dir` (and its sha256s, cached) and describes it; throws ImageError naming what is wrong. */
export function loadImage(dir: string, opts: { verify?: boolean; needTar?: boolean; hint?: string } = {}): GuestImage {
  const hint = opts.hint ?? 'rebuild it with "npm run vm-image" or reinstall the Berth extension for this platform';
  const manifestPath = path.join(dir, 'manifest.json');
  let manifest: Manifest;
  try {
    manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8'));
  } catch (err: any) {
    throw new ImageError(
      err.code === 'ENOENT'
        ? `no Berth guest image in ${dir} (manifest.json is missing): ${hint}`
        : `the guest image's manifest ${manifestPath} is unreadable: ${err.message}; ${hint}`,
    );
  }
  // An optional file the manifest lists is used when it is there (the platform packages leave vmlinux out).
  const optional = OPTIONAL.filter((f) => manifest.files?.[f] && fs.existsSync(path.join(dir, f)));
  const wanted = [...REQUIRED, ...(opts.needTar ? ['rootfs.tar.gz'] : []), ...optional];
  for (const f of wanted) {
    const p = path.join(dir, f);
    const want = manifest.files?.[f];
    if (!want) throw new ImageError(`the guest image in ${dir} has no ${f}: ${hint}`);
    let st: fs.Stats;
    try {
      st = fs.statSync(p);
    } catch {
      throw new ImageError(`the guest image file ${p} is missing: ${hint}`);
    }
    if (st.size !== want.size)
      throw new ImageError(`the guest image file ${p} is corrupt (${st.size} bytes, expected ${want.size}): ${hint}`);
    if (opts.verify !== false && !verifiedBefore(p, st, want.sha256)) {
      if (sha256File(p) !== want.sha256)
        throw new ImageError(`the guest image file ${p} is corrupt (its sha256 does not match the manifest): ${hint}`);
      rememberVerified(p, st, want.sha256);
    }
  }
  return {
    dir,
    arch: manifest.arch,
    kernel: path.join(dir, 'vmlinuz'),
    kernelElf: optional.includes('vmlinux') ? path.join(dir, 'vmlinux') : undefined,
    initrd: path.join(dir, 'initrd.img'),
    root: path.join(dir, 'root.img'),
    rootTar: manifest.files['rootfs.tar.gz'] ? path.join(dir, 'rootfs.tar.gz') : undefined,
    kernelVersion: manifest.kernel,
    version: manifest.berth,
  };
}

export function sha256File(file: string): string {
  const h = crypto.createHash('sha256');
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(4 << 20);
    for (let n: number; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0; ) h.update(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex');
}

const cacheFile = () => path.join(berthHome(), 'image-verified.json');
const key = (p: string, st: fs.Stats, sha: string) => `${p}|${st.size}|${st.mtimeMs}|${st.ino}|${sha}`;

function verifiedBefore(p: string, st: fs.Stats, sha: string): boolean {
  try {
    return (JSON.parse(fs.readFileSync(cacheFile(), 'utf8')) as string[]).includes(key(p, st, sha));
  } catch {
    return false;
  }
}

function rememberVerified(p: string, st: fs.Stats, sha: string): void {
  let list: string[] = [];
  try {
    list = JSON.parse(fs.readFileSync(cacheFile(), 'utf8'));
  } catch {
    /* first one */
  }
  list = [...list.filter((k) => !k.startsWith(`${p}|`)), key(p, st, sha)].slice(-32);
  try {
    fs.mkdirSync(path.dirname(cacheFile()), { recursive: true, mode: 0o700 });
    fs.writeFileSync(cacheFile(), JSON.stringify(list));
  } catch {
    /* only a cache */
  }
}
