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
 * (Nova's image backend: Flat copies, Qcow2 overlays). Image content is never trusted to say
 * what it is: every image is inspected (driver/core/image-format.ts) and refused with
 * InvalidInput when it is unsafe (a qcow2 backing file or external data file, unknown qcow2
 * features, two formats' signatures at once) or is not a file inside the cache (an id that is
 * a path, a symlink out of the cache); Unsupported for a format nova-lxc cannot boot.
 */
export interface ImageStore {
  /** The cached image for `imageId`, inspected. NotFound when unknown. Safe to repeat. */
  lookup(imageId: string): Promise<ImageFile>;

  /**
   * Creates the instance disk at `path` from image `imageId`: a sparse copy for raw, a
   * qcow2 overlay backed by the cached image for qcow2. `declaredFormat` is Glance's
   * `disk_format`: content of another format is refused with InvalidInput (OSSA-2024-001), a
   * format other than raw or qcow2 with Unsupported. An existing disk at `path` is kept and
   * returned (a hard reboot reuses it): a raw one as it is (its content is the guest's, never
   * probed), a qcow2 one only when backed by exactly the cached image. NotFound for an
   * unknown image.
   */
  createInstanceDisk(
    imageId: string,
    path: string,
    format: DiskFormat,
    declaredFormat?: string | null,
  ): Promise<ImageFile>;
}
