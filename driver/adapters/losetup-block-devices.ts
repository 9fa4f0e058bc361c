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
import { parseBlockdevGeometry, parseLosetupJson, parseLosetupShow } from './parse-losetup.js';
import type { SystemFiles } from './system-files.js';
import { LOSETUP_ERRORS, classifyBy } from './tool-errors.js';

const classify = classifyBy(LOSETUP_ERRORS);

/** Tuning of the losetup adapter. */
export interface LosetupOptions {
  /** Attempts when losetup loses the race for the free device it found (EBUSY); default 4. */
  attachAttempts?: number;
  /** Checks of /sys after a detach before calling it deferred (Busy); default 3, 20 ms apart. */
  detachChecks?: number;
}

/** BlockDevices over util-linux losetup and blockdev, reading devices through SystemFiles. */
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
        const attached = (await this.listLoops()).find((loop) => loop.device === device);
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
    // mounted): the device then stays bound with autoclear set, so ask the kernel itself.
    const backing = `/sys/block/${device.replace(/^\/dev\//, '')}/loop/backing_file`;
    for (let check = 1; ; check++) {
      if ((await this.files.stat(backing)) === null) return;
      if (check >= this.detachChecks) break;
      await this.clock.sleep(20);
    }
    throw new DriverError('Busy', `Failed to detach loop device: ${device} is still in use`, {
      hint: 'It is mounted or open somewhere; the kernel frees it (autoclear) on last close.',
      details: { device, autoclear: true },
    });
  }

  async listLoops(): Promise<LoopDevice[]> {
    const { stdout } = await this.runner.run(commands.losetupList(), {
      action: 'list loop devices',
      classify,
    });
    return parseLosetupJson(stdout);
  }

  async read(path: string, offset: number, length: number): Promise<Uint8Array> {
    return this.files.readBytes(path, offset, length);
  }

  async geometry(path: string): Promise<DeviceGeometry> {
    const info = await this.files.stat(path);
    if (info === null) {
      throw new DriverError('NotFound', `Failed to read geometry: ${path} does not exist`);
    }
    if (info.kind === 'file') return { size: info.size, logicalSectorSize: 512 };
    const { stdout } = await this.runner.run(commands.blockdevGeometry(path), {
      action: 'read device geometry',
      classify,
    });
    return parseBlockdevGeometry(stdout);
  }
}
