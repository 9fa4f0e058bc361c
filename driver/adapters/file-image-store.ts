import { dirname, join } from 'node:path';
import { checkImage, inspectImage, type ImageInspection } from '../core/image-format.js';
import type { ByteReader } from '../core/partition-table.js';
import { CommandError, DriverError, hasCode } from '../errors.js';
import type { DiskFormat, ImageFile, ImageStore } from '../ports/image-store.js';
import type { CommandRunner } from './command-runner.js';
import * as commands from './commands.js';
import type { SystemFiles } from './system-files.js';
import { QEMU_ERRORS, classifyBy } from './tool-errors.js';

const classify = classifyBy(QEMU_ERRORS);

/** Image ids are file names in the cache: never a path, never hidden, never `..`. */
const IMAGE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * A directory of cached Glance images, `<dir>/<imageId>`, and instance disks made from them.
 * Every image is inspected before use (format_inspector's rules, driver/core/image-format.ts),
 * and every qemu-img call names the format it reads: nothing is guessed from content.
 */
export class FileImageStore implements ImageStore {
  constructor(
    private readonly runner: CommandRunner,
    private readonly files: SystemFiles,
    private readonly dir: string,
  ) {}

  async lookup(imageId: string): Promise<ImageFile> {
    return (await this.cached(imageId)).image;
  }

  async createInstanceDisk(
    imageId: string,
    path: string,
    format: DiskFormat,
    declaredFormat?: string | null,
  ): Promise<ImageFile> {
    const { image, inspection } = await this.cached(imageId);
    checkImage(imageId, inspection, { declared: declaredFormat });
    const existing = await this.instanceDisk(path, format, image);
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
    const created = await this.instanceDisk(path, format, image);
    if (!created) throw new DriverError('Internal', `Failed to create instance disk ${path}`);
    return created;
  }

  /** The cached image, inspected; refuses ids that are paths and files that are not in the cache. */
  private async cached(
    imageId: string,
  ): Promise<{ image: ImageFile; inspection: ImageInspection }> {
    if (!IMAGE_ID.test(imageId)) {
      throw new DriverError('InvalidInput', `Failed to look up image: bad image id '${imageId}'`, {
        hint: 'An image id is a Glance UUID: letters, digits, dot, dash and underscore.',
      });
    }
    const path = join(this.dir, imageId);
    const info = await this.files.stat(path);
    if (info === null) {
      throw new DriverError('NotFound', `Failed to look up image: ${imageId} is not cached`, {
        details: { imageId, dir: this.dir },
      });
    }
    if (info.kind !== 'file') {
      // A symlink could point anywhere on the host (/dev/sda, another tenant's disk).
      throw new DriverError(
        'InvalidInput',
        `Failed to look up image: ${path} is a ${info.kind}, not a file in the image cache`,
        { hint: `Replace it with the image file itself, inside ${this.dir}.` },
      );
    }
    // One after the other: the recorded transcripts replay the calls in the order they end.
    const real = await this.files.realpath(path);
    const realDir = await this.files.realpath(this.dir);
    if (dirname(real) !== realDir) {
      throw new DriverError(
        'InvalidInput',
        `Failed to look up image: ${path} resolves to ${real}, outside the image cache ${realDir}`,
      );
    }
    const inspection = await inspectImage(this.reader(path, info.size));
    checkImage(imageId, inspection);
    return {
      image: { path, format: inspection.format as DiskFormat, size: inspection.virtualSize },
      inspection,
    };
  }

  /**
   * An existing instance disk, checked: a raw disk is never probed (its content is the
   * guest's), a qcow2 overlay must be backed by exactly the cached image. Null when absent.
   */
  private async instanceDisk(
    path: string,
    format: DiskFormat,
    image: ImageFile,
  ): Promise<ImageFile | null> {
    const info = await this.files.stat(path);
    if (info === null) return null;
    if (info.kind !== 'file') {
      throw new DriverError(
        'InvalidInput',
        `Failed to use instance disk: ${path} is a ${info.kind}, not a file`,
      );
    }
    if (format === 'raw') return { path, format, size: info.size };
    const inspection = await inspectImage(this.reader(path, info.size));
    checkImage(path, inspection, {
      declared: 'qcow2',
      allowedBacking: { path: image.path, format: image.format },
    });
    return { path, format, size: inspection.virtualSize };
  }

  private reader(path: string, size: number): ByteReader {
    return { size, read: (offset, length) => this.files.readBytes(path, offset, length) };
  }
}
