// One build, as dockerd's classic builder runs it (builder/dockerfile): stages in order, each instruction a
// step that prints `Step n/m : …`, probes the cache (a child image of the current one whose container config
// matches this step's), and otherwise commits a new image: RUN in a container of the current image (its
// writable layer becomes the layer), COPY/ADD/WORKDIR straight into a new layer, everything else a config-only
// image. Every step's image is a real image (`docker run <id>` works on any of them) whose parent is the previous
// step's: that chain is the cache, and `docker rmi` of the result takes its untagged ancestors along.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EngineError, invalidParameter, isEngineError, system } from '../errdefs';
import type { Image, ImageConfig, NewLayer } from '../images';
import { parsePlatform, platformString } from '../images';
import { signalNumber } from '../runtime';
import type { BuildContext } from './context';
import { nodeFromLine, parseDockerfile } from './dockerfile';
import { type ArgPair, type Instruction, parseInstruction, type Stage } from './instructions';
import { envMap, processWord, processWords } from './lex';
import {
  copyRunConfig,
  DEFAULT_PATH_ENV,
  goQuoteHealth,
  goQuoteSlice,
  goSlice,
  type RunConfig,
  runConfigJson,
  runConfigOf,
  sortedConfig,
  shellOf,
  withCmdComment,
  withCmdCommentString,
} from './runconfig';
import { hashStrings, SourceNotFound } from './sources';
import type { BuildDeps, BuildOptions, BuildOutput } from '.';
import { Workspace } from './workspace';
import { cacheFromImages, localCache } from './cache';
import { runStepContainer, stepContainer } from './run';
import {
  type CopyInfo,
  copyInfos,
  copyOne,
  download,
  FinalError,
  heredocMarker,
  lookupChown,
  normalizeDest,
} from './copy';

const BUILTIN_ARGS = new Set([
  'HTTP_PROXY',
  'http_proxy',
  'HTTPS_PROXY',
  'https_proxy',
  'FTP_PROXY',
  'ftp_proxy',
  'NO_PROXY',
  'no_proxy',
]);

const shortId = (id: string) => id.replace(/^sha256:/, '').slice(0, 12);

const NO_OPTIONS: BuildOptions = {
  dockerfile: '',
  tags: [],
  buildArgs: {},
  target: '',
  labels: {},
  noCache: true,
  pull: false,
  remove: true,
  forceRemove: false,
  networkMode: '',
  extraHosts: [],
  cacheFrom: [],
};

function parseDockerfileOrThrow(text: string) {
  try {
    return parseDockerfile(text);
  } catch (err) {
    throw invalidParameter((err as Error).message);
  }
}

/** A failed RUN: dockerd's JSONError with the command's exit code. */
export class StepFailed extends EngineError {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super('System', message);
  }
}

/** Go's time.RFC3339Nano of now. */
export function nowRfc3339Nano(): string {
  const ns = process.hrtime.bigint();
  const ms = Date.now();
  const frac = String((BigInt(ms % 1000) * 1_000_000n + (ns % 1_000_000n)) % 1_000_000_000n).padStart(9, '0');
  return `${new Date(ms).toISOString().slice(0, 19)}.${frac.replace(/0+$/, '') || '0'}Z`.replace('.0Z', 'Z');
}

/** Build args: the Dockerfile's ARGs, their defaults and the request's values (moby's BuildArgs). */
class BuildArgs {
  allowed = new Map<string, string | undefined>();
  meta = new Map<string, string | undefined>();
  referenced = new Set<string>();
  constructor(readonly fromOptions: Record<string, string | null>) {}
  clone(): BuildArgs {
    const b = new BuildArgs(this.fromOptions);
    b.allowed = new Map(this.allowed);
    b.meta = new Map(this.meta);
    b.referenced = new Set(this.referenced);
    return b;
  }
  addArg(key: string, value: string | undefined) {
    this.allowed.set(key, value);
    this.referenced.add(key);
  }
  private get(key: string, source: Map<string, string | undefined>): string | undefined {
    const opt = this.fromOptions[key];
    if (opt !== undefined && opt !== null) return opt;
    const dflt = source.get(key);
    if (dflt === undefined) return this.meta.get(key);
    return dflt;
  }
  private all(source: Map<string, string | undefined>): Map<string, string> {
    const m = new Map<string, string>();
    for (const key of [...source.keys(), ...BUILTIN_ARGS]) {
      if (!source.has(key) && !BUILTIN_ARGS.has(key)) continue;
      const builtinOnly = !source.has(key);
      const v = builtinOnly ? (this.fromOptions[key] ?? undefined) : this.get(key, source);
      if (v !== undefined && v !== null) m.set(key, v);
    }
    return m;
  }
  allAllowed(): Map<string, string> {
    return this.all(this.allowed);
  }
  allMeta(): Map<string, string> {
    return this.all(this.meta);
  }
  /** `K=V` for every allowed arg the config's env does not set. */
  filterAllowed(env: string[] | null): string[] {
    const set = envMap(env ?? []);
    const out: string[] = [];
    for (const [k, v] of this.allAllowed()) if (!set.has(k)) out.push(`${k}=${v}`);
    return out;
  }
  referencedOrNotBuiltin(key: string): boolean {
    return this.allowed.has(key) || !BUILTIN_ARGS.has(key);
  }
}

interface StageState {
  runConfig: RunConfig;
  imageId: string;
  /** The stage's base image (undefined: FROM scratch). */
  base?: Image;
  scratch: boolean;
  maintainer: string;
  cmdSet: boolean;
  stageName: string;
  args: BuildArgs;
  os: string;
  architecture: string;
  variant?: string;
}

interface StageResult {
  imageId: string;
  runConfig: RunConfig;
}

/** What `commit --change` and `import --change` accept (moby's validCommitCommands). */
const CHANGE_COMMANDS = new Set([
  'cmd',
  'entrypoint',
  'healthcheck',
  'env',
  'expose',
  'label',
  'onbuild',
  'user',
  'volume',
  'workdir',
]);

export class Build {
  /** Only the config changes (commit/import `--change`): no images, no containers. */
  private disableCommit = false;
  private cacheBusted = false;
  private tmpContainers = new Set<string>();
  private stages: StageResult[] = [];
  private stageNames = new Map<string, StageResult>();

  constructor(
    private readonly deps: BuildDeps,
    private readonly opts: BuildOptions,
    private readonly out: BuildOutput,
    private readonly context: BuildContext,
    private readonly escapeToken: string,
    private readonly signal: AbortSignal,
  ) {}

  /** BuildFromConfig: `changes` (Dockerfile lines) applied to a config, as `docker commit/import --change` do. */
  static async applyChanges(config: RunConfig, changes: string[]): Promise<RunConfig> {
    const rc = copyRunConfig(config);
    if (!changes.length) return rc;
    const parsed = parseDockerfileOrThrow(changes.join('\n'));
    const instructions: Instruction[] = [];
    for (const node of parsed.nodes) {
      if (!CHANGE_COMMANDS.has(node.cmd)) throw invalidParameter(`${node.cmd} is not a valid change command`);
      try {
        instructions.push(parseInstruction(node));
      } catch (err) {
        throw invalidParameter((err as Error).message);
      }
    }
    const noop = () => {};
    const build = new Build(
      undefined as unknown as BuildDeps,
      { ...NO_OPTIONS },
      { stdout: noop, stderr: noop, aux: noop, progress: noop },
      undefined as unknown as BuildContext,
      parsed.escapeToken,
      new AbortController().signal,
    );
    build.disableCommit = true;
    const state: StageState = {
      runConfig: rc,
      imageId: rc.Image,
      scratch: true,
      maintainer: '',
      cmdSet: false,
      stageName: '',
      args: new BuildArgs({}),
      os: 'linux',
      architecture: '',
    };
    for (const ins of instructions) await build.dispatch(state, ins);
    return state.runConfig;
  }

  private print(text: string) {
    this.out.stdout(text);
  }

  async run(metaArgs: Instruction[], stages: Stage[]): Promise<string> {
    const args = new BuildArgs(this.opts.buildArgs);
    let total = metaArgs.length + stages.length;
    for (const s of stages) total += s.commands.length;
    let step = 1;
    // Two writes, as dockerd's printCommand (Fprintf, then Fprintln): two stream messages.
    const printStep = (code: string) => {
      this.print(`Step ${step++}/${total} : ${code}`);
      this.print('\n');
    };
    for (const a of metaArgs) {
      printStep(a.code);
      if (a.kind !== 'arg') continue;
      const env = [...args.allAllowed()].map(([k, v]) => `${k}=${v}`);
      for (const p of a.args) {
        const key = processWord(p.key, envMap(env), this.escapeToken);
        const value = p.value === undefined ? undefined : processWord(p.value, envMap(env), this.escapeToken);
        args.addArg(key, value);
        args.meta.set(key, value);
      }
    }
    let state: StageState | undefined;
    for (const stage of stages) {
      if (stage.name && this.stageNames.has(stage.name))
        throw invalidParameter(`${stage.name} stage name already used`);
      const stageArgs = args.clone();
      stageArgs.allowed = new Map();
      printStep(stage.code);
      state = await this.beginStage(stage, stageArgs);
      state.runConfig.Image = state.imageId;
      this.print(` ---> ${shortId(state.imageId)}\n`);
      for (const ins of stage.commands) {
        this.checkCancelled();
        printStep(ins.code);
        await this.dispatchWithCleanup(state, ins);
        state.runConfig.Image = state.imageId;
        this.print(` ---> ${shortId(state.imageId)}\n`);
      }
      if (state.imageId) this.out.aux(state.imageId);
      for (const k of state.args.referenced) args.referenced.add(k);
      const result = { imageId: state.imageId, runConfig: state.runConfig };
      if (state.stageName) this.stageNames.set(state.stageName, result);
      this.stages.push(result);
    }
    const unused = Object.keys(this.opts.buildArgs)
      .filter((k) => !args.referenced.has(k) && !BUILTIN_ARGS.has(k))
      .sort();
    if (unused.length) this.print(`[Warning] One or more build-args [${unused.join(' ')}] were not consumed\n`);
    if (!state?.imageId) throw system('No image was generated. Is your Dockerfile empty?');
    return state.imageId;
  }

  private checkCancelled() {
    if (this.signal.aborted) {
      this.print('Build cancelled\n');
      throw system('Build cancelled');
    }
  }

  // ---------- stages ----------

  private async beginStage(stage: Stage, args: BuildArgs): Promise<StageState> {
    this.cacheBusted = false;
    const meta = args.allMeta();
    let platform: string | undefined;
    if (stage.platform) {
      platform = processWord(stage.platform, meta, this.escapeToken);
      this.checkPlatform(platform);
    }
    const name = processWord(stage.baseName, meta, this.escapeToken);
    if (!name) throw invalidParameter(`base name (${stage.baseName}) should not be blank`);
    const state: StageState = {
      runConfig: runConfigOf(undefined),
      imageId: '',
      scratch: false,
      maintainer: '',
      cmdSet: false,
      stageName: stage.name,
      args,
      os: 'linux',
      architecture: parsePlatform(undefined).architecture,
      variant: parsePlatform(undefined).variant,
    };
    const previous = this.stageNames.get(name.toLowerCase());
    let image: Image | undefined;
    if (previous) {
      if (previous.imageId) image = await this.deps.images.get(previous.imageId);
    } else if (name !== 'scratch') {
      image = await this.fromImage(name, platform);
    }
    if (image) {
      state.base = image;
      state.imageId = image.id;
      state.runConfig = runConfigOf(image.config.config);
      state.os = image.config.os || 'linux';
      state.architecture = image.config.architecture || state.architecture;
      state.variant = image.config.variant;
    } else state.scratch = true;
    const env = state.runConfig.Env ?? [];
    if (!env.some((e) => e.split('=')[0] === 'PATH')) state.runConfig.Env = [...env, DEFAULT_PATH_ENV];
    state.runConfig.OpenStdin = false;
    state.runConfig.StdinOnce = false;
    const triggers = state.runConfig.OnBuild;
    if (triggers?.length) {
      state.runConfig.OnBuild = null;
      // Three writes (three stream messages), as dockerd prints it.
      this.print(`# Executing ${triggers.length} build trigger`);
      if (triggers.length > 1) this.print('s');
      this.print('\n');
      for (const t of triggers) {
        state.runConfig.Image = state.imageId;
        let ins: Instruction;
        try {
          ins = parseInstruction(nodeFromLine(t, 0, this.escapeToken));
        } catch (err) {
          throw invalidParameter((err as Error).message);
        }
        await this.dispatchWithCleanup(state, ins);
      }
    }
    return state;
  }

  private checkPlatform(p: string) {
    const want = parsePlatform(p);
    const host = parsePlatform(undefined);
    if (
      want.os !== host.os ||
      want.architecture !== host.architecture ||
      (want.variant && want.variant !== host.variant)
    )
      throw invalidParameter(
        `platform ${platformString(want)} is not supported: this engine builds for its host's platform (${platformString(host)}) only`,
      );
  }

  /** The FROM image: the local one, pulled when absent (always with `pull`). */
  private async fromImage(name: string, platform?: string): Promise<Image> {
    if (!this.opts.pull) {
      try {
        return await this.deps.images.get(name);
      } catch (err) {
        if (!isEngineError(err, 'NotFound')) throw err;
      }
    }
    return this.deps.pull(name, platform ?? this.opts.platform, (p) => this.out.progress(p));
  }

  // ---------- dispatch ----------

  private async dispatchWithCleanup(state: StageState, ins: Instruction) {
    let ok = false;
    try {
      await this.dispatch(state, ins);
      ok = true;
    } finally {
      if (this.opts.forceRemove || (this.opts.remove && ok)) await this.removeContainers();
    }
  }

  private async removeContainers() {
    for (const id of [...this.tmpContainers]) {
      try {
        if (!id.startsWith('meta:')) await this.deps.containers.remove(id, { force: true, volumes: true });
      } catch (err: any) {
        this.print(`Error removing intermediate container ${shortId(id)}: ${err.message}\n`);
        return;
      }
      this.tmpContainers.delete(id);
      this.print(`Removing intermediate container ${shortId(id.replace(/^meta:/, ''))}\n`);
    }
  }

  private async dispatch(state: StageState, ins: Instruction): Promise<void> {
    const rc = state.runConfig;
    const envs = [...(rc.Env ?? []), ...state.args.filterAllowed(rc.Env)];
    const env = envMap(envs);
    const word = (w: string) => processWord(w, env, this.escapeToken);
    try {
      switch (ins.kind) {
        case 'env': {
          let msg = 'ENV';
          for (const kv of ins.env) {
            const key = word(kv.key);
            const value = word(kv.value);
            msg += ` ${key}=${value}`;
            const list = rc.Env ?? [];
            const i = list.findIndex((e) => e.split('=')[0] === key);
            if (i >= 0) list[i] = `${key}=${value}`;
            else list.push(`${key}=${value}`);
            rc.Env = list;
          }
          return await this.commit(state, msg);
        }
        case 'maintainer':
          state.maintainer = ins.maintainer;
          return await this.commit(state, `MAINTAINER ${ins.maintainer}`);
        case 'label': {
          rc.Labels ??= {};
          let msg = 'LABEL';
          for (const kv of ins.labels) {
            const key = ins.noExpand ? kv.key : word(kv.key);
            const value = ins.noExpand ? kv.value : word(kv.value);
            rc.Labels[key] = value;
            msg += ` ${key}=${value}`;
          }
          return await this.commit(state, msg);
        }
        case 'copy':
        case 'add':
          return await this.copy(state, ins, word);
        case 'onbuild':
          rc.OnBuild = [...(rc.OnBuild ?? []), ins.expression];
          return await this.commit(state, `ONBUILD ${ins.expression}`);
        case 'workdir':
          return await this.workdir(state, word(ins.path));
        case 'run':
          return await this.runStep(state, ins);
        case 'cmd': {
          const cmd = ins.prependShell && ins.cmdLine ? [...shellOf(rc), ...ins.cmdLine] : (ins.cmdLine ?? []);
          rc.Cmd = cmd;
          await this.commit(state, `CMD ${goQuoteSlice(cmd)}`);
          if (ins.cmdLine?.length) state.cmdSet = true;
          return;
        }
        case 'healthcheck': {
          const old = rc.Healthcheck?.Test;
          if (old?.length && old[0] !== 'NONE') this.print(`Note: overriding previous HEALTHCHECK: ${goSlice(old)}\n`);
          rc.Healthcheck = ins.health;
          return await this.commit(state, `HEALTHCHECK ${goQuoteHealth(ins.health)}`);
        }
        case 'entrypoint': {
          rc.Entrypoint = ins.cmdLine && ins.prependShell ? [...shellOf(rc), ...ins.cmdLine] : ins.cmdLine;
          if (!state.cmdSet) rc.Cmd = null;
          return await this.commit(state, `ENTRYPOINT ${goQuoteSlice(rc.Entrypoint)}`);
        }
        case 'expose': {
          const ports: string[] = [];
          for (const p of ins.ports) ports.push(...processWords(p, env, this.escapeToken));
          rc.ExposedPorts ??= {};
          for (const p of parsePortSpecs(ports)) rc.ExposedPorts[p] = {};
          return await this.commit(state, `EXPOSE ${ports.join(' ')}`);
        }
        case 'user':
          rc.User = word(ins.user);
          return await this.commit(state, `USER ${rc.User}`);
        case 'volume': {
          const vols = ins.volumes.map(word);
          rc.Volumes ??= {};
          for (const v of vols) {
            if (!v) throw new Error('VOLUME specified can not be an empty string');
            rc.Volumes[v] = {};
          }
          return await this.commit(state, `VOLUME ${goSlice(vols)}`);
        }
        case 'stopsignal': {
          const sig = word(ins.signal);
          try {
            signalNumber(sig);
          } catch {
            throw invalidParameter(`Invalid signal: ${sig}`);
          }
          rc.StopSignal = sig;
          return await this.commit(state, `STOPSIGNAL ${sig}`);
        }
        case 'arg': {
          const parts: string[] = [];
          for (const p of ins.args as ArgPair[]) {
            const key = word(p.key);
            const value = p.value === undefined ? undefined : word(p.value);
            parts.push(value === undefined ? key : `${key}=${value}`);
            state.args.addArg(key, value);
          }
          return await this.commit(state, `ARG ${parts.join(' ')}`);
        }
        case 'shell':
          rc.Shell = [...ins.shell];
          return await this.commit(state, `SHELL ${goSlice(rc.Shell)}`);
      }
    } catch (err) {
      if (err instanceof EngineError) throw err;
      throw invalidParameter((err as Error).message);
    }
  }

  // ---------- cache ----------

  /** The newest child of the current image whose container config matches (image/cache's GetCache). */
  private async probe(state: StageState, containerConfig: RunConfig): Promise<boolean> {
    if (this.opts.noCache || this.cacheBusted) return false;
    let hit = await localCache(this.deps.images, state.imageId, containerConfig);
    if (!hit && this.opts.cacheFrom.length)
      hit = await cacheFromImages(this.deps, this.opts.cacheFrom, state.imageId, containerConfig);
    if (!hit) {
      this.cacheBusted = true;
      return false;
    }
    this.print(' ---> Using cache\n');
    state.imageId = hit;
    return true;
  }

  // ---------- commits ----------

  /** A config-only step (ENV, LABEL, CMD…): the cache, or a new image with an empty layer. */
  private async commit(state: StageState, comment: string): Promise<void> {
    if (this.disableCommit) return;
    if (!state.imageId && !state.scratch) throw new Error('Please provide a source image with `from` prior to commit');
    const cc = withCmdComment(state.runConfig, comment);
    if (await this.probe(state, cc)) return;
    // dockerd makes a container (never started) for these steps; nothing runs in it and its layer is empty, so
    // no container is made here: the step gets an ID of its own for the same output.
    const id = this.fakeContainer();
    await this.commitImage(state, cc, id, undefined);
  }

  private fakeContainer(): string {
    const id = crypto.randomBytes(32).toString('hex');
    this.print(` ---> Running in ${shortId(id)}\n`);
    this.tmpContainers.add(`meta:${id}`);
    return id;
  }

  /** The new image: the stage's config, this step's container config and history entry, the layer if any. */
  private async commitImage(
    state: StageState,
    containerConfig: RunConfig,
    containerId: string,
    layer: NewLayer | undefined,
  ): Promise<void> {
    const parent = state.imageId ? await this.deps.images.get(state.imageId) : undefined;
    const parentRecord = parent ? this.deps.images.record(parent.id) : undefined;
    const created = nowRfc3339Nano();
    const empty = !layer || layer.empty;
    const historyEntry: Record<string, unknown> = { created };
    if (state.maintainer) historyEntry.author = state.maintainer;
    historyEntry.created_by = (containerConfig.Cmd ?? []).join(' ');
    if (empty) historyEntry.empty_layer = true;
    const cc = copyRunConfig(containerConfig, (c) => {
      c.Image = state.imageId;
      if (containerId) c.Hostname = containerId.slice(0, 12);
    });
    const config: ImageConfig = {
      architecture: state.architecture,
      ...(state.variant ? { variant: state.variant } : {}),
      ...(state.maintainer ? { author: state.maintainer } : {}),
      config: runConfigJson(copyRunConfig(state.runConfig, (c) => (c.Image = state.imageId))) as any,
      ...(containerId ? { container: containerId } : {}),
      container_config: runConfigJson(cc),
      created,
      docker_version: this.deps.dockerVersion,
      history: [...(parent?.config.history ?? []), historyEntry as any],
      os: state.os,
      rootfs: {
        type: 'layers',
        diff_ids: [...(parent?.config.rootfs.diff_ids ?? []), ...(empty ? [] : [layer!.diffId])],
      },
    };
    const layers = [...(parentRecord?.layers ?? []), ...(empty ? [] : [layer!.descriptor])];
    const img = await this.deps.images.create(sortedConfig(config), { parent: state.imageId || undefined, layers });
    state.imageId = img.id;
  }

  // ---------- WORKDIR ----------

  private async workdir(state: StageState, requested: string): Promise<void> {
    const rc = state.runConfig;
    if (!requested) throw new Error('cannot normalize nothing');
    rc.WorkingDir = requested.startsWith('/') ? requested : path.posix.join('/', rc.WorkingDir || '/', requested);
    if (rc.WorkingDir.length > 1) rc.WorkingDir = path.posix.normalize(rc.WorkingDir).replace(/\/$/, '') || '/';
    if (this.disableCommit) return;
    const cc = withCmdCommentString(rc, `WORKDIR ${rc.WorkingDir}`);
    if (await this.probe(state, cc)) return;
    const id = this.fakeContainer();
    const layer = await this.inWorkspace(state, async (ws) => {
      const r = ws.resolve(rc.WorkingDir);
      if (r.exists && !r.dir) throw new Error(`Cannot mkdir: ${rc.WorkingDir} is not a directory`);
      if (!r.exists) await ws.mkdirAll(rc.WorkingDir, { uid: 0, gid: 0 });
    });
    await this.commitImage(state, cc, id, layer);
  }

  /** Runs `fn` on a writable layer over the current image and stores what it wrote as a layer. */
  private async inWorkspace(state: StageState, fn: (ws: Workspace) => Promise<void>): Promise<NewLayer> {
    const image = state.imageId ? await this.deps.images.get(state.imageId) : undefined;
    const ws = await Workspace.open(
      this.deps.tmpDir,
      image ? this.deps.images.layerDirs(image) : [],
      this.deps.overlay,
    );
    try {
      await fn(ws);
      const tar = await ws.layer();
      return await this.deps.images.addLayer(image?.chainIds[image.chainIds.length - 1], tar);
    } finally {
      await ws.close();
    }
  }

  // ---------- RUN ----------

  private async runStep(state: StageState, ins: Extract<Instruction, { kind: 'run' }>): Promise<void> {
    if (ins.flagsUsed.length)
      throw new Error(
        `the --${ins.flagsUsed[0]} option requires BuildKit. Refer to https://docs.docker.com/go/buildkit/ to learn how to build images with BuildKit enabled`,
      );
    if (!state.imageId) throw new Error('Please provide a source image with `from` prior to run');
    const rc = state.runConfig;
    let cmdLine = ins.cmdLine;
    if (ins.heredocs.length && ins.prependShell) cmdLine = [heredocScript(cmdLine.join(' '), ins.heredocs)];
    const cmd = ins.prependShell ? [...shellOf(rc), ...cmdLine] : cmdLine;
    const buildArgs = state.args.filterAllowed(rc.Env);
    let saveCmd = cmd;
    if (buildArgs.length) {
      const kept = buildArgs.filter((e) => state.args.referencedOrNotBuiltin(e.split('=')[0])).sort();
      saveCmd = [`|${kept.length}`, ...kept, ...cmd];
    }
    const probeConfig = copyRunConfig(rc, (c) => {
      c.Cmd = saveCmd;
      if (saveCmd.length) c.Entrypoint = null;
    });
    if (await this.probe(state, probeConfig)) return;
    const runEnv = [...(rc.Env ?? []), ...buildArgs];
    const { id } = await this.deps.containers.create(stepContainer(state.imageId, rc, cmd, runEnv, this.opts));
    this.tmpContainers.add(id);
    this.print(` ---> Running in ${shortId(id)}\n`);
    const code = await runStepContainer(this.deps.containers, id, this.out, this.signal);
    this.checkCancelled();
    if (code !== 0) {
      const msg = `The command '${cmd.join(' ')}' returned a non-zero code: ${code}`;
      throw new StepFailed(msg, code);
    }
    const image = await this.deps.images.get(state.imageId);
    const layer = await this.deps.images.addLayer(
      image.chainIds[image.chainIds.length - 1],
      this.deps.containers.diff(id),
    );
    await this.commitImage(state, probeConfig, id, layer);
  }

  // ---------- COPY / ADD ----------

  private async copy(
    state: StageState,
    ins: Extract<Instruction, { kind: 'copy' | 'add' }>,
    word: (w: string) => string,
  ): Promise<void> {
    const name = ins.kind.toUpperCase();
    const chown = word(ins.chown);
    const chmod = ins.chmod ? word(ins.chmod) : '';
    let mode: number | undefined;
    if (chmod) {
      if (!/^[0-7]{1,4}$/.test(chmod)) throw new Error(`invalid chmod parameter: ${chmod}`);
      mode = parseInt(chmod, 8);
    }
    const dest = word(ins.dest);
    const heredocNames = new Map(ins.heredocs.map((h) => [h.name, h]));
    // Sources: the context, or another stage or image (--from).
    let fromRoot: { root: string; image: Image; ws: Workspace } | undefined;
    let infos: CopyInfo[];
    // dockerd's wording: "COPY failed: …" while gathering the sources, "failed to copy files: …" while copying.
    let phase: 'sources' | 'copy' = 'sources';
    try {
      if (ins.from) {
        const from = word(ins.from);
        let image: Image;
        const byName = this.stageNames.get(from.toLowerCase());
        const byIndex = /^\d+$/.test(from) ? Number(from) : undefined;
        if (byName) image = await this.deps.images.get(byName.imageId);
        else if (byIndex !== undefined) {
          if (byIndex === this.stages.length)
            throw new Error(`invalid from flag value ${from}: refers to current build stage`);
          if (byIndex > this.stages.length) throw new Error(`invalid from flag value ${from}: index out of bounds`);
          image = await this.deps.images.get(this.stages[byIndex].imageId);
        } else image = await this.fromImage(from);
        const ws = await Workspace.open(this.deps.tmpDir, this.deps.images.layerDirs(image), this.deps.overlay);
        fromRoot = { root: ws.root, image, ws };
      }
      infos = [];
      for (const raw of ins.sources) {
        const heredoc = heredocMarker(raw, heredocNames);
        if (heredoc) {
          const content = heredoc.expand ? word(heredoc.content) : heredoc.content;
          infos.push({
            kind: 'bytes',
            name: heredoc.name,
            data: Buffer.from(content),
            hash: hashStrings('heredoc', [content]),
          });
          continue;
        }
        const src = word(raw);
        if (/^https?:\/\//.test(src)) {
          if (ins.kind === 'copy') throw new Error("source can't be a URL for COPY");
          infos.push(await download(this.deps.tmpDir, this.signal, src, dest));
          continue;
        }
        infos.push(...copyInfos(this.context, src, fromRoot?.root));
      }
      if (!infos.length) throw new Error('no source files were specified');
      if (infos.length > 1 && !dest.endsWith('/'))
        throw new FinalError(
          `When using ${name} with more than one source file, the destination must be a directory and end with a /`,
        );
      const srcHash =
        infos.length === 1
          ? infos[0].hash
          : hashStrings(
              'multi',
              infos.map((i) => i.hash),
            );
      const chownComment = chown ? `--chown=${chown}` : '';
      const chmodComment = chmod ? `--chmod=${chmod} ` : '';
      const cc = withCmdCommentString(state.runConfig, `${name} ${chmodComment}${chownComment}${srcHash} in ${dest} `);
      if (await this.probe(state, cc)) return;
      phase = 'copy';
      const layer = await this.inWorkspace(state, async (ws) => {
        let owner = { uid: 0, gid: 0 };
        if (chown) owner = lookupChown(ws, chown);
        const preserve = !!ins.from && !chown;
        const destAbs = normalizeDest(state.runConfig.WorkingDir, dest);
        for (const info of infos)
          await copyOne(
            this.context,
            ws,
            info,
            destAbs,
            { owner: preserve ? undefined : owner, mode },
            ins.kind === 'add',
          );
      });
      await this.commitImage(state, cc, '', layer);
    } catch (err) {
      if (err instanceof EngineError && !(err instanceof FinalError)) throw err;
      const message = (err as Error).message;
      if (err instanceof FinalError) throw invalidParameter(message);
      if (err instanceof SourceNotFound && !fromRoot)
        throw invalidParameter(
          `${name} failed: file not found in build context or excluded by .dockerignore: ${message}`,
        );
      throw invalidParameter(phase === 'sources' ? `${name} failed: ${message}` : `failed to copy files: ${message}`);
    } finally {
      for (const i of infos! ?? [])
        if (i.kind === 'path' && i.cleanup) await fs.promises.rm(i.cleanup, { recursive: true, force: true });
      await fromRoot?.ws.close();
    }
  }
}

/** BuildKit's shell-form heredoc RUN: `RUN <<EOF` runs the document; otherwise the documents follow the line. */
function heredocScript(line: string, heredocs: { name: string; content: string }[]): string {
  if (heredocs.length === 1 && /^\s*<<-?(["']?)[^\s"'<]+\1\s*$/.test(line)) return heredocs[0].content;
  let script = line;
  for (const h of heredocs) script += `\n${h.content}${h.name}`;
  return `${script}\n`;
}

/** nat.ParsePortSpecs for EXPOSE: `80`, `80/udp`, `8000-8002/tcp`. */
function parsePortSpecs(ports: string[]): string[] {
  const out: string[] = [];
  for (const raw of ports) {
    const [spec, proto = 'tcp'] = raw.split('/');
    if (raw.includes(':')) throw new Error(`Invalid containerPort: ${raw}`);
    const m = /^(\d+)(?:-(\d+))?$/.exec(spec);
    if (!m) throw new Error(`Invalid containerPort: ${spec}`);
    const lo = Number(m[1]);
    const hi = m[2] ? Number(m[2]) : lo;
    if (hi < lo || hi > 65535) throw new Error(`Invalid containerPort: ${spec}`);
    if (!['tcp', 'udp', 'sctp'].includes(proto.toLowerCase())) throw new Error(`invalid proto: ${proto}`);
    for (let p = lo; p <= hi; p++) out.push(`${p}/${proto.toLowerCase()}`);
  }
  return out;
}
