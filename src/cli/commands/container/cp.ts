// berth cp: files between a container and the host (or a tar on stdin/stdout), as docker cp does.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import type { Command } from 'commander';
import type { EngineClient } from '../../../client';
import { extractTo, packPath } from '../../archive';
import { type Cli, StatusError, describeError, isNotFound } from '../../cli';
import { humanSize } from '../../format';

function splitCpArg(arg: string): { container?: string; path: string } {
  if (arg.startsWith('/') || arg.startsWith('.') || arg === '-') return { path: arg };
  const i = arg.indexOf(':');
  if (i <= 0) return { path: arg };
  return { container: arg.slice(0, i), path: arg.slice(i + 1) };
}

export function defineCp(cmd: Command, cli: Cli) {
  cmd
    .description('Copy files/folders between a container and the local filesystem')
    .argument('<src>', 'CONTAINER:SRC_PATH | SRC_PATH | -')
    .argument('<dest>', 'CONTAINER:DEST_PATH | DEST_PATH | -')
    .option('-a, --archive', 'Archive mode (copy all uid/gid information)')
    .option('-L, --follow-link', 'Always follow symbol link in SRC_PATH')
    .option('-q, --quiet', 'Suppress progress output during copy')
    .action(
      async (srcArg: string, destArg: string, o: { archive?: boolean; followLink?: boolean; quiet?: boolean }) => {
        const src = splitCpArg(srcArg);
        const dest = splitCpArg(destArg);
        if (src.container && dest.container) throw new StatusError(1, 'copying between containers is not supported');
        if (!src.container && !dest.container) throw new StatusError(1, 'must specify at least one container source');
        if (src.container && !src.path) throw new StatusError(1, 'filepath can not be empty');
        const client = await cli.client();
        try {
          if (src.container)
            await copyFromContainer(cli, client, src.container, src.path, dest.path, {
              follow: !!o.followLink,
              quiet: !!o.quiet,
            });
          else
            await copyToContainer(cli, client, src.path, dest.container!, dest.path, {
              archive: !!o.archive,
              follow: !!o.followLink,
              quiet: !!o.quiet,
            });
        } catch (err) {
          if (err instanceof StatusError) throw err;
          throw new StatusError(1, describeError(err, cli.host()));
        }
      },
    );
}

async function copyFromContainer(
  cli: Cli,
  client: EngineClient,
  container: string,
  srcPath: string,
  destPath: string,
  o: { follow: boolean; quiet: boolean },
) {
  const quiet = o.quiet;
  // -L: a symlink is copied as what it points to (the engine resolved that inside the container), under its own name.
  let from = srcPath;
  let name: string | undefined;
  if (o.follow) {
    const st = await client.statContainerPath(container, srcPath).catch(() => undefined);
    if (st && (st.mode & (2 ** 27)) !== 0 && st.linkTarget) {
      from = st.linkTarget;
      name = st.name;
    }
  }
  const { tar, stat: got } = await client.getArchive(container, from);
  const stat = name ? { ...got, name } : got;
  const srcName = got.name;
  if (destPath === '-') {
    for await (const chunk of tar)
      if (!cli.out.write(chunk)) await new Promise<void>((r) => cli.out.once('drain', () => r()));
    return;
  }
  const srcIsDir = (stat.mode & 0x80000000) !== 0 || (stat.mode & 0o170000) === 0o040000;
  const contentsOnly = srcPath.endsWith('/.') || srcPath === '.';
  const destStat = await fs.promises.stat(destPath).catch(() => undefined);
  let dir: string;
  let rootName: string;
  if (destStat?.isDirectory()) {
    dir = destPath;
    rootName = contentsOnly && srcIsDir ? '' : stat.name;
  } else if (destStat) {
    if (srcIsDir) throw new StatusError(1, `cannot copy a directory to a file`);
    dir = path.dirname(destPath);
    rootName = path.basename(destPath);
  } else {
    if (destPath.endsWith('/') && !srcIsDir)
      throw new StatusError(1, `destination directory "${destPath}" does not exist`);
    dir = path.dirname(path.resolve(destPath));
    if (!fs.existsSync(dir)) throw new StatusError(1, `destination directory "${dir}" does not exist`);
    rootName = path.basename(path.resolve(destPath));
  }
  const bytes = await extractTo(tar, path.resolve(dir), srcName, rootName);
  if (!quiet && cli.err.isTTY) cli.err.write(`Successfully copied ${humanSize(bytes)} to ${destPath}\n`);
}

async function copyToContainer(
  cli: Cli,
  client: EngineClient,
  srcPath: string,
  container: string,
  destPath: string,
  o: { archive: boolean; follow: boolean; quiet: boolean },
) {
  if (srcPath === '-') {
    await client.putArchive(container, destPath, process.stdin as unknown as Readable, {
      noOverwriteDirNonDir: true,
      copyUIDGID: o.archive,
    });
    return;
  }
  const localStat = await (o.follow ? fs.promises.stat(srcPath) : fs.promises.lstat(srcPath)).catch(() => {
    throw new StatusError(1, `lstat ${path.resolve(srcPath)}: no such file or directory`);
  });
  const contentsOnly = srcPath.endsWith('/.') || srcPath === '.';
  let destStat;
  try {
    destStat = await client.statContainerPath(container, destPath);
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  let dir: string;
  let rootName: string;
  if (destStat && ((destStat.mode & 0x80000000) !== 0 || (destStat.mode & 0o170000) === 0o040000)) {
    dir = destPath;
    rootName = contentsOnly && localStat.isDirectory() ? '' : path.basename(path.resolve(srcPath));
  } else if (destStat) {
    if (localStat.isDirectory()) throw new StatusError(1, 'cannot copy a directory to a file');
    dir = path.posix.dirname(destPath);
    rootName = path.posix.basename(destPath);
  } else {
    if (destPath.endsWith('/'))
      throw new StatusError(
        1,
        `Error response from daemon: Could not find the file ${destPath} in container ${container}`,
      );
    dir = path.posix.dirname(destPath);
    rootName = path.posix.basename(destPath);
  }
  const source = o.follow && localStat.isSymbolicLink() ? await fs.promises.realpath(srcPath) : srcPath;
  const packed = packPath(source, rootName);
  await client.putArchive(container, dir, packed.stream, { noOverwriteDirNonDir: true, copyUIDGID: o.archive });
  if (!o.quiet && cli.err.isTTY)
    cli.err.write(`Successfully copied ${humanSize(packed.bytes())} to ${container}:${destPath}\n`);
}
