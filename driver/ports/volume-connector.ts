import type { FileIdentity } from './host-files.js';

/** Nova's connection_info: `driver_volume_type` plus transport data. */
export interface ConnectionInfo {
  driver_volume_type: string;
  data: Record<string, unknown>;
  [key: string]: unknown;
}

/** What proves a loop device attached for a file-backed volume is still the one attached. */
export interface VolumeAttachment {
  /** `/dev/loopN`. */
  device: string;
  /** The canonical path of the backing file at attach time. */
  backingFile: string;
  /** Device and inode of the backing file at attach time. */
  identity: FileIdentity;
  /** The kernel's diskseq of the attachment (absent where the kernel has none). */
  diskseq?: number;
}

/** The local side of a connected volume. */
export interface ConnectedVolume {
  /** Local block device path, e.g. `/dev/sdb` or `/dev/loop3`. */
  devicePath: string;
  /** The loop device this connect attached (file volumes); absent when nothing was attached. */
  attached?: VolumeAttachment;
}

/**
 * Turns Cinder connection_info into a local block device and back (os-brick's role).
 */
export interface VolumeConnector {
  /**
   * Connects and returns the local device; the caller records `attached` to disconnect later.
   * Fails with Unsupported for an unknown driver_volume_type, NotFound when the device or
   * backing file is missing, AlreadyExists when a loop device already serves the backing
   * file (a second attach would mount one filesystem twice). Writes nothing into
   * `connectionInfo`. Not idempotent: a connected volume is refused, not shared.
   */
  connect(connectionInfo: ConnectionInfo): Promise<ConnectedVolume>;

  /**
   * Disconnects what `connect` attached, as `attached` (the caller's record) describes it:
   * only while the loop device still serves that very file (same path, or the kernel's
   * `PATH (deleted)` once it was unlinked, and the same device and inode while it exists).
   * Without `attached`, or when it is no longer ours, nothing is released. A device that is
   * already gone is success; a detach the kernel refuses (Busy) is an error. Safe to repeat.
   */
  disconnect(connectionInfo: ConnectionInfo, attached?: VolumeAttachment): Promise<void>;
}
