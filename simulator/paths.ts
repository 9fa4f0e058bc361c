/**
 * The kernel's path rules the simulator follows: NAME_MAX and PATH_MAX, symlinks resolved
 * component by component (40 hops at most), ENOTDIR for a path through a file, and the
 * errno texts Node prints for them (libuv's uv_strerror, checked on this project's hosts).
 */

/** Longest file name component in bytes (Linux NAME_MAX). */
export const NAME_MAX = 255;
/** Longest path in bytes, the terminating NUL included (Linux PATH_MAX). */
export const PATH_MAX = 4096;
/** Symlinks followed in one lookup before ELOOP (Linux MAXSYMLINKS). */
export const MAX_SYMLINKS = 40;

/** The errnos path lookups fail with. */
export type PathErrno =
  'ENOENT' | 'ENOTDIR' | 'ELOOP' | 'ENAMETOOLONG' | 'EACCES' | 'EISDIR' | 'EEXIST' | 'ENOTEMPTY';

/** Node's message for each errno, as `fs` functions print it. */
export const NODE_ERRNO_TEXT: Record<PathErrno, string> = {
  ENOENT: 'no such file or directory',
  ENOTDIR: 'not a directory',
  ELOOP: 'too many symbolic links encountered',
  ENAMETOOLONG: 'name too long',
  EACCES: 'permission denied',
  EISDIR: 'illegal operation on a directory',
  EEXIST: 'file already exists',
  ENOTEMPTY: 'directory not empty',
};

/** strerror(3) for each errno, as the C tools (losetup, mount, realpath) print it. */
export const STRERROR: Record<PathErrno, string> = {
  ENOENT: 'No such file or directory',
  ENOTDIR: 'Not a directory',
  ELOOP: 'Too many levels of symbolic links',
  ENAMETOOLONG: 'File name too long',
  EACCES: 'Permission denied',
  EISDIR: 'Is a directory',
  EEXIST: 'File exists',
  ENOTEMPTY: 'Directory not empty',
};

/** A failed path lookup, carrying its errno like a Node `fs` error. */
export class PathError extends Error {
  constructor(
    readonly code: PathErrno,
    readonly syscall: string,
    readonly path: string,
  ) {
    super(`${code}: ${NODE_ERRNO_TEXT[code]}, ${syscall} '${path}'`);
    this.name = 'PathError';
  }
}

const utf8 = new TextEncoder();

/** ENAMETOOLONG when the whole path is longer than PATH_MAX (checked before any lookup). */
export function checkPathLength(path: string, syscall: string): void {
  if (utf8.encode(path).length >= PATH_MAX) throw new PathError('ENAMETOOLONG', syscall, path);
}

/** ENAMETOOLONG when one component is longer than NAME_MAX (checked when it is looked up). */
export function checkNameLength(name: string, syscall: string, path: string): void {
  if (utf8.encode(name).length > NAME_MAX) throw new PathError('ENAMETOOLONG', syscall, path);
}

/** The errno of a memfs (or Node) error, when it is one the simulator models. */
export function errnoOf(error: unknown): PathErrno | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && code in NODE_ERRNO_TEXT ? (code as PathErrno) : undefined;
}
