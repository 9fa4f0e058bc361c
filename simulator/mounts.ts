import { probeFilesystem } from '../driver/core/fs-probe.js';
import type { MountEntry, MountOptions, Mounts } from '../driver/ports/mounts.js';
import { DriverError } from '../driver/errors.js';
import {
  mountBadTarget,
  mountNoSource,
  mountNoTarget,
  mountWrongFs,
  umountBadTarget,
  umountBusy,
  umountNotMounted,
} from './failures.js';
import { errnoOf } from './paths.js';
import type { SimMount, SimState } from './state.js';

/** Types the kernel's ext4 driver also mounts. */
const EXT4_MOUNTS = new Set(['ext2', 'ext3', 'ext4']);

/** The host mount namespace: mount finds the filesystem by its superblock, as the kernel does. */
export class SimulatedMounts implements Mounts {
  constructor(private readonly state: SimState) {}

  async mount(source: string, target: string, options: MountOptions): Promise<void> {
    const argv = [
      'mount',
      '-t',
      options.fstype,
      ...(options.readOnly ? ['-o', 'ro'] : []),
      source,
      target,
    ];
    let where;
    try {
      where = this.state.resolveHostPath(target);
    } catch (error) {
      throw mountBadTarget(argv, target, errnoOf(error) ?? 'ENOENT');
    }
    if (!isDirectory(where.tree, where.rel)) {
      throw exists(where.tree, where.rel)
        ? mountBadTarget(argv, target, 'ENOTDIR')
        : mountNoTarget(argv, target);
    }
    const view = this.state.view(source);
    if (!view || !this.state.isBlockDevice(source)) {
      throw mountNoSource(argv, source, target);
    }
    // libmount canonicalizes the source: a /dev/disk/by-id link is recorded as its device.
    source = this.state.canonical(source);
    const reader = {
      size: view.length,
      read: async (offset: number, length: number) => this.state.readView(view, offset, length),
    };
    const probe = view.raw ? await probeFilesystem(reader, 0) : null;
    const fits =
      probe !== null &&
      probe.mountable &&
      (probe.type === options.fstype || (options.fstype === 'ext4' && EXT4_MOUNTS.has(probe.type)));
    if (!probe || !fits) {
      throw mountWrongFs(argv, source, target);
    }
    const fs = this.state.filesystemAt(view, probe.type, probe.label);
    const normal = this.state.canonical(target);
    if (this.state.hostMounts.some((m) => m.target === normal && m.source === source)) {
      throw new DriverError(
        'Busy',
        `Failed to mount filesystem: ${source} is already mounted on ${target}`,
      );
    }
    this.state.hostMounts.push({
      source,
      target: normal,
      fstype: probe.type,
      readOnly: options.readOnly ?? false,
      fs,
    });
  }

  async unmount(target: string): Promise<void> {
    const argv = ['umount', target];
    let normal: string;
    try {
      normal = this.state.canonical(target);
    } catch (error) {
      throw umountBadTarget(argv, target, errnoOf(error) ?? 'ENOENT');
    }
    const index = this.state.hostMounts.findLastIndex((m) => m.target === normal);
    if (index < 0) {
      throw umountNotMounted(argv, target);
    }
    const nested = this.state.hostMounts.some(
      (m, i) => i > index && m.target.startsWith(normal + '/'),
    );
    if (nested) {
      throw umountBusy(argv, target);
    }
    this.state.hostMounts.splice(index, 1);
    this.state.settleAutoclear();
  }

  async list(): Promise<MountEntry[]> {
    return this.state.hostMounts.map(toEntry);
  }
}

/** A namespace mount as the mount table shows it. */
export function toEntry(mount: SimMount): MountEntry {
  return {
    source: mount.source,
    target: mount.target,
    fstype: mount.fstype,
    options: [mount.readOnly ? 'ro' : 'rw', 'relatime'],
  };
}

function isDirectory(tree: SimMount['fs']['tree'], path: string): boolean {
  try {
    return tree.statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function exists(tree: SimMount['fs']['tree'], path: string): boolean {
  try {
    tree.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}
