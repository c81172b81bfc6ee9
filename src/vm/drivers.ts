// The drivers by name.
import type { DriverName, VmDriver } from './driver';
import { QemuDriver } from './qemu';
import { VfkitDriver } from './vfkit';
import { WslDriver } from './wsl';

export function driverFor(name: DriverName): VmDriver {
  switch (name) {
    case 'qemu':
      return new QemuDriver(qemuPlatform());
    case 'vfkit':
      return new VfkitDriver();
    case 'wsl':
      return new WslDriver();
    default:
      throw new Error(`unknown VM driver "${name}" (qemu, vfkit or wsl)`);
  }
}

/** Drivers to try on this platform, preferred first. */
export function platformDrivers(platform = process.platform): DriverName[] {
  if (platform === 'darwin') return ['vfkit', 'qemu'];
  if (platform === 'win32') return ['wsl', 'qemu'];
  return ['qemu'];
}

/**
 * The platform whose QEMU the qemu driver drives: this one, or BERTH_QEMU_PLATFORM (win32, darwin, linux) — how the
 * tests boot Windows' choices (seed through fw_cfg, loopback TCP channels, no 9p) on Linux.
 */
export function qemuPlatform(env = process.env, platform = process.platform): NodeJS.Platform {
  const p = env.BERTH_QEMU_PLATFORM;
  return p === 'win32' || p === 'darwin' || p === 'linux' ? p : platform;
}
