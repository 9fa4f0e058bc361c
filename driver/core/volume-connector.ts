import { DriverError, hasCode } from '../errors.js';
import type { BlockDevices } from '../ports/block-devices.js';
import type {
  ConnectedVolume,
  ConnectionInfo,
  VolumeConnector,
} from '../ports/volume-connector.js';

/**
 * The volume connector both backends use, over the BlockDevices port:
 * - `local`: `data.device_path` is already a local block device (Cinder's LVM on this host,
 *   an iSCSI disk os-brick attached, ...); nothing to attach or release.
 * - `file`: `data.path` is a file-backed volume attached as a loop device; `data.device_path`
 *   is filled in, as os-brick fills it, and released only while it still backs that file.
 */
export class PortVolumeConnector implements VolumeConnector {
  constructor(private readonly blockDevices: BlockDevices) {}

  async connect(connectionInfo: ConnectionInfo): Promise<ConnectedVolume> {
    const { type, data } = read(connectionInfo);
    if (type === 'local') {
      const devicePath = requireString(data, 'device_path', type);
      // Fails with NotFound when the device is missing.
      await this.blockDevices.geometry(devicePath);
      return { devicePath };
    }
    const path = requireString(data, 'path', type);
    const current = await this.ownLoop(data, path);
    if (current) {
      return { devicePath: current };
    }
    const loop = await this.blockDevices.attachLoop(path);
    data['device_path'] = loop.device;
    return { devicePath: loop.device };
  }

  async disconnect(connectionInfo: ConnectionInfo): Promise<void> {
    const { type, data } = read(connectionInfo);
    if (type === 'local') {
      return;
    }
    const path = requireString(data, 'path', type);
    const device = await this.ownLoop(data, path);
    if (!device) {
      // Already released, or the number now backs something else: never touch it.
      return;
    }
    try {
      await this.blockDevices.detachLoop(device);
    } catch (error) {
      if (!hasCode(error, 'NotFound')) {
        throw error;
      }
    }
  }

  /** The loop device recorded in `data.device_path`, if it still backs `path`. */
  private async ownLoop(data: Record<string, unknown>, path: string): Promise<string | undefined> {
    const device = data['device_path'];
    if (typeof device !== 'string') {
      return undefined;
    }
    const loops = await this.blockDevices.listLoops();
    const loop = loops.find((l) => l.device === device);
    return loop && loop.backingFile === path && loop.offset === 0 && !loop.autoclear
      ? device
      : undefined;
  }
}

/** The volume types PortVolumeConnector handles. */
export const SUPPORTED_VOLUME_TYPES = ['local', 'file'] as const;

function read(connectionInfo: ConnectionInfo): { type: string; data: Record<string, unknown> } {
  const type = connectionInfo?.driver_volume_type;
  if (type !== 'local' && type !== 'file') {
    throw new DriverError(
      'Unsupported',
      `Failed to connect volume: driver_volume_type '${String(type)}' is not supported by nova-lxc`,
      { hint: `Supported types: ${SUPPORTED_VOLUME_TYPES.join(', ')}.` },
    );
  }
  const data = connectionInfo.data;
  if (typeof data !== 'object' || data === null) {
    throw new DriverError(
      'InvalidInput',
      `Failed to connect volume: connection_info.data must be an object`,
    );
  }
  return { type, data };
}

function requireString(data: Record<string, unknown>, key: string, type: string): string {
  const value = data[key];
  if (typeof value !== 'string' || !value.startsWith('/')) {
    throw new DriverError(
      'InvalidInput',
      `Failed to connect volume: connection_info.data.${key} must be an absolute path for driver_volume_type '${type}', got ${JSON.stringify(value)}`,
    );
  }
  return value;
}
