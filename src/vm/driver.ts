// What every VM driver provides: whether it can run here, and how to launch the guest so that the supervisor can
// reach its engine, read its console, forward ports and stop it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { GuestArch, GuestImage } from './image';
import type { VmPaths } from './paths';

export type DriverName = 'qemu' | 'vfkit' | 'wsl';
export const DRIVERS: DriverName[] = ['qemu', 'vfkit', 'wsl'];

export interface VmConfig {
  name: string;
  driver: DriverName;
  cpus: number;
  memoryMiB: number;
  /** The data disk's size; it is sparse, so it takes only what the guest writes. */
  diskGiB: number;
  arch: GuestArch;
}

export interface Share {
  tag: string;
  hostPath: string;
  /** Where the guest mounts it (the user's home at the same path, so -v ~/src:/src works unchanged). */
  guestPath: string;
  readonly?: boolean;
}

export interface LaunchContext {
  paths: VmPaths;
  /**
   * The extension's (or CLI's) dist/, whose bin/ holds the helpers a platform VSIX bundles (vfkit, gvproxy); default:
   * the supervisor's own (it runs dist/vm.js).
   */
  bundleDir?: string;
  config: VmConfig;
  image: GuestImage;
  shares: Share[];
  log(line: string): void;
}

export interface PortForward {
  protocol: 'tcp' | 'udp';
  hostIp: string;
  hostPort: number;
  guestPort: number;
}

export interface Hypervisor {
  pid: number;
  /** The acceleration it runs with (kvm, hvf, whpx, tcg, vz…), for status and the numbers. */
  accel: string;
  /** The guest's console (kernel and init messages, berthd's log). */
  console: NodeJS.ReadableStream;
  /** What the user should know about this VM (a missing home share), shown by start and status. */
  notes?: string[];
  /** Resolves with the exit code when the hypervisor process ends. */
  exited: Promise<number | null>;
  /** Where the guest's berthd answers on the host, with mutual TLS. */
  apiAddress(): Promise<{ host: string; port: number }>;
  /** Asks the guest to shut down cleanly. */
  requestPoweroff(): Promise<void>;
  /** Ends the hypervisor now. */
  kill(): void;
  /**
   * Where the guest reaches the host, where that is known only once the guest is up (vfkit's NAT: this machine's
   * address on the network the guest leased an address on); the port service listens there too.
   */
  guestSideHost?(): Promise<string>;
  /** Publishes a guest port on the host; absent where the platform does it itself (WSL's localhost forwarding). */
  forwardPort?(f: PortForward): Promise<void>;
  unforwardPort?(f: PortForward): Promise<void>;
}

export interface VmDriver {
  readonly name: DriverName;
  /** Why this driver cannot run here, saying what to install; undefined when it can. */
  unavailable(arch: GuestArch, bundleDir: string): Promise<string | undefined>;
  launch(ctx: LaunchContext): Promise<Hypervisor>;
}

/** The guest's API port (with mutual TLS): forwarded from the host's loopback, or reached on the guest's address. */
export const GUEST_API_PORT = 2376;

/**
 * Kernel options every guest boots with, for what it keeps at idle: Debian's kernel backs anonymous memory with 2 MiB
 * pages wherever it can (transparent_hugepage=always), so node's heap in the guest held whole huge pages it barely
 * used (measured: berthd 10-12 MB of AnonHugePages at idle); only who asks for them (madvise) gets them now.
 */
export const GUEST_KERNEL_OPTIONS = ['transparent_hugepage=madvise'];

/** %-encodes a path for the kernel command line (no spaces or quotes survive it otherwise). */
export function encodeCmdlinePath(p: string): string {
  return p.replace(/[^A-Za-z0-9/._~-]/g, (c) =>
    [...Buffer.from(c, 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join(''),
  );
}

/** Finds an executable on PATH (and in `extra` folders); undefined when absent. */
export function findExecutable(name: string, extra: string[] = [], env = process.env): string | undefined {
  const exts = process.platform === 'win32' ? ['.exe', ''] : [''];
  for (const dir of [...(env.PATH ?? '').split(path.delimiter), ...extra]) {
    if (!dir) continue;
    for (const ext of exts) {
      const p = path.join(dir, name + ext);
      try {
        fs.accessSync(p, fs.constants.X_OK);
        if (fs.statSync(p).isFile()) return p;
      } catch {
        /* not here */
      }
    }
  }
  return undefined;
}
