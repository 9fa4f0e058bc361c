import { DriverError } from '../driver/errors.js';
import type { DiskFormat, ImageFile, ImageStore } from '../driver/ports/image-store.js';
import type { SimState } from './state.js';

/** The host's image cache: image ids to disk files; instance disks are copies or overlays. */
export class SimulatedImageStore implements ImageStore {
  constructor(private readonly state: SimState) {}

  async lookup(imageId: string): Promise<ImageFile> {
    const image = this.state.images.get(imageId);
    const disk = image ? this.state.disks.get(image.path) : undefined;
    if (!image || !disk) {
      throw new DriverError(
        'NotFound',
        `Failed to find image ${imageId}: it is not in this host's image cache`,
        {
          hint: 'Check the instance image_ref, or fetch the image into the cache first.',
        },
      );
    }
    return { path: image.path, format: image.format, size: disk.content.size };
  }

  async createInstanceDisk(imageId: string, path: string, format: DiskFormat): Promise<ImageFile> {
    const image = await this.lookup(imageId);
    const existing = this.state.disks.get(path);
    if (existing) {
      return { path, format: existing.format, size: existing.content.size };
    }
    const base = this.state.disks.get(image.path);
    if (!base) {
      throw new DriverError(
        'NotFound',
        `Failed to create instance disk: image file ${image.path} vanished`,
      );
    }
    const disk = this.state.copyDisk(base, path, format);
    return { path, format, size: disk.content.size };
  }
}
