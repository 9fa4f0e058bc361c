/** Nova's connection_info: `driver_volume_type` plus transport data. */
export interface ConnectionInfo {
  driver_volume_type: string;
  data: Record<string, unknown>;
  [key: string]: unknown;
}

/** The local side of a connected volume. */
export interface ConnectedVolume {
  /** Local block device path, e.g. `/dev/sdb` or `/dev/loop3`. */
  devicePath: string;
}

/**
 * Turns Cinder connection_info into a local block device and back (os-brick's role).
 */
export interface VolumeConnector {
  /**
   * Connects and returns the local device. Fails with Unsupported for an unknown
   * driver_volume_type, NotFound when the device or backing file is missing. Connecting an
   * already connected volume returns the same device.
   */
  connect(connectionInfo: ConnectionInfo): Promise<ConnectedVolume>;

  /**
   * Disconnects what `connect` set up. Releases only what it can prove it attached;
   * an already disconnected volume is success. Safe to repeat.
   */
  disconnect(connectionInfo: ConnectionInfo): Promise<void>;
}
