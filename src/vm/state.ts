// The VM's state file, written by its supervisor (atomically) and read by whoever asks: the CLI, the extension.
import * as fs from 'node:fs';
import type { DriverName, VmConfig } from './driver';
import type { PortState } from './ports';

export type VmPhase = 'starting' | 'running' | 'stopping' | 'stopped' | 'failed';

export interface BootStage {
  name: string;
  /** Milliseconds since the supervisor started. */
  atMs: number;
}

export interface VmState {
  name: string;
  phase: VmPhase;
  driver: DriverName;
  accel?: string;
  supervisorPid: number;
  hypervisorPid?: number;
  /** The loopback port the hypervisor forwards to the guest's TLS listener (useless without the client key). */
  apiPort?: number;
  startedAt: string;
  stages: BootStage[];
  /** Milliseconds from the hypervisor's start to the first answered _ping. */
  bootMs?: number;
  error?: string;
  /** The driver's notes for the user (Hypervisor.notes). */
  notes?: string[];
  ports: PortState[];
}

export function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

export function writeJsonAtomic(file: string, value: unknown): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
  fs.renameSync(tmp, file);
}

export function alive(pid: number | undefined): boolean {
  if (!pid || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err: any) {
    return err.code === 'EPERM';
  }
}

export const DEFAULT_CONFIG: Omit<VmConfig, 'name' | 'driver' | 'arch'> = { cpus: 2, memoryMiB: 2048, diskGiB: 64 };
