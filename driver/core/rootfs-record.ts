import type { LoopDevice } from '../ports/block-devices.js';
import type { IdMap } from '../ports/host-files.js';
import type { NbdConnection } from '../ports/nbd.js';

/** The system_metadata key Nova uses for the mounted rootfs device. */
export const ROOTFS_DEVICE_KEY = 'rootfs_device_name';

/** Our system_metadata key: what the driver attached, with what proves it is still ours. */
export const ROOTFS_RECORD_KEY = 'nova_lxc_rootfs';

/** One device the driver attached for a rootfs, in attach order. */
export type AttachedDevice =
  | { kind: 'loop'; device: string; backingFile: string; offset: number; sizeLimit: number }
  | { kind: 'nbd'; device: string; file: string };

/** What the disk handler set up for one instance; stored as JSON in system_metadata. */
export interface RootfsRecord {
  version: 1;
  /** The host mount point, `<instances_path>/<uuid>/rootfs`. */
  mountPoint: string;
  /** Where the bytes come from: the root volume's device, or the instance disk file. */
  source:
    | { kind: 'volume'; devicePath: string }
    | { kind: 'image'; path: string; format: 'raw' | 'qcow2' };
  /** Devices attached by the driver, in attach order (released in reverse). */
  attached: AttachedDevice[];
  /** The device mounted on `mountPoint`, once mounted. */
  mountedDevice?: string;
  fstype?: string;
  /** Partition number used, or null for the whole device. */
  partition?: number | null;
  /**
   * The owner shift of the mounted tree, once done: `changed` false when the tree was already
   * shifted (a hard reboot, or a volume another instance booted first) and was left alone.
   */
  idShift?: { uid: IdMap[]; gid: IdMap[]; changed: boolean };
}

/** Reads the record from system_metadata; a malformed one is treated as absent (never guessed at). */
export function readRootfsRecord(systemMetadata: Record<string, string>): RootfsRecord | undefined {
  const raw = systemMetadata[ROOTFS_RECORD_KEY];
  if (typeof raw !== 'string') {
    return undefined;
  }
  try {
    const parsed = JSON.parse(raw) as Partial<RootfsRecord>;
    if (
      parsed.version !== 1 ||
      typeof parsed.mountPoint !== 'string' ||
      !Array.isArray(parsed.attached)
    ) {
      return undefined;
    }
    return parsed as RootfsRecord;
  } catch {
    return undefined;
  }
}

/** Writes the record (and Nova's rootfs_device_name) into system_metadata. */
export function writeRootfsRecord(
  systemMetadata: Record<string, string>,
  record: RootfsRecord,
): void {
  systemMetadata[ROOTFS_RECORD_KEY] = JSON.stringify(record);
  if (record.mountedDevice) {
    systemMetadata[ROOTFS_DEVICE_KEY] = record.mountedDevice;
  }
}

/** Removes both keys, once everything recorded is released. */
export function clearRootfsRecord(systemMetadata: Record<string, string>): void {
  delete systemMetadata[ROOTFS_RECORD_KEY];
  delete systemMetadata[ROOTFS_DEVICE_KEY];
}

/** A loop device as recorded at attach time. */
export function recordLoop(loop: LoopDevice): AttachedDevice {
  return {
    kind: 'loop',
    device: loop.device,
    backingFile: loop.backingFile,
    offset: loop.offset,
    sizeLimit: loop.sizeLimit,
  };
}

/** An nbd connection as recorded at attach time. */
export function recordNbd(connection: NbdConnection): AttachedDevice {
  return { kind: 'nbd', device: connection.device, file: connection.file };
}

/**
 * Whether a currently attached loop device is provably the one we attached: same device,
 * same backing file, same offset and size limit. Nova releases by name alone and has been
 * seen detaching another process's device (teardown_container retries `losetup --detach` by
 * number; observed with Debian's python3-nova 26.2.2).
 */
export function isSameLoop(
  recorded: AttachedDevice & { kind: 'loop' },
  current: LoopDevice,
): boolean {
  return (
    current.device === recorded.device &&
    current.backingFile === recorded.backingFile &&
    current.offset === recorded.offset &&
    current.sizeLimit === recorded.sizeLimit
  );
}
