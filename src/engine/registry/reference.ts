// Image references parsed and normalized as Docker does (distribution/reference): `busybox` →
// docker.io/library/busybox:latest; `host:port/ns/repo:tag`, `name@sha256:…`.
import { invalidParameter } from '../errdefs';

export const DEFAULT_DOMAIN = 'docker.io';
export const DEFAULT_TAG = 'latest';

export interface Reference {
  /** Registry host[:port]; docker.io for Docker Hub. */
  domain: string;
  /** Repository path in the registry, e.g. library/busybox. */
  path: string;
  tag?: string;
  digest?: string;
}

const alnum = '[a-z0-9]+';
const separator = '(?:[._]|__|[-]+)';
const pathComponent = `${alnum}(?:${separator}${alnum})*`;
const domainComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const ipv6 = '\\[(?:[a-fA-F0-9:]+)\\]';
const domainRe = `(?:${domainComponent}(?:\\.${domainComponent})*|${ipv6})(?::[0-9]+)?`;
const tagRe = '[\\w][\\w.-]{0,127}';
const digestRe = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';
const nameRe = `(?:${domainRe}/)?${pathComponent}(?:/${pathComponent})*`;
const referenceRe = new RegExp(`^(${nameRe})(?::(${tagRe}))?(?:@(${digestRe}))?$`);
const anchoredDomain = new RegExp(`^${domainRe}$`);
const anchoredPath = new RegExp(`^${pathComponent}(?:/${pathComponent})*$`);
const sha256Re = /^sha256:[0-9a-f]{64}$/;
const NAME_TOTAL_LENGTH_MAX = 255;

export const INVALID_REFERENCE = 'invalid reference format';

/** Parses and normalizes a reference; throws InvalidParameter with Docker's messages. */
export function parseReference(input: string): Reference {
  if (/^[a-f0-9]{64}$/.test(input)) {
    throw invalidParameter(`invalid repository name (${input}), cannot specify 64-byte hexadecimal strings`);
  }
  const m = referenceRe.exec(input);
  if (!m) {
    if (input !== '' && referenceRe.test(input.toLowerCase())) {
      throw invalidParameter(`${INVALID_REFERENCE}: repository name must be lowercase`);
    }
    throw invalidParameter(INVALID_REFERENCE);
  }
  const [, name, tag, digest] = m;
  if (name.length > NAME_TOTAL_LENGTH_MAX)
    throw invalidParameter(
      `${INVALID_REFERENCE}: repository name must not be more than ${NAME_TOTAL_LENGTH_MAX} characters`,
    );
  if (digest && !sha256Re.test(digest)) {
    throw invalidParameter(
      digest.startsWith('sha256:') ? 'invalid checksum digest length' : 'unsupported digest algorithm',
    );
  }
  const { domain, path } = splitDomain(name);
  return { domain, path, tag, digest };
}

function splitDomain(name: string): { domain: string; path: string } {
  const i = name.indexOf('/');
  let domain = DEFAULT_DOMAIN;
  let path = name;
  if (i >= 0) {
    const first = name.slice(0, i);
    if (first.includes('.') || first.includes(':') || first === 'localhost' || first.toLowerCase() !== first) {
      domain = first;
      path = name.slice(i + 1);
    }
  }
  if (domain === 'index.docker.io') domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !path.includes('/')) path = `library/${path}`;
  return { domain, path };
}

/** parseReference plus the default tag when neither tag nor digest is given. */
export function parseNormalizedNamed(input: string): Reference {
  const ref = parseReference(input);
  if (!ref.tag && !ref.digest) ref.tag = DEFAULT_TAG;
  return ref;
}

export function isValidRepoName(name: string): boolean {
  return referenceRe.test(name) && !name.includes('@');
}

export function validDomain(d: string): boolean {
  return anchoredDomain.test(d);
}

export function validPath(p: string): boolean {
  return anchoredPath.test(p);
}

/** Full name: docker.io/library/busybox */
export function fullName(ref: Pick<Reference, 'domain' | 'path'>): string {
  return `${ref.domain}/${ref.path}`;
}

/** Docker's "familiar" name: busybox, user/repo, 127.0.0.1:5000/repo. */
export function familiarName(ref: Pick<Reference, 'domain' | 'path'>): string {
  if (ref.domain !== DEFAULT_DOMAIN) return `${ref.domain}/${ref.path}`;
  return ref.path.startsWith('library/') && ref.path.split('/').length === 2
    ? ref.path.slice('library/'.length)
    : ref.path;
}

/** busybox:latest, busybox@sha256:…, busybox:1@sha256:… */
export function familiarString(ref: Reference): string {
  let s = familiarName(ref);
  if (ref.tag) s += `:${ref.tag}`;
  if (ref.digest) s += `@${ref.digest}`;
  return s;
}

export function isDigest(s: string): boolean {
  return sha256Re.test(s);
}
