import { posix } from 'node:path';
import { shiftId } from '../driver/core/id-shift.js';
import { DriverError } from '../driver/errors.js';
import type { FileKind, HostFiles, IdMap } from '../driver/ports/host-files.js';
import { noSuchPath, type SimState } from './state.js';

type Tree = ReturnType<SimState['resolveHostPath']>['tree'];

/** Host files over the simulated host tree, seeing through mounted filesystems. */
export class SimulatedHostFiles implements HostFiles {
  constructor(private readonly state: SimState) {}

  async ensureDir(path: string): Promise<boolean> {
    const { tree, rel } = this.state.resolveHostPath(path);
    if (tree.existsSync(rel)) {
      if (!tree.statSync(rel).isDirectory()) {
        throw new DriverError(
          'AlreadyExists',
          `Failed to create directory ${path}: a file is in the way`,
        );
      }
      return false;
    }
    tree.mkdirSync(rel, { recursive: true });
    return true;
  }

  async realpath(path: string): Promise<string> {
    if (this.state.isBlockDevice(path)) {
      return posix.resolve('/', path);
    }
    if (!(await this.exists(path))) {
      throw noSuchPath('resolve', path);
    }
    return this.state.canonical(path);
  }

  async kind(path: string): Promise<FileKind | null> {
    if (this.state.isBlockDevice(path)) {
      return 'block-device';
    }
    const { tree, rel } = this.state.resolveHostPath(path);
    try {
      const stat = tree.lstatSync(rel);
      if (stat.isSymbolicLink()) return 'symlink';
      return stat.isDirectory() ? 'directory' : stat.isFile() ? 'file' : 'other';
    } catch {
      return null;
    }
  }

  async exists(path: string): Promise<boolean> {
    const { tree, rel } = this.state.resolveHostPath(path);
    try {
      tree.lstatSync(rel);
      return true;
    } catch {
      return false;
    }
  }

  async readFile(path: string): Promise<string> {
    const { tree, rel } = this.state.resolveHostPath(path);
    try {
      return String(tree.readFileSync(rel, 'utf8'));
    } catch {
      throw noSuchPath('read file', path);
    }
  }

  async writeFile(path: string, content: string): Promise<void> {
    const { tree, rel } = this.state.resolveHostPath(path);
    if (!tree.existsSync(posix.dirname(rel))) {
      throw noSuchPath('write file', path);
    }
    tree.writeFileSync(rel, content);
  }

  async removeTree(path: string): Promise<void> {
    const normal = this.state.canonical(path);
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
    const { tree, rel } = this.state.resolveHostPath(normal);
    if (tree.existsSync(rel)) {
      tree.rmSync(rel, { recursive: true, force: true });
    }
    for (const disk of [...this.state.disks.keys()]) {
      if (disk === normal || disk.startsWith(normal + '/')) {
        this.state.disks.delete(disk);
      }
    }
  }

  async shiftIds(root: string, uidMaps: IdMap[], gidMaps: IdMap[]): Promise<void> {
    const { tree, rel } = this.state.resolveHostPath(root);
    if (!tree.existsSync(rel)) {
      throw noSuchPath('shift ownership', root);
    }
    walk(tree, rel, (path) => {
      const stat = tree.lstatSync(path);
      tree.lchownSync(path, shiftId(Number(stat.uid), uidMaps), shiftId(Number(stat.gid), gidMaps));
    });
  }
}

function walk(tree: Tree, path: string, visit: (path: string) => void): void {
  visit(path);
  if (tree.lstatSync(path).isDirectory()) {
    for (const name of tree.readdirSync(path) as string[]) {
      walk(tree, posix.join(path, name), visit);
    }
  }
}
