import { DriverError, hasCode } from '../errors.js';
import type {
  BlockDevices,
  DeviceGeometry,
  LoopAttachOptions,
  LoopDevice,
} from '../ports/block-devices.js';
import type { Clock } from '../ports/clock.js';
import { isUnder } from '../core/kernel-paths.js';
import type { CommandRunner } from './command-runner.js';
import * as commands from './commands.js';
import {
  parseBlockdevGeometry,
  parseLoopSysfs,
  parseLosetupShow,
  parseSysfsGeometry,
} from './parse-losetup.js';
import type { SystemFiles } from './system-files.js';
import { LOSETUP_ERRORS, classifyBy } from './tool-errors.js';

const classify = classifyBy(LOSETUP_ERRORS);

const SYS_BLOCK = '/sys/block';
const PROC_PARTITIONS = '/proc/partitions';
const LOOP_NAME = /^loop\d+$/;

/**
 * The loop devices /proc/partitions lists (`major minor #blocks name` after a header), in
 * device number order: whole loop devices only (a partition of one, `loop0p1`, is not).
 */
export function attachedLoopNames(table: string): string[] {
  const names: string[] = [];
  for (const line of table.split('\n')) {
    const name = line.trim().split(/\s+/)[3];
    if (name !== undefined && LOOP_NAME.test(name)) names.push(name);
  }
  return names.sort((a, b) => Number(a.slice(4)) - Number(b.slice(4)));
}

/** The sysfs attributes of an attached loop device (under /sys/block/loopN), in read order. */
const LOOP_ATTRIBUTES = [
  ['backingFile', 'loop/backing_file'],
  ['offset', 'loop/offset'],
  ['sizeLimit', 'loop/sizelimit'],
  ['autoclear', 'loop/autoclear'],
  ['readOnly', 'ro'],
  ['sectorSize', 'queue/logical_block_size'],
] as const;

/**
 * The pauses between the checks of a deferred detach, doubling from 2 ms, about 1 s in all.
 * The kernel runs an autoclear detach from a workqueue once the last holder closes: a
 * partition's loop device lets go of the volume's a few ms after its own detach, and with 8
 * destroys at once on 2 cores that took longer than the 40 ms this used to allow.
 */
export const DETACH_PAUSES_MS: readonly number[] = [2, 4, 8, 16, 32, 64, 128, 256, 490];

/** Tuning of the losetup adapter. */
export interface LosetupOptions {
  /** Attempts when losetup loses the race for the free device it found (EBUSY); default 4. */
  attachAttempts?: number;
  /**
   * The pauses between the checks of a detach the kernel deferred (autoclear) before it is
   * called Busy; default DETACH_PAUSES_MS (about 1 s in all).
   */
  detachPausesMs?: readonly number[];
}

/**
 * BlockDevices over util-linux losetup (attach, detach), reading what the kernel knows about
 * loop and block devices from sysfs through SystemFiles (blockdev only when sysfs cannot say).
 */
export class LosetupBlockDevices implements BlockDevices {
  private readonly attachAttempts: number;
  private readonly detachPausesMs: readonly number[];

  constructor(
    private readonly runner: CommandRunner,
    private readonly files: SystemFiles,
    private readonly clock: Clock,
    options: LosetupOptions = {},
  ) {
    this.attachAttempts = options.attachAttempts ?? 4;
    this.detachPausesMs = options.detachPausesMs ?? DETACH_PAUSES_MS;
  }

  async attachLoop(path: string, options: LoopAttachOptions = {}): Promise<LoopDevice> {
    const argv = commands.losetupAttach(path, options);
    for (let attempt = 1; ; attempt++) {
      try {
        const { stdout } = await this.runner.run(argv, { action: 'attach loop device', classify });
        const device = parseLosetupShow(stdout);
        const attached = await this.loopDevice(device);
        if (!attached) {
          throw new DriverError('Internal', `Failed to attach loop device: ${device} vanished`);
        }
        return attached;
      } catch (error) {
        // losetup --find --show picks and sets up in one go, but another process can still
        // take the device in between; that is a lost race, not exhaustion, until it repeats.
        const lostRace =
          hasCode(error, 'ResourceExhausted') &&
          /Device or resource busy/.test((error as { stderr?: string }).stderr ?? '');
        if (!lostRace || attempt >= this.attachAttempts) throw error;
      }
    }
  }

  async detachLoop(device: string): Promise<void> {
    await this.runner.run(commands.losetupDetach(device), {
      action: 'detach loop device',
      classify,
    });
    // losetup exits 0 when the kernel only deferred the detach (device still open or
    // mounted): the device then stays bound with autoclear set, so ask the kernel itself. A
    // device bound again without autoclear is someone else's new attachment, not ours.
    // A fixed number of checks (not a deadline), so a recorded transcript replays the same.
    for (let check = 0; ; check++) {
      const now = await this.loopDevice(device);
      if (now === null || !now.autoclear) return;
      const pause = this.detachPausesMs[check];
      if (pause === undefined) break;
      await this.clock.sleep(pause);
    }
    throw new DriverError('Busy', `Failed to detach loop device: ${device} is still in use`, {
      hint: 'It is mounted or open somewhere; the kernel frees it (autoclear) on last close.',
      details: { device, autoclear: true },
    });
  }

  async listLoops(): Promise<LoopDevice[]> {
    return this.scan(() => true);
  }

  async loopsOver(backingFile: string): Promise<LoopDevice[]> {
    return this.scan((file) => file === backingFile);
  }

  async loopsUnder(dir: string): Promise<LoopDevice[]> {
    return this.scan((file) => isUnder(file, dir));
  }

  async loopDevice(device: string): Promise<LoopDevice | null> {
    const name = /^\/dev\/(loop\d+)$/.exec(device)?.[1];
    if (name === undefined) return null;
    return (await this.describe([name]))[0] ?? null;
  }

  /**
   * The attached loop devices whose backing file `wanted` accepts. The kernel's disk table
   * (/proc/partitions, one read) names the attached loop devices: it lists the disks that have
   * a size, and an unattached loop device has none, while /sys/block lists every loop device
   * the kernel ever made (a compute node keeps one per peak attachment; reading a missing
   * loop/backing_file costs ~8 µs each). Then one batch of backing files, then the other
   * attributes of the chosen devices only: what losetup --list reads, without a process,
   * without the free devices and without the attributes of devices nobody asked about. A loop
   * device of size 0 (over an empty file, or an offset at its end) is not in the table, so
   * not found: it serves no bytes (losetup warns it is invisible to system tools).
   */
  private async scan(wanted: (backingFile: string) => boolean): Promise<LoopDevice[]> {
    const [table] = await this.files.readAttributes([PROC_PARTITIONS]);
    if (table === null || table === undefined) {
      throw new DriverError(
        'NotFound',
        `Failed to list loop devices: ${PROC_PARTITIONS} is missing`,
        {
          hint: 'The real backend needs /proc mounted.',
        },
      );
    }
    const names = attachedLoopNames(table);
    const files = await this.files.readAttributes(
      names.map((name) => `${SYS_BLOCK}/${name}/loop/backing_file`),
    );
    const chosen = names.filter((_, i) => {
      const file = files[i];
      return file != null && wanted(file.replace(/\n$/, ''));
    });
    return (await this.describe(chosen)).filter((loop): loop is LoopDevice => loop !== null);
  }

  /** The devices `/dev/<name>` as the kernel reports them now; null for one not attached. */
  private async describe(names: readonly string[]): Promise<(LoopDevice | null)[]> {
    if (names.length === 0) return [];
    // diskseq last: a kernel without it (before 5.15) still describes the device.
    const attributes = [...LOOP_ATTRIBUTES.map(([, path]) => path), 'diskseq'];
    const texts = await this.files.readAttributes(
      names.flatMap((name) => attributes.map((path) => `${SYS_BLOCK}/${name}/${path}`)),
    );
    return names.map((name, i) => {
      const values = texts
        .slice(i * attributes.length, (i + 1) * attributes.length)
        .map((text) => text?.replace(/\n$/, '') ?? null);
      const diskseq = values.pop() ?? null;
      // A missing attribute: not attached, or detached while it was read.
      if (values.some((value) => value === null)) return null;
      const [backingFile, offset, sizeLimit, autoclear, readOnly, sectorSize] = values as string[];
      return parseLoopSysfs(`/dev/${name}`, backingFile as string, {
        offset: offset as string,
        sizeLimit: sizeLimit as string,
        autoclear: autoclear as string,
        readOnly: readOnly as string,
        sectorSize: sectorSize as string,
        ...(diskseq === null ? {} : { diskseq }),
      });
    });
  }

  async read(path: string, offset: number, length: number): Promise<Uint8Array> {
    return this.files.readBytes(path, offset, length);
  }

  async geometry(path: string): Promise<DeviceGeometry> {
    let info = await this.files.stat(path);
    if (info?.kind === 'symlink') {
      // /dev/disk/by-id/..., /dev/mapper/...: the device the link names.
      info = await this.files.stat(await this.files.realpath(path));
    }
    if (info === null) {
      throw new DriverError('NotFound', `Failed to read geometry: ${path} does not exist`);
    }
    if (info.kind === 'file') return { size: info.size, logicalSectorSize: 512 };
    if (info.rdev) {
      // What blockdev asks the kernel, from sysfs: size in 512-byte units whatever the sector
      // size, and the queue's logical block size (a partition's queue is its disk's).
      const dir = `/sys/dev/block/${info.rdev.major}:${info.rdev.minor}`;
      const [sectors, own, disk] = await this.files
        .readAttributes([
          `${dir}/size`,
          `${dir}/queue/logical_block_size`,
          `${dir}/../queue/logical_block_size`,
        ])
        .catch(() => [null, null, null]);
      const logical = own ?? disk ?? null;
      if (sectors != null && logical !== null) {
        return parseSysfsGeometry(path, sectors, logical);
      }
    }
    const { stdout } = await this.runner.run(commands.blockdevGeometry(path), {
      action: 'read device geometry',
      classify,
    });
    return parseBlockdevGeometry(stdout);
  }
}
