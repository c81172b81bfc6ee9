// `docker commit` (a container's writable layer and config as a new image, child of the container's image) and
// `docker import` (a root file system tar as a one-layer image), both with Dockerfile `--change` lines.
import type { Readable } from 'node:stream';
import type { ContainerRecord } from '../containers';
import { conflict } from '../errdefs';
import type { ImageConfig, ImageService } from '../images';
import { parsePlatform } from '../images';
import { decompressed } from '../snapshots';
import type { BuildDeps } from '.';
import { Build, nowRfc3339Nano } from './builder';
import { type RunConfig, runConfigJson, runConfigOf } from './runconfig';

export interface CommitOptions {
  repo?: string;
  tag?: string;
  comment?: string;
  author?: string;
  /** Dockerfile lines applied to the config (CMD, ENV, …). */
  changes: string[];
  /** Pause a running container while its layer is read (default on, as Docker). */
  pause: boolean;
  /** The request's config: replaces the container's as the base the changes apply to. */
  config?: Record<string, unknown>;
}

export interface ImportOptions {
  repo?: string;
  tag?: string;
  message?: string;
  changes: string[];
  platform?: string;
  /** What the image came from, for the default comment ("-" for the request body). */
  source: string;
}

/** A container's config as an image config's (Docker's container.Config). */
export function containerRunConfig(c: ContainerRecord): RunConfig {
  const cfg = c.config;
  const rc = runConfigOf({
    Hostname: cfg.hostname,
    Domainname: cfg.domainname,
    User: cfg.user,
    AttachStdin: cfg.attachStdin,
    AttachStdout: cfg.attachStdout,
    AttachStderr: cfg.attachStderr,
    ExposedPorts: Object.fromEntries((cfg.exposedPorts ?? []).map((p) => [p.includes('/') ? p : `${p}/tcp`, {}])),
    Tty: cfg.tty,
    OpenStdin: cfg.openStdin,
    StdinOnce: cfg.stdinOnce,
    Env: cfg.env,
    Cmd: cfg.cmd,
    Healthcheck: (cfg as any).healthcheck,
    Image: cfg.image,
    Volumes: cfg.volumes?.length ? Object.fromEntries(cfg.volumes.map((v) => [v, {}])) : null,
    WorkingDir: cfg.workingDir,
    Entrypoint: cfg.entrypoint,
    OnBuild: null,
    Labels: cfg.labels,
    StopSignal: cfg.stopSignal,
  });
  return rc;
}

/** moby's merge(): what the new config leaves empty comes from the container's. */
function merge(user: RunConfig, from: RunConfig): RunConfig {
  const out = runConfigOf(user as any);
  if (!out.User) out.User = from.User;
  if (!out.ExposedPorts || !Object.keys(out.ExposedPorts).length) out.ExposedPorts = from.ExposedPorts;
  else for (const p of Object.keys(from.ExposedPorts ?? {})) out.ExposedPorts[p] ??= {};
  if (!out.Env?.length) out.Env = from.Env;
  else
    for (const e of from.Env ?? []) {
      const key = e.split('=')[0];
      if (!out.Env.some((u) => u.split('=')[0] === key)) out.Env.push(e);
    }
  out.Labels ??= {};
  for (const [k, v] of Object.entries(from.Labels ?? {})) if (!(k in out.Labels)) out.Labels[k] = v;
  if (!out.Entrypoint?.length) {
    if (!out.Cmd?.length) out.Cmd = from.Cmd;
    if (out.Entrypoint === null) out.Entrypoint = from.Entrypoint;
  }
  if (from.Healthcheck) {
    if (!out.Healthcheck) out.Healthcheck = from.Healthcheck;
    else {
      const h = out.Healthcheck;
      if (!h.Test?.length) h.Test = from.Healthcheck.Test;
      h.Interval ||= from.Healthcheck.Interval;
      h.Timeout ||= from.Healthcheck.Timeout;
      h.StartPeriod ||= from.Healthcheck.StartPeriod;
      h.Retries ||= from.Healthcheck.Retries;
    }
  }
  if (!out.WorkingDir) out.WorkingDir = from.WorkingDir;
  if (!out.Volumes || !Object.keys(out.Volumes).length) out.Volumes = from.Volumes;
  else Object.assign(out.Volumes, from.Volumes ?? {});
  if (!out.StopSignal && from.StopSignal) out.StopSignal = from.StopSignal;
  return out;
}

function sorted(c: Record<string, unknown>): ImageConfig {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(c).sort()) if (c[k] !== undefined) out[k] = c[k];
  return out as ImageConfig;
}

export async function commitContainer(
  deps: { images: ImageService; containers: BuildDeps['containers']; dockerVersion: string },
  ref: string,
  o: CommitOptions,
): Promise<string> {
  const c = deps.containers.get(ref);
  if (c.state.status === 'dead') throw conflict(`You cannot commit container ${c.id} which is Dead`);
  if (c.state.status === 'removing') throw conflict(`You cannot commit container ${c.id} which is being removed`);
  const containerConfig = containerRunConfig(c);
  const base = o.config ? runConfigOf(o.config as any) : containerConfig;
  const newConfig = merge(await Build.applyChanges(base, o.changes), containerConfig);
  const image = await deps.images.get(c.imageId);
  const pause = o.pause && c.state.status === 'running';
  if (pause) await deps.containers.pause(c.id);
  let layer: Awaited<ReturnType<ImageService['addLayer']>>;
  try {
    layer = await deps.images.addLayer(image.chainIds[image.chainIds.length - 1], deps.containers.diff(c.id));
  } finally {
    if (pause) await deps.containers.unpause(c.id).catch(() => {});
  }
  const created = nowRfc3339Nano();
  const history: Record<string, unknown> = { created };
  if (o.author) history.author = o.author;
  const createdBy = (containerConfig.Cmd ?? []).join(' ');
  if (createdBy) history.created_by = createdBy;
  if (o.comment) history.comment = o.comment;
  if (layer.empty) history.empty_layer = true;
  const config = sorted({
    architecture: image.config.architecture,
    ...(image.config.variant ? { variant: image.config.variant } : {}),
    author: o.author || undefined,
    comment: o.comment || undefined,
    config: runConfigJson(newConfig),
    container: c.id,
    container_config: runConfigJson(containerConfig),
    created,
    docker_version: deps.dockerVersion,
    history: [...(image.config.history ?? []), history],
    os: image.config.os || 'linux',
    rootfs: { type: 'layers', diff_ids: [...image.config.rootfs.diff_ids, ...(layer.empty ? [] : [layer.diffId])] },
  });
  const layers = [...deps.images.record(image.id).layers, ...(layer.empty ? [] : [layer.descriptor])];
  const img = await deps.images.create(config, { parent: image.id, layers });
  return img.id;
}

export async function importImage(
  deps: { images: ImageService; tmpDir: string; dockerVersion: string },
  source: Readable,
  o: ImportOptions,
): Promise<string> {
  const platform = parsePlatform(o.platform);
  const config = await Build.applyChanges(runConfigOf(undefined), o.changes);
  const plain = await decompressed(source);
  const layer = await deps.images.addLayer(undefined, plain);
  const created = nowRfc3339Nano();
  const comment = o.message || `Imported from ${o.source}`;
  const imageConfig = sorted({
    architecture: platform.architecture,
    ...(platform.variant ? { variant: platform.variant } : {}),
    comment,
    config: runConfigJson(config),
    created,
    docker_version: deps.dockerVersion,
    history: [{ created, comment }],
    os: platform.os,
    rootfs: { type: 'layers', diff_ids: [layer.diffId] },
  });
  const img = await deps.images.create(imageConfig, { layers: [layer.descriptor] });
  return img.id;
}
