/** Disk formats the driver handles. */
export type DiskFormat = 'raw' | 'qcow2';

/** An image or instance disk file on the host. */
export interface ImageFile {
  path: string;
  format: DiskFormat;
  /** Virtual size in bytes. */
  size: number;
}

/**
 * Glance images cached on the host, and per-instance disks made from them
 * (Nova's image backend: Flat copies, Qcow2 overlays).
 */
export interface ImageStore {
  /** The cached image for `imageId`. NotFound when unknown. Safe to repeat. */
  lookup(imageId: string): Promise<ImageFile>;

  /**
   * Creates the instance disk at `path` from image `imageId`: a sparse copy for raw, a
   * qcow2 overlay backed by the cached image for qcow2. An existing disk at `path` is kept
   * and returned (a hard reboot reuses it). NotFound for an unknown image.
   */
  createInstanceDisk(imageId: string, path: string, format: DiskFormat): Promise<ImageFile>;
}
