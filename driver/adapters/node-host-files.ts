import { chmod, lchown, lstat, mkdir, opendir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { DriverError } from '../errors.js';
import { idShiftPlan } from '../core/id-shift.js';
import type { FileIdentity, FileKind, FileOwner, HostFiles, IdMap } from '../ports/host-files.js';
import { SELF_MOUNTINFO } from './linux-mounts.js';
import { parseMountinfo } from './parse-mountinfo.js';
import { fsError, type SystemFiles } from './system-files.js';

export { NOBODY_ID, shiftId } from '../core/id-shift.js';

/** HostFiles over node:fs/promises; mount points come from /proc/self/mountinfo. */
export class NodeHostFiles implements HostFiles {
  constructor(private readonly system: SystemFiles) {}

  async ensureDir(path: string): Promise<boolean> {
    try {
      // mkdir -p names the first directory it made, or nothing when `path` was there already.
      return (await mkdir(path, { recursive: true })) !== undefined;
    } catch (error) {
      throw fsError('create directory', path, error);
    }
  }

  async exists(path: string): Promise<boolean> {
    try {
      await lstat(path);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw fsError('check', path, error);
    }
  }

  async readFile(path: string): Promise<string> {
    try {
      return await readFile(path, 'utf8');
    } catch (error) {
      throw fsError('read', path, error);
    }
  }

  async writeFile(path: string, content: string): Promise<void> {
    try {
      await writeFile(path, content);
    } catch (error) {
      throw fsError('write', path, error);
    }
  }

  async realpath(path: string): Promise<string> {
    return this.system.realpath(path);
  }

  async kind(path: string): Promise<FileKind | null> {
    return (await this.system.stat(path))?.kind ?? null;
  }

  async identity(path: string): Promise<FileIdentity | null> {
    const info = await this.system.stat(path);
    if (info?.device === undefined || info.inode === undefined) return null;
    return { device: info.device, inode: info.inode };
  }

  async removeTree(path: string): Promise<void> {
    // Mount points are recorded canonical: compare canonical paths, or a symlinked
    // instances_path would hide a mounted volume from this check and rm would walk into it.
    const root = await this.system.realpath(resolve(path)).catch(() => resolve(path));
    const below = parseMountinfo(await this.system.readText(SELF_MOUNTINFO)).filter(
      (entry) => entry.target === root || entry.target.startsWith(`${root}/`),
    );
    if (below.length > 0) {
      throw new DriverError(
        'Busy',
        `Failed to remove ${root}: ${below[0]?.target} is a mount point (${below[0]?.source})`,
        {
          hint: 'Unmount it first; removing across a mount point would delete the data on it.',
          details: { path: root, mountPoints: below.map((entry) => entry.target) },
        },
      );
    }
    try {
      await rm(root, { recursive: true, force: true });
    } catch (error) {
      throw fsError('remove', root, error);
    }
  }

  async owner(path: string): Promise<FileOwner | null> {
    try {
      const info = await lstat(path);
      return { uid: info.uid, gid: info.gid, mode: info.mode & 0o7777 };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw fsError('check', path, error);
    }
  }

  async shiftIds(root: string, uidMaps: IdMap[], gidMaps: IdMap[]): Promise<boolean> {
    const plan = idShiftPlan(uidMaps, gidMaps);
    let top;
    try {
      top = await lstat(root);
    } catch (error) {
      throw fsError('shift ownership of', root, error);
    }
    if (plan.isShifted(top.uid, top.gid)) return false;
    // Like Nova's idmapshift.shift_dir, symlinks not followed; but the root goes last, so its
    // owner says the whole tree is done.
    const shift = async (path: string): Promise<void> => {
      try {
        const info = await lstat(path);
        const uid = plan.uid(info.uid);
        const gid = plan.gid(info.gid);
        if (uid === info.uid && gid === info.gid) return;
        await lchown(path, uid, gid);
        // chown clears setuid and setgid (/bin/su 4755 became 755): put the mode back.
        if (!info.isSymbolicLink() && info.mode & 0o7000) await chmod(path, info.mode & 0o7777);
      } catch (error) {
        throw fsError('change owner of', path, error);
      }
    };
    const walk = async (dir: string): Promise<void> => {
      let handle;
      try {
        handle = await opendir(dir);
      } catch (error) {
        throw fsError('list', dir, error);
      }
      for await (const entry of handle) {
        const path = join(dir, entry.name);
        await shift(path);
        if (entry.isDirectory()) await walk(path);
      }
    };
    await walk(root);
    await shift(root);
    return true;
  }
}
