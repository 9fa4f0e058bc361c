import type { LoopDevice } from '../ports/block-devices.js';
import { deletedName } from './kernel-paths.js';
import type { FileIdentity, IdMap } from '../ports/host-files.js';
import type { NbdConnection } from '../ports/nbd.js';
import type { VolumeAttachment } from '../ports/volume-connector.js';

/** The system_metadata key Nova uses for the mounted rootfs device. */
export const ROOTFS_DEVICE_KEY = 'rootfs_device_name';

/** Our system_metadata key: what the driver attached, with what proves it is still ours. */
export const ROOTFS_RECORD_KEY = 'nova_lxc_rootfs';

/** One device the driver attached for a rootfs, in attach order. */
export type AttachedDevice =
  | {
      kind: 'loop';
      device: string;
      backingFile: string;
      offset: number;
      sizeLimit: number;
      /** Device and inode of a regular backing file at attach time (absent for a device). */
      identity?: FileIdentity;
      /** The kernel's diskseq of the attachment (absent where the kernel has none). */
      diskseq?: number;
    }
  | { kind: 'nbd'; device: string; file: string };

/** A volume the driver connected for the instance, with what proves its attachment is ours. */
export interface RecordedVolume {
  /** The volume's `connection_info.data.path` (file) or `device_path` (local). */
  key: string;
  /** Whether it is the root volume (boot_index 0). */
  root: boolean;
  /** The loop device attached for it; absent when nothing was attached (a local device). */
  attached?: VolumeAttachment;
}

/** What the driver set up for one instance; stored as JSON in system_metadata. */
export interface RootfsRecord {
  version: 1;
  /** The host mount point, `<instances_path>/<uuid>/rootfs`. */
  mountPoint: string;
  /** Where the bytes come from: the root volume's device, or the instance disk file. */
  source:
    | { kind: 'volume'; devicePath: string }
    | { kind: 'image'; path: string; format: 'raw' | 'qcow2' };
  /** Devices attached by the driver for the rootfs, in attach order (released in reverse). */
  attached: AttachedDevice[];
  /** Volumes connected by the driver (root first), released after the rootfs devices. */
  volumes?: RecordedVolume[];
  /**
   * The host's boot id (Clock.bootId) when the first of these was made. Devices, the mount and
   * volume attachments of an earlier boot went with it: they are never released from this
   * record, whatever holds those numbers now. Absent in records written before boot ids.
   */
  bootId?: string;
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

/** Whether nothing recorded is left to release: no device, no volume, no mount. */
export function isEmptyRecord(record: RootfsRecord): boolean {
  return (
    record.attached.length === 0 &&
    (record.volumes ?? []).length === 0 &&
    record.mountedDevice === undefined
  );
}

/** A loop device as recorded at attach time, with its backing file's identity when a file. */
export function recordLoop(loop: LoopDevice, identity?: FileIdentity | null): AttachedDevice {
  return {
    kind: 'loop',
    device: loop.device,
    backingFile: loop.backingFile,
    offset: loop.offset,
    sizeLimit: loop.sizeLimit,
    ...(identity ? { identity } : {}),
    ...(loop.diskseq === undefined ? {} : { diskseq: loop.diskseq }),
  };
}

/** An nbd connection as recorded at attach time. */
export function recordNbd(connection: NbdConnection): AttachedDevice {
  return { kind: 'nbd', device: connection.device, file: connection.file };
}

/**
 * Whether a currently attached loop device matches the record by what the kernel shows: same
 * device, backing file (or the kernel's `PATH (deleted)` once the file was unlinked), offset
 * and size limit, and the same diskseq when the record has one (a device freed and attached
 * again over the same file, by anyone, has another). A live backing file's identity is checked
 * by the caller on top of this. Nova releases by name alone and has been seen detaching
 * another process's device.
 */
export function isSameLoop(
  recorded: AttachedDevice & { kind: 'loop' },
  current: LoopDevice,
): boolean {
  return (
    current.device === recorded.device &&
    servesRecordedRange(current, recorded) &&
    sameAttachment(recorded.diskseq, current.diskseq)
  );
}

/**
 * Whether a loop device serves the recorded byte range of the recorded file: the same backing
 * file (or the kernel's `PATH (deleted)` once it was unlinked), offset and size limit.
 */
export function servesRecordedRange(
  current: LoopDevice,
  recorded: { backingFile: string; offset: number; sizeLimit: number },
): boolean {
  return (
    (current.backingFile === recorded.backingFile ||
      current.backingFile === deletedName(recorded.backingFile)) &&
    current.offset === recorded.offset &&
    current.sizeLimit === recorded.sizeLimit
  );
}

/**
 * Whether a recorded diskseq allows the device seen now: equal, or nothing recorded (a record
 * from before diskseqs, or a kernel without them). A record with one never matches a device
 * without one.
 */
export function sameAttachment(recorded: number | undefined, current: number | undefined): boolean {
  return recorded === undefined || recorded === current;
}
