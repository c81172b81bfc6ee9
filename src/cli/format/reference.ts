// Image references as docker prints them: repo, tag and digest apart, familiar names (no docker.io/library/).

/** Splits "repo[:tag][@digest]" (the tag's colon is after the last slash). */
export function splitReference(ref: string): { repo: string; tag?: string; digest?: string } {
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  const slash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  let tag: string | undefined;
  if (colon > slash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  return { repo: rest, tag, digest };
}

/** reference.FamiliarName: drops docker.io/ and library/ as docker prints names. */
export function familiarName(repo: string): string {
  let r = repo;
  if (r.startsWith('docker.io/')) r = r.slice('docker.io/'.length);
  else if (r.startsWith('index.docker.io/')) r = r.slice('index.docker.io/'.length);
  if (r !== repo && r.startsWith('library/') && r.split('/').length === 2) r = r.slice('library/'.length);
  return r;
}

/** Normalises a user-typed image reference the way docker does: busybox → docker.io/library/busybox:latest. */
export function normalizeReference(ref: string): { name: string; tag?: string; digest?: string; familiar: string } {
  const { repo, tag, digest } = splitReference(ref);
  const first = repo.split('/')[0];
  const hasDomain = repo.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  let name = hasDomain ? repo : `docker.io/${repo.includes('/') ? repo : `library/${repo}`}`;
  if (name.startsWith('index.docker.io/')) name = `docker.io/${name.slice('index.docker.io/'.length)}`;
  return { name, tag, digest, familiar: familiarName(name) };
}
