// images' rows: ImageContext and imageRows (a row per tag, or per digest with --digests).
import type { ImageSummary } from '../../client';
import { goTimeString, humanDuration, humanSize, humanSizeWithPrecision } from '../../common/docker';
import { familiarName, normalizeReference, splitReference } from './reference';
import { FormatContext, truncateId } from './render';

export class ImageContext extends FormatContext {
  constructor(
    private i: ImageSummary,
    private repo: string,
    private tag: string,
    private digest: string,
    private trunc = true,
    private now = Date.now(),
  ) {
    super();
  }
  headers() {
    return {
      ID: 'IMAGE ID',
      Repository: 'REPOSITORY',
      Tag: 'TAG',
      Digest: 'DIGEST',
      CreatedSince: 'CREATED',
      CreatedAt: 'CREATED AT',
      Size: 'SIZE',
      Containers: 'CONTAINERS',
      VirtualSize: 'VIRTUAL SIZE',
      SharedSize: 'SHARED SIZE',
      UniqueSize: 'UNIQUE SIZE',
    };
  }
  jsonFields() {
    return [
      'Containers',
      'CreatedAt',
      'CreatedSince',
      'Digest',
      'ID',
      'Repository',
      'SharedSize',
      'Size',
      'Tag',
      'UniqueSize',
      'VirtualSize',
    ];
  }
  get ID() {
    return this.trunc ? truncateId(this.i.Id) : this.i.Id;
  }
  get Repository() {
    return this.repo;
  }
  get Tag() {
    return this.tag;
  }
  get Digest() {
    return this.digest;
  }
  get CreatedSince() {
    return this.i.Created > 0 ? `${humanDuration(this.now - this.i.Created * 1000)} ago` : 'N/A';
  }
  get CreatedAt() {
    return goTimeString(this.i.Created);
  }
  get Size() {
    return humanSizeWithPrecision(this.i.Size, 3);
  }
  get Containers() {
    return this.i.Containers === -1 || this.i.Containers === undefined ? 'N/A' : String(this.i.Containers);
  }
  get VirtualSize() {
    return humanSize(this.i.VirtualSize ?? this.i.Size);
  }
  get SharedSize() {
    return this.i.SharedSize === -1 || this.i.SharedSize === undefined ? 'N/A' : humanSize(this.i.SharedSize);
  }
  get UniqueSize() {
    return this.i.SharedSize === -1 || this.i.SharedSize === undefined
      ? 'N/A'
      : humanSize(this.i.Size - this.i.SharedSize);
  }
}

/** One row per repository:tag (and digest with --digests), like docker images. */
export function imageRows(images: ImageSummary[], opts: { digests: boolean; trunc: boolean }): ImageContext[] {
  const rows: ImageContext[] = [];
  for (const img of images) {
    const tags = (img.RepoTags ?? []).filter((t) => t !== '<none>:<none>');
    const digests = (img.RepoDigests ?? []).filter((d) => d !== '<none>@<none>');
    if (!tags.length && !digests.length) {
      rows.push(new ImageContext(img, '<none>', '<none>', '<none>', opts.trunc));
      continue;
    }
    const repoTags = new Map<string, string[]>();
    const repoDigests = new Map<string, string[]>();
    for (const t of tags) {
      const { repo, tag } = splitReference(t);
      if (!tag) continue;
      const name = familiarName(normalizeReference(repo).name);
      repoTags.set(name, [...(repoTags.get(name) ?? []), tag]);
    }
    for (const d of digests) {
      const { repo, digest } = splitReference(d);
      if (!digest) continue;
      const name = familiarName(normalizeReference(repo).name);
      repoDigests.set(name, [...(repoDigests.get(name) ?? []), digest]);
    }
    for (const [repo, ts] of repoTags) {
      const ds = opts.digests ? (repoDigests.get(repo) ?? []) : [];
      repoDigests.delete(repo);
      for (const tag of ts) {
        if (!ds.length) rows.push(new ImageContext(img, repo, tag, '<none>', opts.trunc));
        for (const d of ds) rows.push(new ImageContext(img, repo, tag, d, opts.trunc));
      }
    }
    for (const [repo, ds] of repoDigests) {
      if (opts.digests) for (const d of ds) rows.push(new ImageContext(img, repo, '<none>', d, opts.trunc));
      else rows.push(new ImageContext(img, repo, '<none>', '', opts.trunc));
    }
  }
  return rows;
}

export const DEFAULT_IMAGES_FORMAT = 'table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}';
export const DEFAULT_IMAGES_DIGESTS_FORMAT =
  'table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}';
