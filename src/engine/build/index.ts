// The build subsystem: Dockerfile builds (the classic builder's API and output), `docker commit`, `docker
// import` and the build cache's prune. Images it makes are ordinary images of the images subsystem, each with
// its parent; RUN steps are ordinary containers of the containers subsystem.
import type { OverlayDriver } from '../runtime';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import type { ContainerService } from '../containers';
import { invalidParameter, isEngineError, system } from '../errdefs';
import type { Image, ImageService, Progress } from '../images';
import { parsePlatform } from '../images';
import { log } from '../log';
import { DEFAULT_TAG, familiarString, parseReference } from '../registry';
import { Build } from './builder';
import { type BuildContext, receiveContext } from './context';
import { parseDockerfile } from './dockerfile';
import { ignored, readDockerignore } from '../../common/docker';
import { parseStages } from './instructions';
import { resolveInRoot } from './sources';

import { type CommitOptions, commitContainer, type ImportOptions, importImage } from './commit';
import type { EventBus } from '../events';
import type { Credentials } from '../registry';

export { StepFailed } from './builder';
export type { CommitOptions, ImportOptions } from './commit';

export interface BuildOptions {
  /** The Dockerfile's path in the context. */
  dockerfile: string;
  /** Names to tag the result with. */
  tags: string[];
  /** --build-arg values (null: take it from the environment, which a daemon does not have: unset). */
  buildArgs: Record<string, string | null>;
  target: string;
  labels: Record<string, string>;
  noCache: boolean;
  pull: boolean;
  /** Remove intermediate containers after a successful step (rm, default on). */
  remove: boolean;
  /** Remove them always (forcerm). */
  forceRemove: boolean;
  networkMode: string;
  extraHosts: string[];
  shmSize?: number;
  cacheFrom: string[];
  platform?: string;
  /** Credentials for pulling FROM images, by registry (X-Registry-Config). */
  auth?: (domain: string) => Credentials | undefined;
}

/** Where a build's output goes (the API route turns it into Docker's JSON stream). */
export interface BuildOutput {
  stdout(text: string): void;
  /** A RUN's stderr and the builder's warnings (shown red by the docker CLI). */
  stderr(text: string): void;
  /** A stage's result. */
  aux(imageId: string): void;
  /** Progress of a FROM image's pull. */
  progress(p: Progress): void;
}

export interface BuildService {
  /**
   * Builds from a context tar. Errors found before the first step (a bad Dockerfile, a missing one, a bad
   * tag) are thrown before anything is written to `out`; a failing step throws after its output.
   */
  build(context: Readable, opts: BuildOptions, out: BuildOutput, signal: AbortSignal): Promise<{ id: string }>;
  /** Frees the build cache: images made by builds and commits that nothing names or uses. */
  prune(): Promise<{ deleted: string[]; spaceReclaimed: number }>;
  /** `docker commit`: a container's changes as a new image; its ID. */
  commit(container: string, opts: CommitOptions): Promise<string>;
  /** `docker import`: an image from a root file system tar; its ID. */
  importImage(source: Readable, opts: ImportOptions): Promise<string>;
}

/** What builds use of the rest of the engine. */
export interface BuildDeps {
  images: ImageService;
  containers: Pick<
    ContainerService,
    'create' | 'start' | 'attach' | 'wait' | 'remove' | 'kill' | 'diff' | 'get' | 'pause' | 'unpause'
  >;
  /** Scratch space for contexts and layers being written (emptied at start). */
  tmpDir: string;
  /** How workspaces' overlays are mounted (the engine's overlay driver). */
  overlay?: OverlayDriver;
  /** Recorded as the images' docker_version. */
  dockerVersion: string;
  /** Pulls a FROM image (credentials from the request). */
  pull(ref: string, platform: string | undefined, progress: (p: Progress) => void): Promise<Image>;
}

export interface BuildServiceOptions {
  images: ImageService;
  containers: BuildDeps['containers'];
  events: EventBus;
  dataRoot: string;
  dockerVersion: string;
  overlay?: OverlayDriver;
}

/** `repo` and `tag` of commit and import as one reference (none without a repo). */
function targetRef(repo: string | undefined, tag: string | undefined): string | undefined {
  if (!repo) return undefined;
  const text = tag ? `${repo}:${tag}` : repo;
  try {
    const r = parseReference(text);
    if (r.digest) throw new Error('digest');
    return familiarString({ ...r, tag: r.tag ?? DEFAULT_TAG });
  } catch {
    throw invalidParameter(`invalid reference format: ${text}`);
  }
}

/** The Dockerfile, found in the context as dockerd finds it (`Dockerfile` falls back to `dockerfile`). */
function readDockerfile(ctx: BuildContext, name: string): string {
  const tryRead = (n: string) => {
    try {
      return ctx.readFile(resolveInRoot(ctx.tree, n))?.toString('utf8');
    } catch {
      return undefined;
    }
  };
  let text = tryRead(name);
  if (text === undefined && name === 'Dockerfile') text = tryRead('dockerfile');
  // The client's context lacks it: its mistake (dockerd says so with a 500).
  if (text === undefined) throw invalidParameter(`Cannot locate specified Dockerfile: ${name}`);
  if (text.length === 0) throw invalidParameter(`the Dockerfile (${name}) cannot be empty`);
  return text;
}

export function createBuildService(o: BuildServiceOptions): BuildService {
  const tmpDir = path.join(o.dataRoot, 'build', 'tmp');
  fs.rmSync(tmpDir, { recursive: true, force: true }); // contexts and layers of builds a crash interrupted
  fs.mkdirSync(tmpDir, { recursive: true, mode: 0o700 });

  return {
    async build(body, opts, out, signal) {
      const refs = opts.tags.map((t) => {
        try {
          const r = parseReference(t);
          if (r.digest) throw new Error('digest');
          if (!r.tag) r.tag = DEFAULT_TAG;
          return r;
        } catch {
          throw invalidParameter(`invalid reference format: ${t}`);
        }
      });
      if (opts.platform) {
        const want = parsePlatform(opts.platform);
        const host = parsePlatform(undefined);
        if (want.os !== host.os || want.architecture !== host.architecture)
          throw invalidParameter(
            `platform ${opts.platform} is not supported: this engine builds for its host's platform (${host.os}/${host.architecture}) only`,
          );
      }
      const ctx = await receiveContext(body, path.join(tmpDir, `ctx-${crypto.randomBytes(6).toString('hex')}`));
      try {
        const dockerfileName = opts.dockerfile || 'Dockerfile';
        const text = readDockerfile(ctx, dockerfileName);
        let parsed: ReturnType<typeof parseDockerfile>;
        try {
          parsed = parseDockerfile(text);
        } catch (err: any) {
          throw invalidParameter(`failed to parse ${dockerfileName}: ${err.message}`);
        }
        if (parsed.syntax)
          log.info('build: the # syntax directive is ignored (no BuildKit frontends here)', { syntax: parsed.syntax });
        // The Dockerfile and .dockerignore leave the context when .dockerignore names them (the CLI sent them anyway).
        const ignoreFile = ctx.readFile('.dockerignore');
        if (ignoreFile) {
          const patterns = readDockerignore(ignoreFile.toString('utf8'));
          for (const f of ['.dockerignore', dockerfileName]) if (ignored(f, patterns)) ctx.remove(f);
        }
        const { metaArgs, stages } = parseStages(parsed.nodes);
        let selected = stages;
        if (opts.target) {
          const i = stages.findIndex((s) => s.name === opts.target.toLowerCase());
          if (i < 0) throw invalidParameter(`failed to reach build target ${opts.target} in Dockerfile`);
          selected = stages.slice(0, i + 1);
        }
        if (!selected.length) throw invalidParameter('No image was generated. Is your Dockerfile empty?');
        const last = selected[selected.length - 1];
        for (const key of Object.keys(opts.labels).sort()) {
          const code = `LABEL ${key}=${opts.labels[key]}`;
          last.commands.push({
            kind: 'label',
            code,
            line: 0,
            labels: [{ key, value: opts.labels[key] }],
            noExpand: true,
          });
        }
        if (parsed.warnings.length) out.stderr(`${parsed.warnings.join('\n')}\n`); // one write, as dockerd's PrintWarnings
        const deps: BuildDeps = {
          images: o.images,
          containers: o.containers,
          tmpDir,
          overlay: o.overlay,
          dockerVersion: o.dockerVersion,
          pull: (ref, platform, progress) => pullForBuild(ref, platform, progress, opts.auth),
        };
        const id = await new Build(deps, opts, out, ctx, parsed.escapeToken, signal).run(metaArgs, selected);
        out.stdout(`Successfully built ${id.replace(/^sha256:/, '').slice(0, 12)}\n`);
        for (const r of refs) {
          await o.images.tag(id, familiarString(r));
          out.stdout(`Successfully tagged ${familiarString(r)}\n`);
        }
        return { id };
      } finally {
        // Removed after the answer: nothing waits for it (a crash leaves it to the next start's cleanup).
        void ctx.close().catch(() => {});
      }
    },

    async prune() {
      return o.images.pruneCommitted();
    },

    async commit(container, opts) {
      const ref = targetRef(opts.repo, opts.tag);
      const c = o.containers.get(container);
      const id = await commitContainer(
        { images: o.images, containers: o.containers, dockerVersion: o.dockerVersion },
        container,
        opts,
      );
      if (ref) await o.images.tag(id, ref);
      o.events.publish('container', 'commit', c.id, {
        ...c.config.labels,
        comment: opts.comment ?? '',
        image: c.config.image,
        imageID: id,
        imageRef: ref ?? '',
        name: c.name,
      });
      return id;
    },

    async importImage(source, opts) {
      const ref = targetRef(opts.repo, opts.tag);
      const id = await importImage({ images: o.images, tmpDir, dockerVersion: o.dockerVersion }, source, opts);
      if (ref) await o.images.tag(id, ref);
      o.events.publish('image', 'import', id, {});
      return id;
    },
  };

  function pullForBuild(
    ref: string,
    platform: string | undefined,
    progress: (p: Progress) => void,
    auth: BuildOptions['auth'],
  ) {
    let creds: Credentials | undefined;
    try {
      creds = auth?.(parseReference(ref).domain);
    } catch {
      /* the pull reports a bad reference */
    }
    return o.images.pull(ref, { platform, progress, creds }).catch((err) => {
      if (isEngineError(err)) throw err;
      throw system(String(err?.message ?? err));
    });
  }
}
