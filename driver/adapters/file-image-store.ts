import { join } from 'node:path';
import { CommandError, DriverError, hasCode } from '../errors.js';
import type { DiskFormat, ImageFile, ImageStore } from '../ports/image-store.js';
import type { CommandRunner } from './command-runner.js';
import * as commands from './commands.js';
import type { SystemFiles } from './system-files.js';
import { QEMU_ERRORS, classifyBy } from './tool-errors.js';

const classify = classifyBy(QEMU_ERRORS);

/** The first four bytes of every qcow2 file: "QFI\xfb". */
export const QCOW2_MAGIC = [0x51, 0x46, 0x49, 0xfb] as const;

/** Format and virtual size from the first 32 bytes of an image file. */
export function probeImageHeader(header: Uint8Array, fileSize: number): Omit<ImageFile, 'path'> {
  const isQcow2 = QCOW2_MAGIC.every((byte, index) => header[index] === byte);
  if (!isQcow2) return { format: 'raw', size: fileSize };
  if (header.length < 32) {
    throw new DriverError('InvalidInput', 'Failed to read image: truncated qcow2 header');
  }
  // qcow2 header: bytes 24..31 hold the virtual size, big-endian.
  const view = new DataView(header.buffer, header.byteOffset, header.byteLength);
  return { format: 'qcow2', size: Number(view.getBigUint64(24)) };
}

/** A directory of cached Glance images, `<dir>/<imageId>`, and instance disks made from them. */
export class FileImageStore implements ImageStore {
  constructor(
    private readonly runner: CommandRunner,
    private readonly files: SystemFiles,
    private readonly dir: string,
  ) {}

  async lookup(imageId: string): Promise<ImageFile> {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(imageId)) {
      throw new DriverError('InvalidInput', `Failed to look up image: bad image id '${imageId}'`);
    }
    const image = await this.probe(join(this.dir, imageId));
    if (!image) {
      throw new DriverError('NotFound', `Failed to look up image: ${imageId} is not cached`, {
        details: { imageId, dir: this.dir },
      });
    }
    return image;
  }

  async createInstanceDisk(imageId: string, path: string, format: DiskFormat): Promise<ImageFile> {
    const image = await this.lookup(imageId);
    const existing = await this.probe(path);
    if (existing) return existing; // A hard reboot reuses the instance's disk.
    const argv =
      format === 'qcow2'
        ? commands.qemuImgCreateOverlay(path, image.path, image.format)
        : image.format === 'raw'
          ? commands.sparseCopy(image.path, path)
          : ['qemu-img', 'convert', '-f', 'qcow2', '-O', 'raw', image.path, path];
    try {
      await this.runner.run(argv, { action: 'create instance disk', classify });
    } catch (error) {
      if (hasCode(error, 'Unsupported') && error instanceof CommandError) {
        throw new DriverError(
          'Unsupported',
          `Failed to create instance disk: ${argv[0]} is not installed`,
          { hint: 'Install the Debian package qemu-utils, or use raw images.', cause: error },
        );
      }
      throw error;
    }
    const created = await this.probe(path);
    if (!created) throw new DriverError('Internal', `Failed to create instance disk ${path}`);
    return created;
  }

  private async probe(path: string): Promise<ImageFile | null> {
    const info = await this.files.stat(path);
    if (info === null) return null;
    if (info.kind !== 'file') {
      throw new DriverError('InvalidInput', `Failed to read image: ${path} is not a file`);
    }
    return { path, ...probeImageHeader(await this.files.readBytes(path, 0, 32), info.size) };
  }
}
