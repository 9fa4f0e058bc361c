import { posix } from 'node:path';
import { checkImage, inspectImage, type ImageInspection } from '../driver/core/image-format.js';
import { DriverError } from '../driver/errors.js';
import type { DiskFormat, ImageFile, ImageStore } from '../driver/ports/image-store.js';
import { qcow2Header } from './qcow2-header.js';
import type { SimDisk, SimState } from './state.js';

/** Image ids are file names in the cache, as the real store insists. */
const IMAGE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * The host's image cache, `<imagesDir>/<id>`, with the real store's rules: images are
 * inspected by the same pure inspector over the bytes a raw read of the file shows, a
 * symlink or a file outside the cache is refused, instance disks are copies or overlays.
 */
export class SimulatedImageStore implements ImageStore {
  constructor(private readonly state: SimState) {}

  async lookup(imageId: string): Promise<ImageFile> {
    return (await this.cached(imageId)).image;
  }

  async createInstanceDisk(
    imageId: string,
    path: string,
    format: DiskFormat,
    declaredFormat?: string | null,
  ): Promise<ImageFile> {
    const { image, inspection, disk: base } = await this.cached(imageId);
    checkImage(imageId, inspection, { declared: declaredFormat });
    const existing = await this.instanceDisk(path, format, image);
    if (existing) return existing;
    const disk = this.state.copyDisk(base, path, format);
    if (format === 'qcow2') {
      disk.qcow2Header = qcow2Header({
        virtualSize: image.size,
        backingFile: image.path,
        backingFormat: image.format,
      });
    }
    return { path, format, size: disk.content.size };
  }

  private async cached(
    imageId: string,
  ): Promise<{ image: ImageFile; inspection: ImageInspection; disk: SimDisk }> {
    if (!IMAGE_ID.test(imageId)) {
      throw new DriverError('InvalidInput', `Failed to look up image: bad image id '${imageId}'`, {
        hint: 'An image id is a Glance UUID: letters, digits, dot, dash and underscore.',
      });
    }
    const path = posix.join(this.state.imagesDir, imageId);
    const kind = this.kindOf(path);
    const disk = this.state.disks.get(path);
    if (kind === null || (kind === 'file' && !disk)) {
      throw new DriverError('NotFound', `Failed to look up image: ${imageId} is not cached`, {
        details: { imageId, dir: this.state.imagesDir },
      });
    }
    if (kind !== 'file' || !disk) {
      throw new DriverError(
        'InvalidInput',
        `Failed to look up image: ${path} is a ${kind}, not a file in the image cache`,
        { hint: `Replace it with the image file itself, inside ${this.state.imagesDir}.` },
      );
    }
    const inspection = await inspectImage(this.reader(disk));
    checkImage(imageId, inspection);
    return {
      image: { path, format: inspection.format as DiskFormat, size: inspection.virtualSize },
      inspection,
      disk,
    };
  }

  private async instanceDisk(
    path: string,
    format: DiskFormat,
    image: ImageFile,
  ): Promise<ImageFile | null> {
    const kind = this.kindOf(path);
    if (kind === null) return null;
    const disk = this.state.disks.get(path);
    if (kind !== 'file' || !disk) {
      throw new DriverError(
        'InvalidInput',
        `Failed to use instance disk: ${path} is a ${kind === 'file' ? 'file without disk content' : kind}, not a file`,
      );
    }
    if (format === 'raw') return { path, format, size: disk.content.size };
    const inspection = await inspectImage(this.reader(disk));
    checkImage(path, inspection, {
      declared: 'qcow2',
      allowedBacking: { path: image.path, format: image.format },
    });
    return { path, format, size: inspection.virtualSize };
  }

  /** What lstat says about a host path: symlinks are not followed. */
  private kindOf(path: string): 'file' | 'directory' | 'symlink' | 'other' | null {
    if (this.state.disks.get(path)?.kind === 'block') return 'other';
    try {
      const stat = this.state.host.lstatSync(path);
      if (stat.isSymbolicLink()) return 'symlink';
      return stat.isDirectory() ? 'directory' : stat.isFile() ? 'file' : 'other';
    } catch {
      return null;
    }
  }

  /** A raw read of the file: a qcow2 file shows its header, a raw one its bytes. */
  private reader(disk: SimDisk) {
    const view = { disk, base: 0, length: disk.content.size, raw: disk.format === 'raw' };
    const size = disk.format === 'raw' ? disk.content.size : this.qcow2FileSize(disk);
    return {
      size,
      read: async (offset: number, length: number) =>
        this.state.readView({ ...view, length: size }, offset, length),
    };
  }

  /** A qcow2 file is at least its first cluster long; its data clusters are not modelled. */
  private qcow2FileSize(disk: SimDisk): number {
    return Math.max(disk.qcow2Header?.length ?? 0, 196_608);
  }
}
