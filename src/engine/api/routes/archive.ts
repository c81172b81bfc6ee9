// /containers/{id}/archive: Docker's HTTP side of `docker cp` (HEAD stat, GET tar, PUT extract). The work and its
// confinement live in containers/archive/; here are only the query, the X-Docker-Container-Path-Stat header
// and the events.
import { queryBool } from '../../../common/docker';
import { pipeline } from 'node:stream/promises';
import type { EngineServices } from '../services';
import {
  archivePath,
  containerOwner,
  extractToDir,
  listPath,
  type DirListing,
  type PathStat,
  statPath,
  TAR_TRAILER,
} from '../../containers';
import { invalidParameter } from '../../errdefs';
import type { RequestContext, Router } from '../router';

/** Docker's header: the stat as base64 JSON (its ContainerPathStat field names). */
export function pathStatHeader(st: PathStat): string {
  return Buffer.from(
    JSON.stringify({ name: st.name, size: st.size, mode: st.mode, mtime: st.mtime, linkTarget: st.linkTarget }),
  ).toString('base64');
}

export function registerArchiveRoutes(router: Router, s: EngineServices): void {
  const pathOf = (ctx: RequestContext) => {
    const p = ctx.query.get('path');
    if (!p) throw invalidParameter('bad parameter: path cannot be empty');
    return p;
  };
  const event = (id: string, action: string) => {
    const c = s.containers.get(id);
    s.events.publish('container', action, c.id, { ...c.config.labels, image: c.config.image, name: c.name });
  };

  router.head('/containers/:id/archive', async (ctx) => {
    const p = pathOf(ctx);
    const cfs = await s.containers.openFs(ctx.params.id);
    let stat: PathStat;
    try {
      stat = statPath(cfs, p);
    } finally {
      await cfs.release();
    }
    ctx.send(200, undefined, { 'X-Docker-Container-Path-Stat': pathStatHeader(stat) });
  });

  router.get('/containers/:id/archive', async (ctx) => {
    const p = pathOf(ctx);
    const cfs = await s.containers.openFs(ctx.params.id);
    try {
      const { stat, stream } = archivePath(cfs, p);
      event(ctx.params.id, 'archive-path');
      const out = ctx.stream(200, {
        'Content-Type': 'application/x-tar',
        'X-Docker-Container-Path-Stat': pathStatHeader(stat),
      });
      ctx.closed.then(() => stream.destroy());
      // The archive's end goes out only once the container's file system is let go (a stopped one's mount is
      // gone): the docker CLI is done when it reads it.
      await pipeline(stream, out, { end: false });
      await cfs.release();
      out.end(TAR_TRAILER);
    } finally {
      await cfs.release();
    }
  });

  // Berth's own: one directory's entries as JSON (see containers/archive/list.ts). dockerd answers 404, and the
  // extension falls back to GET /archive.
  router.get('/containers/:id/files', async (ctx) => {
    const p = pathOf(ctx);
    const cfs = await s.containers.openFs(ctx.params.id);
    let listing: DirListing;
    try {
      listing = listPath(cfs, p);
    } finally {
      await cfs.release();
    }
    ctx.send(200, listing.entries, { 'X-Docker-Container-Path-Stat': pathStatHeader(listing.stat) });
  });

  router.put('/containers/:id/archive', async (ctx) => {
    const p = pathOf(ctx);
    const cfs = await s.containers.openFs(ctx.params.id);
    try {
      await extractToDir(cfs, p, ctx.body(), {
        noOverwriteDirNonDir: queryBool(ctx.query.get('noOverwriteDirNonDir')),
        // As moby's tarCopyOptions: a container without a User keeps the tar's owners even with copyUIDGID.
        owner: queryBool(ctx.query.get('copyUIDGID')) && cfs.user ? containerOwner(cfs) : undefined,
      });
    } finally {
      await cfs.release();
    }
    event(ctx.params.id, 'extract-to-dir');
    ctx.send(200);
  });
}
