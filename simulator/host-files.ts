import { posix } from 'node:path';
import { idShiftPlan } from '../driver/core/id-shift.js';
import { DriverError, type ErrorCode } from '../driver/errors.js';
import type {
  FileIdentity,
  FileKind,
  FileOwner,
  HostFiles,
  IdMap,
} from '../driver/ports/host-files.js';
import { NODE_ERRNO_TEXT, PathError, checkPathLength, errnoOf, type PathErrno } from './paths.js';
import type { SimState } from './state.js';

type Tree = ReturnType<SimState['resolveHostPath']>['tree'];

/** The DriverError code NodeHostFiles gives each errno (driver/adapters/system-files.ts fsError). */
const ERRNO_CODES: Record<PathErrno, ErrorCode> = {
  ENOENT: 'NotFound',
  ENOTDIR: 'NotFound',
  EEXIST: 'AlreadyExists',
  ENOTEMPTY: 'AlreadyExists',
  EACCES: 'FailedPrecondition',
  ELOOP: 'InvalidInput',
  ENAMETOOLONG: 'InvalidInput',
  EISDIR: 'InvalidInput',
};

/** The error NodeHostFiles throws for a failed node:fs call: same code, same text. */
export function simFsError(action: string, path: string, error: unknown, syscall: string) {
  const errno = errnoOf(error);
  if (!errno) return error;
  const reason =
    error instanceof PathError
      ? error.message
      : `${errno}: ${NODE_ERRNO_TEXT[errno]}, ${syscall} '${path}'`;
  return new DriverError(ERRNO_CODES[errno], `Failed to ${action} ${path}: ${reason}`, {
    cause: error,
    details: { path, errno },
  });
}

/** chown as the kernel does it on a regular file: setuid and setgid are cleared. */
function kernelChown(tree: Tree, path: string, uid: number, gid: number): void {
  const before = tree.lstatSync(path);
  tree.lchownSync(path, uid, gid);
  if (before.isFile() && Number(before.mode) & 0o6000) {
    tree.chmodSync(path, Number(before.mode) & 0o1777);
  }
}

/**
 * Host files over the simulated host tree, seeing through mounted filesystems. It fails as
 * NodeHostFiles does (node:fs's errno texts) and, like the kernel for root, reads and writes
 * any file whatever its owner and mode (simulator/root-access.ts).
 */
export class SimulatedHostFiles implements HostFiles {
  constructor(private readonly state: SimState) {}

  private at(action: string, path: string, syscall: string, followLast = true) {
    try {
      checkPathLength(path, syscall);
      return this.state.resolveHostPath(path, followLast, syscall);
    } catch (error) {
      throw simFsError(action, path, error, syscall);
    }
  }

  async ensureDir(path: string): Promise<boolean> {
    const { tree, rel } = this.at('create directory', path, 'mkdir');
    if (tree.existsSync(rel)) {
      if (!tree.statSync(rel).isDirectory()) {
        throw new DriverError(
          'AlreadyExists',
          `Failed to create directory ${path}: EEXIST: file already exists, mkdir '${path}'`,
        );
      }
      return false;
    }
    try {
      tree.mkdirSync(rel, { recursive: true });
    } catch (error) {
      throw simFsError('create directory', path, error, 'mkdir');
    }
    return true;
  }

  async realpath(path: string): Promise<string> {
    try {
      return this.state.realpath(path);
    } catch (error) {
      throw simFsError('resolve', path, error, 'realpath');
    }
  }

  async kind(path: string): Promise<FileKind | null> {
    const { tree, rel, real } = this.entry('check', path);
    if (isSymlink(tree, rel)) return 'symlink';
    if (this.state.isBlockDevice(real)) return 'block-device';
    try {
      const stat = tree.lstatSync(rel);
      return stat.isDirectory() ? 'directory' : stat.isFile() ? 'file' : 'other';
    } catch {
      return null;
    }
  }

  async identity(path: string): Promise<FileIdentity | null> {
    const { tree, rel, mount } = this.state.resolveHostPath(path);
    try {
      const stat = tree.lstatSync(rel);
      // memfs numbers inodes per tree; the filesystem's id stands in for st_dev.
      return { device: mount ? mount.fs.id : 0, inode: Number(stat.ino) };
    } catch {
      return null;
    }
  }

  async exists(path: string): Promise<boolean> {
    return (await this.kind(path)) !== null;
  }

  async owner(path: string): Promise<FileOwner | null> {
    const { tree, rel } = this.entry('check', path);
    try {
      const stat = tree.lstatSync(rel);
      return { uid: Number(stat.uid), gid: Number(stat.gid), mode: Number(stat.mode) & 0o7777 };
    } catch {
      return null;
    }
  }

  async readFile(path: string): Promise<string> {
    const { tree, rel } = this.at('read', path, 'open');
    try {
      return String(tree.readFileSync(rel, 'utf8'));
    } catch (error) {
      throw simFsError('read', path, error, 'open');
    }
  }

  async writeFile(path: string, content: string): Promise<void> {
    const { tree, rel } = this.at('write', path, 'open');
    try {
      tree.writeFileSync(rel, content);
    } catch (error) {
      throw simFsError('write', path, error, 'open');
    }
  }

  async removeTree(path: string): Promise<void> {
    // As NodeHostFiles: the canonical path, a final symlink followed.
    let normal: string;
    try {
      normal = this.state.canonical(path);
    } catch (error) {
      throw simFsError('remove', path, error, 'rm');
    }
    const below = this.state.hostMounts.find(
      (m) => m.target === normal || m.target.startsWith(normal + '/'),
    );
    if (below) {
      throw new DriverError(
        'Busy',
        `Failed to remove ${normal}: ${below.target} is a mount point of ${below.source}; nothing was removed`,
        { hint: 'Unmount it first; removing across a mount would delete data on that filesystem.' },
      );
    }
    const { tree, rel } = this.state.resolveHostPath(normal, false);
    if (tree.existsSync(rel) || isSymlink(tree, rel)) {
      tree.rmSync(rel, { recursive: true, force: true });
    }
    for (const disk of [...this.state.disks.keys()]) {
      if (disk === normal || disk.startsWith(normal + '/')) {
        this.state.unlinkDisk(disk);
      }
    }
  }

  async shiftIds(root: string, uidMaps: IdMap[], gidMaps: IdMap[]): Promise<boolean> {
    const { tree, rel } = this.at('shift ownership of', root, 'lstat');
    let top;
    try {
      top = tree.lstatSync(rel);
    } catch (error) {
      throw simFsError('shift ownership of', root, error, 'lstat');
    }
    const plan = idShiftPlan(uidMaps, gidMaps);
    if (plan.isShifted(Number(top.uid), Number(top.gid))) return false;
    const shift = (path: string): void => {
      const stat = tree.lstatSync(path);
      const uid = plan.uid(Number(stat.uid));
      const gid = plan.gid(Number(stat.gid));
      if (uid === Number(stat.uid) && gid === Number(stat.gid)) return;
      kernelChown(tree, path, uid, gid);
      if (!stat.isSymbolicLink()) tree.chmodSync(path, Number(stat.mode) & 0o7777);
    };
    walkBelow(tree, rel, shift);
    shift(rel); // last: the root's owner says the tree is done
    return true;
  }

  /** The tree and canonical path of the entry `path` names (symlinks not followed). */
  private entry(action: string, path: string) {
    const { tree, rel } = this.at(action, path, 'lstat', false);
    return { tree, rel, real: this.state.entryPath(path) };
  }
}

function isSymlink(tree: Tree, path: string): boolean {
  try {
    return tree.lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

function walkBelow(tree: Tree, path: string, visit: (path: string) => void): void {
  if (!tree.lstatSync(path).isDirectory()) return;
  for (const name of tree.readdirSync(path) as string[]) {
    const child = posix.join(path, name);
    visit(child);
    walkBelow(tree, child, visit);
  }
}
