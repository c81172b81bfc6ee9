// `docker cp`: stat, tar and untar of paths inside a container (running or not), confined to it.
//
// Why not paths: a container's processes can rename and symlink its files while the engine works on them
// (CVE-2018-15664), so a path checked once may lead to the host a moment later. Everything here goes through
// directory file descriptors instead: each step opens ONE name below a directory we already hold, with
// O_NOFOLLOW, through the `/proc/self/fd/N/name` magic link (Node has no openat). Symlinks are read and
// interpreted by us, relative to the container's root (as Docker's FollowSymlinkInScope / securejoin), and `..`
// is lexical and never climbs above the root. Whatever is swapped underneath, a step can only fail, never leave.
//
// The root: a running container's own root as its processes see it (`/proc/<pid>/root`: volumes, binds and
// tmpfs mounted by the kernel), checked to be the container's overlay; a stopped one's overlay mounted for the
// copy, with its volumes and binds mapped by hand at their destinations (`mapped`).
//
// The parts: walk.ts (the confinement: directory fds, symlinks, mounts), paths.ts (Docker's path rules, Go's
// FileMode, stat), tar.ts (GET: a tar of a path), extract.ts (PUT: a tar into a directory), access.ts (holding a
// container's file system for a copy).
export { type FsAccess, type FsAccessDeps, containerOwner, createFsAccess, readContainerFile } from './access';
export { type ExtractOptions, entryParts, extractToDir } from './extract';
export { type DirEntryStat, type DirListing, listPath } from './list';
export { absContainerPath, baseName, goFileMode, type PathStat, rfc3339Nano, statPath } from './paths';
export { archivePath, exportRootfs, TAR_TRAILER } from './tar';
export type { ContainerFs, FsMount } from './walk';
