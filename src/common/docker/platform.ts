// Go's names for the host's architecture (GOARCH), as Docker reports them and as image platforms use them.

const GOARCH: Record<string, string> = {
  x64: 'amd64',
  arm64: 'arm64',
  arm: 'arm',
  ia32: '386',
  ppc64: 'ppc64le',
  s390x: 's390x',
  riscv64: 'riscv64',
};

/** The GOARCH of Node's `process.arch` (x64 → amd64, ia32 → 386, …). */
export function goArch(arch: string = process.arch): string {
  return GOARCH[arch] ?? arch;
}
