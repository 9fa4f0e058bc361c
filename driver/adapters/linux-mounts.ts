import { DriverError } from '../errors.js';
import type { MountEntry, MountOptions, Mounts } from '../ports/mounts.js';
import type { CommandRunner } from './command-runner.js';
import * as commands from './commands.js';
import { parseMountinfo, toMountEntry } from './parse-mountinfo.js';
import type { SystemFiles } from './system-files.js';
import { MOUNT_ERRORS, UMOUNT_ERRORS, classifyBy } from './tool-errors.js';

const classifyMount = classifyBy(MOUNT_ERRORS);
const classifyUmount = classifyBy(UMOUNT_ERRORS);

/** Where the host namespace's mount table is read from. */
export const SELF_MOUNTINFO = '/proc/self/mountinfo';

/** Mounts over util-linux mount/umount and /proc/self/mountinfo. */
export class LinuxMounts implements Mounts {
  constructor(
    private readonly runner: CommandRunner,
    private readonly files: SystemFiles,
  ) {}

  async mount(source: string, target: string, options: MountOptions): Promise<void> {
    // Linux would stack a second filesystem on an occupied mount point; the port promises Busy.
    const occupied = (await this.list()).find((entry) => entry.target === target);
    if (occupied) {
      throw new DriverError(
        'Busy',
        `Failed to mount filesystem: ${target} already has ${occupied.source} mounted`,
        { details: { target, mounted: occupied.source } },
      );
    }
    await this.runner.run(commands.mount(source, target, options.fstype, options.readOnly), {
      action: 'mount filesystem',
      classify: classifyMount,
    });
  }

  async unmount(target: string): Promise<void> {
    await this.runner.run(commands.umount(target), {
      action: 'unmount filesystem',
      classify: classifyUmount,
    });
  }

  async list(): Promise<MountEntry[]> {
    // procfs makes the table on read, in memory: read as a kernel attribute (no thread pool).
    const [text] = await this.files.readAttributes([SELF_MOUNTINFO]);
    if (text == null) {
      throw new DriverError(
        'NotFound',
        `Failed to read the mount table: ${SELF_MOUNTINFO} is missing`,
        {
          hint: 'Mount /proc.',
        },
      );
    }
    return parseMountinfo(text).map(toMountEntry);
  }
}
