/** Options for attaching a file or a byte range of a device as a loop device. */
export interface LoopAttachOptions {
  /** Byte offset into the backing file or device; default 0. */
  offset?: number;
  /** Bytes visible through the loop device from `offset`; default: to the end (unbounded). */
  sizeLimit?: number;
  readOnly?: boolean;
  /** Logical sector size of the loop device (512 or 4096); default: the kernel's (512). */
  sectorSize?: number;
}

/** One attached loop device as the kernel reports it. */
export interface LoopDevice {
  /** `/dev/loopN`. */
  device: string;
  /** Absolute path of the backing file or device, as the kernel records it. */
  backingFile: string;
  offset: number;
  /** 0 means unbounded (to the end of the backing file). */
  sizeLimit: number;
  readOnly: boolean;
  sectorSize: number;
  /** True when a detach was requested while busy: the kernel frees it on last close. */
  autoclear: boolean;
  /**
   * The kernel's disk sequence number of the device (`/sys/block/loopN/diskseq`, Linux 5.15 and
   * later): it changes on every attach and detach and never repeats within a boot, so an
   * attachment with the same number, file, offset and size limit but another diskseq is someone
   * else's. Absent where the kernel has none.
   */
  diskseq?: number;
}

/** Size and sector size of a block device or image file. */
export interface DeviceGeometry {
  /** Size in bytes. */
  size: number;
  /** Logical sector size in bytes; 512 for regular files. */
  logicalSectorSize: number;
}

/**
 * Loop devices and raw reads of block devices (the kernel's loop driver and /dev).
 * Ports are dumb: no retries, no policy; the driver decides what to attach and when.
 */
export interface BlockDevices {
  /**
   * Attaches `path` (a regular file or a block device) to the lowest free loop device.
   * Fails with NotFound when `path` does not exist, ResourceExhausted when no loop device
   * is free, InvalidInput for an offset/size outside the backing file.
   * Not idempotent: each call attaches a new loop device.
   */
  attachLoop(path: string, options?: LoopAttachOptions): Promise<LoopDevice>;

  /**
   * Detaches `device`. Fails with NotFound when it is not attached, and with Busy when the
   * kernel only deferred the detach (still mounted or open somewhere; it is then marked
   * autoclear and freed on last close). Callers must prove the device is theirs first.
   */
  detachLoop(device: string): Promise<void>;

  /**
   * Every attached loop device, ordered by device number. Never fails on an empty table. A
   * loop device of size 0 (over an empty file, or at an offset at its end) serves no bytes
   * and is not listed, here nor by loopsOver and loopsUnder: the kernel leaves it out of its
   * disk table (losetup warns it is "invisible for system tools"); the simulator never makes
   * one (its losetup refuses them).
   */
  listLoops(): Promise<LoopDevice[]>;

  /**
   * The attached loop devices whose backing file is `backingFile`, ordered by device number;
   * [] when none. Compared with the path the kernel records, exactly: the absolute path of the
   * file it opened (symlinks resolved at attach), so pass a canonical path; a file unlinked
   * since shows as `PATH (deleted)` and matches only that spelling. A snapshot: a device
   * attached or detached meanwhile may or may not be in it. One question, whatever the number
   * of loop devices: use it, not listLoops, to ask whether something already serves a file
   * (its cost must not grow with the other devices' attributes). Reads only; safe to repeat;
   * fails only when the kernel's table cannot be read.
   */
  loopsOver(backingFile: string): Promise<LoopDevice[]>;

  /**
   * The attached loop devices whose backing file is `dir` or inside it (`dir/...`), ordered by
   * device number; [] when none. `dir` is a canonical absolute path compared with the kernel's
   * spelling (see loopsOver); a file unlinked since (`PATH (deleted)`) still counts as inside.
   * Like loopsOver, one question whatever the number of loop devices: only the backing files
   * of the others are read, never their other attributes. Use it, not listLoops, to ask whether
   * anything still serves a file in a directory about to be removed. Reads only.
   */
  loopsUnder(dir: string): Promise<LoopDevice[]>;

  /**
   * The loop device `device` (`/dev/loopN`) as the kernel reports it now, or null when it is not
   * attached (or does not exist). Reads that one device only, so its cost does not grow with
   * the loop devices on the host: use it, not listLoops, to prove a known device is still ours.
   */
  loopDevice(device: string): Promise<LoopDevice | null>;

  /**
   * Reads up to `length` bytes at `offset` of a block device or regular file; fewer bytes
   * only at the end. Fails with NotFound for a missing path. Safe to repeat.
   */
  read(path: string, offset: number, length: number): Promise<Uint8Array>;

  /** Size and logical sector size of a block device or file. Fails with NotFound. */
  geometry(path: string): Promise<DeviceGeometry>;
}
