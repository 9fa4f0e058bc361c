import type {
  BlockDevices,
  DeviceGeometry,
  LoopAttachOptions,
  LoopDevice,
} from '../driver/ports/block-devices.js';
import { DriverError } from '../driver/errors.js';
import {
  losetupExhausted,
  losetupNoFile,
  losetupNotAttached,
  losetupPathFailure,
} from './failures.js';
import { errnoOf } from './paths.js';
import { isUnder } from '../driver/core/kernel-paths.js';
import { noSuchPath, type SimLoop, type SimState } from './state.js';

/** Loop devices with the kernel's rules: lowest free number, offset and size limit, busy while held. */
export class SimulatedBlockDevices implements BlockDevices {
  constructor(private readonly state: SimState) {}

  async attachLoop(path: string, options: LoopAttachOptions = {}): Promise<LoopDevice> {
    const argv = attachArgv(path, options);
    let backingFile: string;
    try {
      // The kernel keeps the path of the file it opened: symlinks resolved.
      backingFile = this.state.realpath(path);
    } catch (error) {
      const errno = errnoOf(error) ?? 'ENOENT';
      throw errno === 'ENOENT' ? losetupNoFile(argv, path) : losetupPathFailure(argv, path, errno);
    }
    const under = this.state.view(backingFile);
    if (!under) {
      throw losetupNoFile(argv, path);
    }
    const offset = options.offset ?? 0;
    const sizeLimit = options.sizeLimit ?? 0;
    if (offset < 0 || sizeLimit < 0 || offset >= under.length) {
      // losetup refuses an offset at or past the end of the backing file.
      throw new DriverError(
        'InvalidInput',
        `Failed to attach loop device: offset ${offset} is outside ${path} (${under.length} bytes)`,
        { details: { path, offset, sizeLimit } },
      );
    }
    const sectorSize = options.sectorSize ?? 512;
    if (sectorSize !== 512 && sectorSize !== 4096) {
      throw new DriverError(
        'InvalidInput',
        `Failed to attach loop device: sector size ${sectorSize} is not 512 or 4096`,
      );
    }
    const index = this.state.loops.findIndex((l) => l === undefined);
    if (index < 0) {
      throw losetupExhausted(argv);
    }
    const loop: SimLoop = {
      device: `/dev/loop${index}`,
      backingFile,
      offset,
      sizeLimit,
      readOnly: options.readOnly ?? false,
      sectorSize,
      autoclear: false,
      diskseq: this.state.nextDiskseq(),
    };
    this.state.loops[index] = loop;
    return toLoopDevice(loop);
  }

  async detachLoop(device: string): Promise<void> {
    const loop = this.state.loopAt(device);
    if (!loop) {
      throw losetupNotAttached(['losetup', '--detach', device], device);
    }
    if (this.state.holders(device) > 0) {
      // The kernel defers the detach of an open device and frees it on last close.
      loop.autoclear = true;
      throw new DriverError('Busy', `Failed to detach loop device: ${device} is still in use`, {
        details: { device, backingFile: loop.backingFile },
      });
    }
    this.state.loops[this.state.loops.indexOf(loop)] = undefined;
    this.state.nextDiskseq();
    this.state.settleAutoclear();
  }

  async listLoops(): Promise<LoopDevice[]> {
    return this.state.loops.filter((l): l is SimLoop => l !== undefined).map(toLoopDevice);
  }

  async loopsOver(backingFile: string): Promise<LoopDevice[]> {
    // The kernel's spelling, compared exactly: the canonical path at attach, or
    // `PATH (deleted)` once unlinked; no resolution of the caller's path.
    return this.state.loops
      .filter((l): l is SimLoop => l !== undefined && l.backingFile === backingFile)
      .map(toLoopDevice);
  }

  async loopsUnder(dir: string): Promise<LoopDevice[]> {
    return this.state.loops
      .filter((l): l is SimLoop => l !== undefined && isUnder(l.backingFile, dir))
      .map(toLoopDevice);
  }

  async loopDevice(device: string): Promise<LoopDevice | null> {
    const loop = this.state.loopAt(device);
    return loop ? toLoopDevice(loop) : null;
  }

  async read(path: string, offset: number, length: number): Promise<Uint8Array> {
    const view = this.state.view(path);
    if (!view) {
      throw noSuchPath('read device', path);
    }
    return this.state.readView(view, offset, length);
  }

  async geometry(path: string): Promise<DeviceGeometry> {
    const view = this.state.view(path);
    if (!view) {
      throw noSuchPath('read device geometry', path);
    }
    const loop = this.state.loopAt(path);
    const isFile = this.state.disks.get(path)?.kind === 'file';
    const logicalSectorSize = loop ? loop.sectorSize : isFile ? 512 : view.disk.content.sectorSize;
    return { size: view.length, logicalSectorSize };
  }
}

function toLoopDevice(loop: SimLoop): LoopDevice {
  return { ...loop };
}

function attachArgv(path: string, options: LoopAttachOptions): string[] {
  const argv = ['losetup', '--find', '--show'];
  if (options.offset) argv.push('--offset', String(options.offset));
  if (options.sizeLimit) argv.push('--sizelimit', String(options.sizeLimit));
  if (options.readOnly) argv.push('--read-only');
  if (options.sectorSize) argv.push('--sector-size', String(options.sectorSize));
  argv.push(path);
  return argv;
}
