// Image commands: pull, push, images (image ls), rmi (image rm), tag, save, load, image inspect, image prune.
import * as fs from 'node:fs';
import type { Command } from 'commander';
import type { EngineClient } from '../../client';
import { authForImage } from '../auth';
import { type Cli, StatusError, collect, confirm, describeError, parseFilters } from '../cli';
import {
  DEFAULT_IMAGES_DIGESTS_FORMAT,
  DEFAULT_IMAGES_FORMAT,
  ImageContext,
  familiarName,
  imageRows,
  normalizeReference,
  pickFormat,
  renderFormat,
} from '../format';
import { displayJSONMessages } from '../progress';
import { inspectEach, writeDeleted, writeReclaimedSpace } from './shared';

/** "busybox" → "busybox:latest"; references with a tag or digest unchanged. What docker prints in messages. */
export function withDefaultTag(ref: string): string {
  const n = normalizeReference(ref);
  return `${n.familiar}${n.digest ? `@${n.digest}` : `:${n.tag ?? 'latest'}`}`;
}

/**
 * Pulls an image, showing docker's progress on `out`. Used by pull and by run/create's auto-pull (which print it
 * on stderr).
 */
export async function pullImage(
  client: EngineClient,
  ref: string,
  out: NodeJS.WriteStream,
  opts: { quiet?: boolean; platform?: string; all?: boolean } = {},
): Promise<string> {
  const n = normalizeReference(ref);
  const tag = n.digest ?? n.tag ?? (opts.all ? undefined : 'latest');
  const messages = client.pullImage(n.familiar, tag, { auth: authForImage(ref), platform: opts.platform });
  if (opts.quiet) {
    await displayJSONMessages(messages, devNull());
  } else {
    await displayJSONMessages(messages, out);
  }
  return `${n.name}${n.digest ? `@${n.digest}` : tag ? `:${tag}` : ''}`;
}

function devNull(): NodeJS.WriteStream {
  return { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream;
}

function definePull(cmd: Command, cli: Cli) {
  cmd
    .description('Download an image from a registry')
    .argument('<name>', 'NAME[:TAG|@DIGEST]')
    .option('-a, --all-tags', 'Download all tagged images in the repository')
    .option('-q, --quiet', 'Suppress verbose output')
    .option('--platform <platform>', 'Set platform if server is multi-platform capable')
    .action(async (name: string, o: { allTags?: boolean; quiet?: boolean; platform?: string }) => {
      const client = await cli.client();
      const n = normalizeReference(name);
      if (o.allTags && (n.tag || n.digest)) throw new StatusError(1, "tag can't be used with --all-tags/-a");
      if (!n.tag && !n.digest && !o.allTags && !o.quiet) cli.out.write('Using default tag: latest\n');
      try {
        const full = await pullImage(client, name, cli.out, { quiet: o.quiet, platform: o.platform, all: o.allTags });
        cli.out.write(`${full}\n`);
      } catch (err) {
        throw new StatusError(1, describeError(err, cli.host()));
      }
    });
}

function definePush(cmd: Command, cli: Cli) {
  cmd
    .description('Upload an image to a registry')
    .argument('<name>', 'NAME[:TAG]')
    .option('-a, --all-tags', 'Push all tags of an image to the repository')
    .option('-q, --quiet', 'Suppress verbose output')
    .action(async (name: string, o: { allTags?: boolean; quiet?: boolean }) => {
      const client = await cli.client();
      const n = normalizeReference(name);
      let tag = n.tag;
      if (!tag && !o.allTags) {
        if (!o.quiet) cli.out.write('Using default tag: latest\n');
        tag = 'latest';
      }
      try {
        const messages = client.pushImage(n.familiar, tag, { auth: authForImage(name) ?? {} });
        await displayJSONMessages(messages, o.quiet ? devNull() : cli.out);
        if (o.quiet) cli.out.write(`${n.familiar}${tag ? `:${tag}` : ''}\n`);
      } catch (err) {
        throw new StatusError(1, describeError(err, cli.host()));
      }
    });
}

function defineImages(cmd: Command, cli: Cli) {
  cmd
    .description('List images')
    .argument('[repository]', 'REPOSITORY[:TAG]')
    .option('-a, --all', 'Show all images (default hides intermediate images)')
    .option('--digests', 'Show digests')
    .option('-f, --filter <filter>', 'Filter output based on conditions provided', collect)
    .option('--format <format>', 'Format output using a custom template')
    .option('--no-trunc', "Don't truncate output")
    .option('-q, --quiet', 'Only show image IDs')
    .action(
      async (
        repository: string | undefined,
        o: { all?: boolean; digests?: boolean; filter?: string[]; format?: string; trunc: boolean; quiet?: boolean },
      ) => {
        const client = await cli.client();
        const filters = parseFilters(o.filter);
        if (repository) (filters.reference ??= []).push(repository);
        const images = await client.listImages({ all: o.all, filters });
        const rows = imageRows(images, { digests: !!o.digests, trunc: o.trunc });
        let format = pickFormat(o.format, o.digests ? DEFAULT_IMAGES_DIGESTS_FORMAT : DEFAULT_IMAGES_FORMAT);
        if (o.quiet) format = '{{.ID}}';
        cli.out.write(
          renderFormat(format, rows, new ImageContext({ Id: '', Created: 0, Size: 0 } as never, '', '', '')),
        );
      },
    );
}

function defineRmi(cmd: Command, cli: Cli) {
  cmd
    .description('Remove one or more images')
    .argument('<image...>')
    .option('-f, --force', 'Force removal of the image')
    .option('--no-prune', 'Do not delete untagged parents')
    .action(async (names: string[], o: { force?: boolean; prune: boolean }) => {
      const client = await cli.client();
      const errors: string[] = [];
      for (const name of names) {
        try {
          const deleted = await client.removeImage(name, { force: o.force, noprune: !o.prune });
          for (const d of deleted ?? []) {
            if (d.Untagged) cli.out.write(`Untagged: ${d.Untagged}\n`);
            if (d.Deleted) cli.out.write(`Deleted: ${d.Deleted}\n`);
          }
        } catch (err) {
          errors.push(describeError(err, cli.host()));
        }
      }
      if (errors.length) throw new StatusError(1, errors.join('\n'));
    });
}

function defineTag(cmd: Command, cli: Cli) {
  cmd
    .description('Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE')
    .argument('<source>', 'SOURCE_IMAGE[:TAG]')
    .argument('<target>', 'TARGET_IMAGE[:TAG]')
    .action(async (source: string, target: string) => {
      const client = await cli.client();
      const n = normalizeReference(target);
      if (n.digest) throw new StatusError(1, 'refusing to create a tag with a digest reference');
      await client.tagImage(source, n.familiar, n.tag ?? 'latest');
    });
}

function defineSave(cmd: Command, cli: Cli) {
  cmd
    .description('Save one or more images to a tar archive (streamed to STDOUT by default)')
    .argument('<image...>')
    .option('-o, --output <file>', 'Write to a file, instead of STDOUT')
    .action(async (names: string[], o: { output?: string }) => {
      if (!o.output && cli.out.isTTY)
        throw new StatusError(1, 'cowardly refusing to save to a terminal. Use the -o flag or redirect');
      const client = await cli.client();
      const tar = await client.saveImages(names);
      if (o.output) {
        // Written beside the target and renamed, so a failed save leaves no half archive under the name.
        const tmp = `${o.output}.berth-tmp-${process.pid}`;
        try {
          await pipeTo(tar, fs.createWriteStream(tmp));
          fs.renameSync(tmp, o.output);
        } catch (err) {
          fs.rmSync(tmp, { force: true });
          throw err;
        }
      } else {
        await pipeTo(tar, cli.out, false);
      }
    });
}

async function pipeTo(src: NodeJS.ReadableStream, dst: NodeJS.WritableStream, end = true): Promise<void> {
  const { pipeline } = await import('node:stream/promises');
  await pipeline(src, dst, { end });
}

function defineLoad(cmd: Command, cli: Cli) {
  cmd
    .description('Load an image from a tar archive or STDIN')
    .option('-i, --input <file>', 'Read from tar archive file, instead of STDIN')
    .option('-q, --quiet', 'Suppress the load output')
    .action(async (o: { input?: string; quiet?: boolean }) => {
      if (!o.input && process.stdin.isTTY) throw new StatusError(1, 'requested load from stdin, but stdin is empty');
      const client = await cli.client();
      const input = o.input ? fs.createReadStream(o.input) : process.stdin;
      if (o.input)
        await fs.promises.access(o.input).catch(() => {
          throw new StatusError(1, `open ${o.input}: no such file or directory`);
        });
      try {
        await displayJSONMessages(client.loadImages(input, { quiet: o.quiet }), cli.out, { terminal: false });
      } catch (err) {
        throw new StatusError(1, describeError(err, cli.host()));
      }
    });
}

function defineImageInspect(cmd: Command, cli: Cli) {
  cmd
    .description('Display detailed information on one or more images')
    .argument('<image...>')
    .option('-f, --format <format>', 'Format output using a custom template')
    .action(async (names: string[], o: { format?: string }) => {
      const client = await cli.client();
      await inspectEach(cli, names, o.format, (n) => client.inspectImage(n));
    });
}

/** An image prune's deleted entries as docker lists them ("untagged: …", "deleted: …"). */
export function prunedImageLines(deleted: { Untagged?: string; Deleted?: string }[]): string[] {
  return deleted
    .flatMap((d) => [d.Untagged ? `untagged: ${d.Untagged}` : '', d.Deleted ? `deleted: ${d.Deleted}` : ''])
    .filter(Boolean);
}

function defineImagePrune(cmd: Command, cli: Cli) {
  cmd
    .description('Remove unused images')
    .option('-a, --all', 'Remove all unused images, not just dangling ones')
    .option('--filter <filter>', 'Provide filter values (e.g. "until=<timestamp>")', collect)
    .option('-f, --force', 'Do not prompt for confirmation')
    .action(async (o: { all?: boolean; filter?: string[]; force?: boolean }) => {
      const warning = o.all
        ? 'WARNING! This will remove all images without at least one container associated to them.'
        : 'WARNING! This will remove all dangling images.';
      if (!o.force && !(await confirm(cli, warning))) return;
      const client = await cli.client();
      const filters = parseFilters(o.filter);
      filters.dangling = [o.all ? 'false' : 'true'];
      const report = await client.pruneImages(filters);
      writeDeleted(cli, 'Deleted Images', prunedImageLines(report.ImagesDeleted ?? []));
      writeReclaimedSpace(cli, report.SpaceReclaimed ?? 0);
    });
}

export function registerImageCommands(program: Command, cli: Cli): void {
  const image = program.command('image').description('Manage images');
  definePull(program.command('pull'), cli);
  definePull(image.command('pull'), cli);
  definePush(program.command('push'), cli);
  definePush(image.command('push'), cli);
  defineImages(program.command('images'), cli);
  defineImages(image.command('ls').alias('list'), cli);
  defineRmi(program.command('rmi'), cli);
  defineRmi(image.command('rm').alias('remove'), cli);
  defineTag(program.command('tag'), cli);
  defineTag(image.command('tag'), cli);
  defineSave(program.command('save'), cli);
  defineSave(image.command('save'), cli);
  defineLoad(program.command('load'), cli);
  defineLoad(image.command('load'), cli);
  defineImageInspect(image.command('inspect'), cli);
  defineImagePrune(image.command('prune'), cli);
}

export { familiarName };
