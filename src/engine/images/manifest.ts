// Manifest media types and platform selection from manifest lists / OCI indexes.
import { goArch } from '../../common/docker';
import { invalidParameter } from '../errdefs';

export const MT = {
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerLayerForeign: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
} as const;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
  urls?: string[];
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface Manifest {
  schemaVersion: number;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
}

export interface Index {
  schemaVersion: number;
  mediaType?: string;
  manifests: Descriptor[];
}

export function isIndex(mediaType: string): boolean {
  return mediaType === MT.dockerList || mediaType === MT.ociIndex;
}

export function isManifest(mediaType: string): boolean {
  return mediaType === MT.dockerManifest || mediaType === MT.ociManifest;
}

export function isSchema1(mediaType: string): boolean {
  return mediaType.startsWith('application/vnd.docker.distribution.manifest.v1');
}

function hostVariant(): string | undefined {
  if (process.arch === 'arm64') return 'v8';
  if (process.arch === 'arm') return `v${(process.config.variables as any).arm_version ?? '7'}`;
  return undefined;
}

/** "linux/arm64/v8" → platform; empty → the host's. */
export function parsePlatform(s: string | null | undefined): Platform {
  if (!s) return { os: 'linux', architecture: goArch(), variant: hostVariant() };
  const parts = s.split('/');
  // containerd's platforms.Parse: at most os/arch/variant, each of these characters.
  const bad = parts.find((p) => !/^[A-Za-z0-9_.-]+$/.test(p));
  if (bad !== undefined)
    throw invalidParameter(
      `${JSON.stringify(bad)} is an invalid component of ${JSON.stringify(s)}: platform specifier component must match "^[A-Za-z0-9_.-]+$": invalid argument`,
    );
  if (parts.length > 3)
    throw invalidParameter(`${JSON.stringify(s)}: cannot parse platform specifier: invalid argument`);
  const [os, architecture, variant] = s.toLowerCase().split('/');
  if (!os || !architecture)
    throw invalidParameter(`"${s}": unknown operating system or architecture: invalid argument`);
  const arch =
    architecture === 'x86_64' || architecture === 'x86-64'
      ? 'amd64'
      : architecture === 'aarch64'
        ? 'arm64'
        : architecture;
  return { os, architecture: arch, variant };
}

export function platformString(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}

/** Picks the manifest for a platform as containerd's matcher does (variant optional unless asked for). */
export function selectManifest(index: Index, want: Platform): Descriptor | undefined {
  const candidates = index.manifests.filter(
    (m) => m.platform && m.platform.os === want.os && m.platform.architecture === want.architecture,
  );
  if (want.variant) {
    const exact = candidates.find((m) => m.platform?.variant === want.variant);
    if (exact) return exact;
  }
  return candidates.find((m) => !m.platform?.variant) ?? candidates[0];
}
