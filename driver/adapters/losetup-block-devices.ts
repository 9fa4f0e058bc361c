import { DriverError, hasCode } from '../errors.js';
import type {
  BlockDevices,
  DeviceGeometry,
  LoopAttachOptions,
  LoopDevice,
} from '../ports/block-devices.js';
import type { Clock } from '../ports/clock.js';
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
const LOOP_NAME = /^loop\d+$/;

/** Tuning of the losetup adapter. */
export interface LosetupOptions {
  /** Attempts when losetup loses the race for the free device it found (EBUSY); default 4. */
  attachAttempts?: number;
  /** Checks of /sys after a detach before calling it deferred (Busy); default 3, 20 ms apart. */
  detachChecks?: number;
}

/**
 * BlockDevices over util-linux losetup (attach, detach), reading what the kernel knows about
 * loop and block devices from sysfs through SystemFiles (blockdev only when sysfs cannot say).
 */
export class LosetupBlockDevices implements BlockDevices {
  private readonly attachAttempts: number;
  private readonly detachChecks: number;

  constructor(
    private readonly runner: CommandRunner,
    private readonly files: SystemFiles,
    private readonly clock: Clock,
    options: LosetupOptions = {},
  ) {
    this.attachAttempts = options.attachAttempts ?? 4;
    this.detachChecks = options.detachChecks ?? 3;
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
    for (let check = 1; ; check++) {
      const now = await this.loopDevice(device);
      if (now === null || !now.autoclear) return;
      if (check >= this.detachChecks) break;
      await this.clock.sleep(20);
    }
    throw new DriverError('Busy', `Failed to detach loop device: ${device} is still in use`, {
      hint: 'It is mounted or open somewhere; the kernel frees it (autoclear) on last close.',
      details: { device, autoclear: true },
    });
  }

  async listLoops(): Promise<LoopDevice[]> {
    // /sys/block lists every loop device the kernel has, attached or not; the attached ones
    // have a loop/ directory. Read one at a time: replayed transcripts keep their order.
    const loops: LoopDevice[] = [];
    const names = (await this.files.readDir(SYS_BLOCK)).filter((name) => LOOP_NAME.test(name));
    names.sort((a, b) => Number(a.slice(4)) - Number(b.slice(4)));
    for (const name of names) {
      const loop = await this.loopDevice(`/dev/${name}`);
      if (loop) loops.push(loop);
    }
    return loops;
  }

  async loopDevice(device: string): Promise<LoopDevice | null> {
    const name = /^\/dev\/(loop\d+)$/.exec(device)?.[1];
    if (name === undefined) return null;
    // The same attributes losetup --list reads, straight from the kernel: no process, and one
    // device only, however many loop devices the host has.
    const dir = `${SYS_BLOCK}/${name}`;
    const read = async (path: string): Promise<string | null> =>
      this.files.readText(`${dir}/${path}`).then(
        (text) => text.replace(/\n$/, ''),
        (error: unknown) => {
          if (hasCode(error, 'NotFound')) return null;
          throw error;
        },
      );
    const backingFile = await read('loop/backing_file');
    if (backingFile === null) return null;
    const fields = {
      offset: await read('loop/offset'),
      sizeLimit: await read('loop/sizelimit'),
      autoclear: await read('loop/autoclear'),
      readOnly: await read('ro'),
      sectorSize: await read('queue/logical_block_size'),
    };
    if (Object.values(fields).some((value) => value === null)) return null; // Detached meanwhile.
    return parseLoopSysfs(device, backingFile, fields as Record<keyof typeof fields, string>);
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
      const sectors = await this.files.readText(`${dir}/size`).catch(() => null);
      const logical = await this.files
        .readText(`${dir}/queue/logical_block_size`)
        .catch(() => this.files.readText(`${dir}/../queue/logical_block_size`))
        .catch(() => null);
      if (sectors !== null && logical !== null) {
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
