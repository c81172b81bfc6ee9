// The data root's file system, as `docker info` reports it under overlay2: its name as moby's graphdriver names
// file systems, and whether it fills in d_type — overlay needs it (xfs made with ftype=0 does not), and Node's
// readdir cannot tell (it falls back to lstat for an unknown type), hence the small probe native/berth-dtype.c.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { notImplemented } from '../errdefs';

/** statfs(2) magic numbers and the names moby gives them (daemon/graphdriver's FsNames). */
const FS_NAMES: Record<number, string> = {
  1635083891: 'aufs',
  2435016766: 'btrfs',
  684539205: 'cramfs',
  61791: 'ecryptfs',
  61267: 'extfs',
  4076150800: 'f2fs',
  1196443219: 'gpfs',
  29366: 'jffs2',
  827541066: 'jfs',
  26985: 'nfs',
  2240043254: 'ramfs',
  1382369651: 'reiserfs',
  20859: 'smb',
  1936814952: 'squashfs',
  16914836: 'tmpfs',
  2768370933: 'vxfs',
  1481003842: 'xfs',
  801189825: 'zfs',
  2035054128: 'overlayfs',
  1702057286: 'fuse',
};

/** moby's name of a statfs magic number; "<unknown>" as moby says for the others. */
export function filesystemName(magic: number): string {
  return FS_NAMES[magic >>> 0] ?? '<unknown>';
}

export interface StorageFacts {
  /** The data root's file system ("extfs", "xfs", "tmpfs", …). */
  backingFilesystem: string;
  /** Whether it fills in d_type; undefined when the probe could not run. */
  dType?: boolean;
}

function dtypeHelper(): string {
  return process.env.BERTH_DTYPE_HELPER ?? path.join(__dirname, 'bin', 'berth-dtype');
}

/** Whether `dir`'s file system fills in d_type (a file made and read back there); undefined when it cannot tell. */
export function supportsDType(dir: string, helper = dtypeHelper()): boolean | undefined {
  const r = spawnSync(helper, [dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const out = r.status === 0 ? r.stdout.trim() : '';
  return out === 'true' ? true : out === 'false' ? false : undefined;
}

const cache = new Map<string, StorageFacts>();

/** The data root's facts; measured once per data root (a file system does not change under a running engine). */
export function storageFacts(dataRoot: string): StorageFacts {
  let facts = cache.get(dataRoot);
  if (!facts) {
    const dType = supportsDType(dataRoot);
    facts = {
      backingFilesystem: filesystemName(Number(fs.statfsSync(dataRoot).type)),
      ...(dType === undefined ? {} : { dType }),
    };
    cache.set(dataRoot, facts);
  }
  return facts;
}

/**
 * dockerd's refusal to run overlay on a file system without d_type (xfs made with ftype=0 corrupts overlay:
 * whiteouts and directories read back as the wrong type); undefined when the data root is fine or the probe
 * could not tell.
 */
export function dTypeRefusal(facts: StorageFacts): Error | undefined {
  if (facts.dType !== false) return undefined;
  let msg = `overlay2: the backing ${facts.backingFilesystem} filesystem is formatted without d_type support, which leads to incorrect behavior.`;
  if (facts.backingFilesystem === 'xfs') msg += ' Reformat the filesystem with ftype=1 to enable d_type support.';
  msg += ' Running without d_type is not supported.';
  return notImplemented(msg);
}
