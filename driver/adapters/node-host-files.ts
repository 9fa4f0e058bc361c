import { lchown, lstat, mkdir, opendir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { DriverError } from '../errors.js';
import type { FileKind, HostFiles, IdMap } from '../ports/host-files.js';
import { SELF_MOUNTINFO } from './linux-mounts.js';
import { parseMountinfo } from './parse-mountinfo.js';
import { fsError, type SystemFiles } from './system-files.js';

/** The id an unmapped owner becomes, as in Nova's idmapshift. */
export const NOBODY_ID = 65534;

/** Maps one id through the maps (first match wins); unmapped ids become nobody. */
export function shiftId(id: number, maps: readonly IdMap[]): number {
  const map = maps.find(
    (candidate) => id >= candidate.start && id < candidate.start + candidate.count,
  );
  return map ? map.target + (id - map.start) : NOBODY_ID;
}

/** HostFiles over node:fs/promises; mount points come from /proc/self/mountinfo. */
export class NodeHostFiles implements HostFiles {
  constructor(private readonly system: SystemFiles) {}

  async ensureDir(path: string): Promise<boolean> {
    try {
      const existed = await this.exists(path);
      await mkdir(path, { recursive: true });
      return !existed;
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

  async shiftIds(root: string, uidMaps: IdMap[], gidMaps: IdMap[]): Promise<void> {
    // Like Nova's idmapshift.shift_dir: the root, then every entry below it, symlinks not followed.
    const shift = async (path: string): Promise<void> => {
      try {
        const info = await lstat(path);
        await lchown(path, shiftId(info.uid, uidMaps), shiftId(info.gid, gidMaps));
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
    await shift(root);
    await walk(root);
  }
}
