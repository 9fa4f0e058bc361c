/**
 * Files and directories on the host: instance directories and what a mounted rootfs holds.
 * All paths are absolute.
 */
export interface HostFiles {
  /** Creates `path` and missing parents. Returns whether `path` itself was created. Safe to repeat. */
  ensureDir(path: string): Promise<boolean>;

  /**
   * The canonical absolute path of an existing `path`, symlinks resolved: the form the kernel
   * records mount points in. NotFound when it does not exist. Safe to repeat.
   */
  realpath(path: string): Promise<string>;

  /** What `path` is (symlinks not followed), or null when it does not exist. Safe to repeat. */
  kind(path: string): Promise<FileKind | null>;

  /**
   * Device and inode of the entry at `path` (symlinks not followed), or null when it does not
   * exist: with a path that a loop device shows, proof that it serves this very file. Safe to repeat.
   */
  identity(path: string): Promise<FileIdentity | null>;

  /**
   * Whether `path` exists (file, directory or device; a dangling symlink exists, as symlinks
   * are not followed). false only when it is absent: a path that cannot be checked (no
   * permission on a parent) is an error. Safe to repeat.
   */
  exists(path: string): Promise<boolean>;

  /** Reads a whole file as UTF-8. NotFound when absent. */
  readFile(path: string): Promise<string>;

  /** Writes a whole file (created or replaced). NotFound when the parent is missing. */
  writeFile(path: string, content: string): Promise<void>;

  /**
   * Removes `path` recursively without crossing into another filesystem: a mount point below
   * it makes this fail with Busy and removes nothing (data on a volume is never lost).
   * Missing `path` is success. Safe to repeat.
   */
  removeTree(path: string): Promise<void>;

  /**
   * The owner ids and permission bits (setuid, setgid and sticky included) of `path`, symlinks
   * not followed, or null when it does not exist. Safe to repeat.
   */
  owner(path: string): Promise<FileOwner | null>;

  /**
   * Shifts the owner of every entry under `root` by the id maps (`guest:host:count`), the way
   * Nova's idmapshift does, so a user-namespaced container owns its rootfs. Symlinks are not
   * followed. Permission bits are kept, setuid and setgid included (the kernel clears them on
   * chown; they are restored). Idempotent: a tree whose root is already owned by the shifted
   * root ids is left alone and false is returned; the root is shifted last, so a shift cut
   * short is finished by the next call, which keeps ids already in a host range. Resolves true
   * when it changed owners. NotFound when `root` is missing.
   */
  shiftIds(root: string, uidMaps: IdMap[], gidMaps: IdMap[]): Promise<boolean>;
}

/** Which file a path names: its filesystem's device number and its inode number. */
export interface FileIdentity {
  device: number;
  inode: number;
}

/** The kinds of filesystem entry the driver distinguishes. */
export type FileKind = 'file' | 'directory' | 'block-device' | 'symlink' | 'other';

/** One user-namespace id range: guest ids [start, start+count) map to host [target, ...). */
export interface IdMap {
  start: number;
  target: number;
  count: number;
}

/** Who owns a path, and its permission bits (`mode & 0o7777`). */
export interface FileOwner {
  uid: number;
  gid: number;
  mode: number;
}
