// Build Image's inputs, free of `vscode`: which files are Dockerfiles, the tag a build suggests and accepts (Docker's
// reference grammar), and build arguments typed as `KEY=value KEY2="with spaces" KEY3` (the last taken from the
// environment, as `docker build --build-arg KEY3` does).
import * as path from 'node:path';
import { shellSplit } from '../run/options';

/** Dockerfile, Dockerfile.dev, dev.Dockerfile, Containerfile (Podman's name), any case of the first letter. */
export const DOCKERFILE_NAME = /^(?:[Dd]ockerfile|Containerfile)(?:\..+)?$|\.(?:[Dd]ockerfile|Containerfile)$/;

export function isDockerfile(file: string): boolean {
  return DOCKERFILE_NAME.test(path.basename(file));
}

// Docker's reference grammar (distribution/reference): [host[:port]/]path-component(/path-component)*[:tag]
const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const HOST = '(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?)';
const TAG = '[\\w][\\w.-]{0,127}';
const REFERENCE = new RegExp(`^(?:${HOST}/)?${COMPONENT}(?:/${COMPONENT})*(?::${TAG})?$`);

/** Docker's message for a tag it would refuse, or undefined when the tag is fine. */
export function validateTag(tag: string): string | undefined {
  const t = tag.trim();
  if (!t) return 'a tag is required (name or name:tag)';
  // The host part may have capitals; the repository path may not.
  const repo = t.includes('/') ? t.slice(t.indexOf('/') + 1) : t;
  if (/[A-Z]/.test(repo.replace(/:[\w.-]+$/, ''))) return `invalid reference format: repository name must be lowercase`;
  if (t.length > 255 + 129) return 'invalid reference format: repository name must not be more than 255 characters';
  return REFERENCE.test(t) ? undefined : `invalid reference format: "${t}" is not a valid name[:tag]`;
}

/** `name` → `name:latest`; a tag or a registry port is kept. */
export function normalizeTag(tag: string): string {
  const t = tag.trim();
  const last = t.slice(t.lastIndexOf('/') + 1);
  return last.includes(':') ? t : `${t}:latest`;
}

/** A tag to suggest for a build: the context folder's name made a valid repository name, `:latest`. */
export function suggestTag(contextDir: string, dockerfile: string): string {
  const clean = (s: string) =>
    s
      .toLowerCase()
      .replace(/[^a-z0-9._-]+/g, '-')
      .replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '');
  const base = clean(path.basename(contextDir)) || 'image';
  // Dockerfile.dev in folder app → app-dev, so two Dockerfiles of one folder do not overwrite each other's image.
  const m = /^(?:[Dd]ockerfile|Containerfile)\.(.+)$|^(.+)\.(?:[Dd]ockerfile|Containerfile)$/.exec(
    path.basename(dockerfile),
  );
  const variant = m ? clean(m[1] ?? m[2]) : '';
  return `${variant ? `${base}-${variant}` : base}:latest`;
}

/**
 * `KEY=value KEY2="a b" 'KEY3=c d' KEY4`: words split as a shell would (quotes group, backslash escapes); a word with
 * no `=` takes its value from `env` and is left out when unset there (the docker CLI's --build-arg rule).
 */
export function parseBuildArgs(
  text: string,
  env: Record<string, string | undefined> = process.env,
): Record<string, string> {
  const words = shellSplit(text);
  const args: Record<string, string> = {};
  for (const w of words) {
    const eq = w.indexOf('=');
    const key = eq < 0 ? w : w.slice(0, eq);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw new Error(`invalid build argument name "${key}"`);
    if (eq >= 0) args[key] = w.slice(eq + 1);
    else if (env[key] !== undefined) args[key] = env[key]!;
  }
  return args;
}
