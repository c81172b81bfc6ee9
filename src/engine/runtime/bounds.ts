// What the engine's own process holds, which a container can never be given more of: capabilities, open files.
import * as fs from 'node:fs';
import { capabilitiesOfMask } from './spec';

let hostCaps: string[] | undefined;
/** The capabilities this engine holds in its bounding set: all a container can be given. */
export function hostCapabilities(): string[] | undefined {
  if (hostCaps) return hostCaps;
  try {
    const m = /^CapBnd:\s*([0-9a-f]+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    if (m) hostCaps = capabilitiesOfMask(m[1]);
  } catch {
    /* not linux */
  }
  return hostCaps;
}

/** The host's hard limit on open files (a container never asks for more). */
export function hostNofileHard(): number {
  try {
    const m = /Max open files\s+\S+\s+(\S+)/.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
    if (m && m[1] !== 'unlimited') return Number(m[1]);
  } catch {
    /* not linux */
  }
  return 1048576;
}
