// build (docker build with the classic builder's flags and output), commit, import and builder prune.
import * as fs from 'node:fs';
import { PassThrough, type Readable, Transform } from 'node:stream';
import type { Command } from 'commander';
import type { AuthConfig, JSONMessage } from '../../client';
import { buildContextTar } from '../../client/build-context';
import { lookupAuth } from '../auth';
import { type Cli, StatusError, collect, describeError, parseKeyValues } from '../cli';
import { humanSize, ramInBytes } from '../../common/docker';
import { JSONMessageError, displayJSONMessages } from '../progress';

/** --build-arg KEY=VALUE, or KEY: taken from the environment when set there (sent without a value otherwise). */
function buildArgs(values: string[] = []): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const v of values) {
    const i = v.indexOf('=');
    if (i > 0) out[v.slice(0, i)] = v.slice(i + 1);
    else out[v] = process.env[v] ?? null;
  }
  return out;
}

/** The credentials the docker CLI sends for FROM images: every registry it has a login for. */
function registryConfig(): Record<string, AuthConfig> {
  const out: Record<string, AuthConfig> = {};
  for (const file of [process.env.DOCKER_CONFIG ? `${process.env.DOCKER_CONFIG}/config.json` : '']) {
    if (!file) continue;
    try {
      for (const key of Object.keys(JSON.parse(fs.readFileSync(file, 'utf8')).auths ?? {})) {
        const a = lookupAuth(key);
        if (a) out[key] = a;
      }
    } catch {
      /* no config */
    }
  }
  return out;
}

interface BuildFlags {
  tag?: string[];
  file?: string;
  buildArg?: string[];
  label?: string[];
  target?: string;
  cache: boolean;
  pull?: boolean;
  rm: string | boolean;
  forceRm?: boolean;
  quiet?: boolean;
  network?: string;
  addHost?: string[];
  shmSize?: string;
  cacheFrom?: string[];
  platform?: string;
  iidfile?: string;
  compress?: boolean;
}

function defineBuild(cmd: Command, cli: Cli) {
  cmd
    .description('Build an image from a Dockerfile')
    .argument('<context>', 'PATH | - (a tar on stdin)')
    .option('-t, --tag <name>', 'Name and optionally a tag in the "name:tag" format', collect)
    .option('-f, --file <file>', "Name of the Dockerfile (Default is 'PATH/Dockerfile')")
    .option('--build-arg <arg>', 'Set build-time variables', collect)
    .option('--label <label>', 'Set metadata for an image', collect)
    .option('--target <stage>', 'Set the target build stage to build')
    .option('--no-cache', 'Do not use cache when building the image')
    .option('--pull', 'Always attempt to pull a newer version of the image')
    .option('--rm [bool]', 'Remove intermediate containers after a successful build', true)
    .option('--force-rm', 'Always remove intermediate containers')
    .option('-q, --quiet', 'Suppress the build output and print image ID on success')
    .option('--network <mode>', 'Set the networking mode for the RUN instructions during build')
    .option('--add-host <host:ip>', 'Add a custom host-to-IP mapping (host:ip)', collect)
    .option('--shm-size <bytes>', 'Size of /dev/shm')
    .option('--cache-from <image>', 'Images to consider as cache sources', collect)
    .option('--platform <platform>', 'Set platform if server is multi-platform capable')
    .option('--iidfile <file>', 'Write the image ID to the file')
    .option('--compress', 'Compress the build context using gzip')
    .action(async (context: string, o: BuildFlags) => {
      const client = await cli.client();
      let tar: Readable;
      let dockerfile: string | undefined;
      if (context === '-') {
        tar = process.stdin;
        dockerfile = o.file;
      } else {
        try {
          const made = buildContextTar({
            contextDir: context,
            dockerfile: o.file,
            dockerfileText: o.file === '-' ? fs.readFileSync(0, 'utf8') : undefined,
          });
          tar = made.tar;
          dockerfile = made.dockerfile;
        } catch (err) {
          throw new StatusError(1, `unable to prepare context: ${(err as Error).message}`);
        }
      }
      // The context's size, shown when it is all sent (as the docker CLI's progress ends).
      let sent = 0;
      const counted = tar.pipe(
        new Transform({
          transform(chunk: Buffer, _e, cb) {
            sent += chunk.length;
            cb(null, chunk);
          },
        }),
      );
      tar.on('error', (err) => counted.destroy(err));
      let body: Readable = counted;
      if (o.compress) {
        const zlib = await import('node:zlib');
        body = counted.pipe(zlib.createGzip());
      }
      let announced = false;
      const announce = () => {
        if (announced || o.quiet) return;
        announced = true;
        cli.out.write(`Sending build context to Docker daemon  ${humanSize(sent)}\r\r\n`);
      };
      counted.once('end', announce);
      const held = new PassThrough();
      const heldText: Buffer[] = [];
      held.on('data', (d: Buffer) => heldText.push(d));
      let imageId = '';
      const rm = o.rm === true || o.rm === 'true' || o.rm === '1';
      try {
        const messages = client.buildImage(body, {
          dockerfile,
          tags: o.tag,
          buildArgs: buildArgs(o.buildArg) as Record<string, string>,
          labels: parseKeyValues(o.label),
          target: o.target,
          noCache: o.cache === false,
          pull: o.pull,
          remove: rm,
          forceRemove: o.forceRm,
          quiet: o.quiet,
          networkMode: o.network,
          extraHosts: o.addHost,
          shmSize: o.shmSize ? ramInBytes(o.shmSize) : undefined,
          cacheFrom: o.cacheFrom,
          platform: o.platform,
          registryConfig: registryConfig(),
        });
        const watched = (async function* () {
          for await (const m of messages as AsyncIterable<JSONMessage>) {
            announce();
            const aux = m.aux as { ID?: string } | undefined;
            if (aux?.ID) imageId = aux.ID;
            if (o.quiet && m.stream && /^sha256:[0-9a-f]{64}\n$/.test(m.stream)) imageId = m.stream.trim();
            yield m;
          }
        })();
        await displayJSONMessages(watched, o.quiet ? (held as unknown as NodeJS.WriteStream) : cli.out, {
          terminal: o.quiet ? false : undefined,
        });
      } catch (err) {
        if (o.quiet) cli.err.write(Buffer.concat(heldText));
        if (err instanceof JSONMessageError) throw new StatusError(err.code || 1, err.message);
        throw new StatusError(1, describeError(err, cli.host()));
      }
      if (o.quiet) cli.out.write(`${imageId}\n`);
      if (o.iidfile && imageId) fs.writeFileSync(o.iidfile, imageId);
    });
}

function defineCommit(cmd: Command, cli: Cli) {
  cmd
    .description("Create a new image from a container's changes")
    .argument('<container>')
    .argument('[repository]', 'REPOSITORY[:TAG]')
    .option('-a, --author <author>', 'Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")')
    .option('-c, --change <instruction>', 'Apply Dockerfile instruction to the created image', collect)
    .option('-m, --message <message>', 'Commit message')
    .option('-p, --pause [bool]', 'Pause container during commit', true)
    .action(
      async (
        container: string,
        repository: string | undefined,
        o: { author?: string; change?: string[]; message?: string; pause: string | boolean },
      ) => {
        const client = await cli.client();
        let repo: string | undefined;
        let tag: string | undefined;
        if (repository) {
          const at = repository.lastIndexOf(':');
          if (at > repository.lastIndexOf('/')) {
            repo = repository.slice(0, at);
            tag = repository.slice(at + 1);
          } else repo = repository;
        }
        try {
          const res = await client.commitContainer(container, {
            repo,
            tag,
            author: o.author,
            comment: o.message,
            changes: o.change,
            pause: !(o.pause === false || o.pause === 'false' || o.pause === '0'),
          });
          cli.out.write(`${res.Id}\n`);
        } catch (err) {
          throw new StatusError(1, describeError(err, cli.host()));
        }
      },
    );
}

function defineImport(cmd: Command, cli: Cli) {
  cmd
    .description('Import the contents from a tarball to create a filesystem image')
    .argument('<file>', 'file|- (a tar on stdin)')
    .argument('[repository]', 'REPOSITORY[:TAG]')
    .option('-c, --change <instruction>', 'Apply Dockerfile instruction to the created image', collect)
    .option('-m, --message <message>', 'Set commit message for imported image')
    .option('--platform <platform>', 'Set platform if server is multi-platform capable')
    .action(
      async (
        file: string,
        repository: string | undefined,
        o: { change?: string[]; message?: string; platform?: string },
      ) => {
        const client = await cli.client();
        let repo: string | undefined;
        let tag: string | undefined;
        if (repository) {
          const at = repository.lastIndexOf(':');
          if (at > repository.lastIndexOf('/')) {
            repo = repository.slice(0, at);
            tag = repository.slice(at + 1);
          } else repo = repository;
        }
        if (file !== '-' && !fs.existsSync(file)) throw new StatusError(1, `open ${file}: no such file or directory`);
        const source = file === '-' ? process.stdin : fs.createReadStream(file);
        try {
          let id = '';
          for await (const m of client.importImage(source, {
            repo,
            tag,
            message: o.message,
            changes: o.change,
            platform: o.platform,
          })) {
            if (m.error || m.errorDetail) throw new Error(m.errorDetail?.message ?? m.error);
            if (m.status) id = m.status;
          }
          cli.out.write(`${id}\n`);
        } catch (err) {
          throw new StatusError(1, describeError(err, cli.host()));
        }
      },
    );
}

function defineBuilderPrune(cmd: Command, cli: Cli) {
  cmd
    .description('Remove build cache')
    .option('-a, --all', 'Remove all unused build cache, not just dangling ones')
    .option('-f, --force', 'Do not prompt for confirmation')
    .action(async (o: { all?: boolean; force?: boolean }) => {
      const client = await cli.client();
      const res = await client.pruneBuildCache(undefined, { all: o.all });
      if (res.CachesDeleted?.length) {
        cli.out.write('Deleted build cache objects:\n');
        for (const id of res.CachesDeleted) cli.out.write(`${id}\n`);
        cli.out.write('\n');
      }
      cli.out.write(`Total reclaimed space: ${humanSize(res.SpaceReclaimed ?? 0)}\n`);
    });
}

export function registerBuildCommands(program: Command, cli: Cli): void {
  defineBuild(program.command('build'), cli);
  const image = program.commands.find((c) => c.name() === 'image') ?? program.command('image');
  defineBuild(image.command('build'), cli);
  defineImport(program.command('import'), cli);
  defineImport(image.command('import'), cli);
  defineCommit(program.command('commit'), cli);
  const container = program.commands.find((c) => c.name() === 'container');
  if (container) defineCommit(container.command('commit'), cli);
  const builder = program.command('builder').description('Manage builds');
  defineBuild(builder.command('build'), cli);
  defineBuilderPrune(builder.command('prune'), cli);
}
