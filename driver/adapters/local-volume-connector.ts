import { DriverError, hasCode } from '../errors.js';
import type { BlockDevices } from '../ports/block-devices.js';
import type {
  ConnectedVolume,
  ConnectionInfo,
  VolumeConnector,
} from '../ports/volume-connector.js';
import type { SystemFiles } from './system-files.js';

/** The driver_volume_types this connector understands. */
export const LOCAL_VOLUME_TYPES = ['local', 'file'] as const;

function stringField(info: ConnectionInfo, key: string): string | undefined {
  const value = info.data[key];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function requireField(info: ConnectionInfo, key: string): string {
  const value = stringField(info, key);
  if (value === undefined) {
    throw new DriverError(
      'InvalidInput',
      `Failed to connect volume: connection_info.data.${key} is missing (driver_volume_type ${info.driver_volume_type})`,
    );
  }
  return value;
}

/**
 * Volumes that are already local: `local` (data.device_path is a block device) and `file`
 * (data.path is attached as a loop device and data.device_path filled in, as os-brick does).
 */
export class LocalVolumeConnector implements VolumeConnector {
  constructor(
    private readonly blockDevices: BlockDevices,
    private readonly files: SystemFiles,
  ) {}

  async connect(connectionInfo: ConnectionInfo): Promise<ConnectedVolume> {
    switch (connectionInfo.driver_volume_type) {
      case 'local':
        return this.connectLocal(connectionInfo);
      case 'file':
        return this.connectFile(connectionInfo);
      default:
        throw new DriverError(
          'Unsupported',
          `Failed to connect volume: driver_volume_type '${connectionInfo.driver_volume_type}' is not supported`,
          { hint: `Supported here: ${LOCAL_VOLUME_TYPES.join(', ')}.` },
        );
    }
  }

  async disconnect(connectionInfo: ConnectionInfo): Promise<void> {
    if (connectionInfo.driver_volume_type !== 'file') return; // `local`: nothing was attached.
    const device = stringField(connectionInfo, 'device_path');
    const path = stringField(connectionInfo, 'path');
    if (device === undefined || path === undefined) return;
    // A deleted file still backs its loop device; the kernel then shows "PATH (deleted)".
    const backing = await this.files.realpath(path).catch(() => path);
    const loop = (await this.blockDevices.listLoops()).find(
      (candidate) =>
        candidate.device === device &&
        (candidate.backingFile === backing || candidate.backingFile === `${backing} (deleted)`),
    );
    // Only a loop device that still shows our file under our name is ours to detach; the
    // number may have been reused by someone else since (observed with Nova, reference §10.10).
    if (!loop) return;
    try {
      await this.blockDevices.detachLoop(device);
    } catch (error) {
      if (!hasCode(error, 'NotFound')) throw error;
    }
  }

  private async connectLocal(info: ConnectionInfo): Promise<ConnectedVolume> {
    const device = requireField(info, 'device_path');
    const real = await this.files.realpath(device).catch(() => null);
    const kind = real === null ? null : (await this.files.stat(real))?.kind;
    if (kind === null || kind === undefined) {
      throw new DriverError('NotFound', `Failed to connect volume: ${device} does not exist`);
    }
    if (kind !== 'block-device') {
      throw new DriverError(
        'InvalidInput',
        `Failed to connect volume: ${device} is not a block device (${kind})`,
        { hint: "Use driver_volume_type 'file' for an image file." },
      );
    }
    return { devicePath: device };
  }

  private async connectFile(info: ConnectionInfo): Promise<ConnectedVolume> {
    const path = requireField(info, 'path');
    const backing = await this.backingPath(path);
    if ((await this.files.stat(backing))?.kind !== 'file') {
      throw new DriverError('NotFound', `Failed to connect volume: ${path} is not a file`);
    }
    const known = stringField(info, 'device_path');
    if (known !== undefined) {
      const loop = (await this.blockDevices.listLoops()).find(
        (candidate) => candidate.device === known && candidate.backingFile === backing,
      );
      if (loop) return { devicePath: loop.device };
    }
    const loop = await this.blockDevices.attachLoop(backing);
    info.data['device_path'] = loop.device;
    return { devicePath: loop.device };
  }

  private async backingPath(path: string): Promise<string> {
    try {
      return await this.files.realpath(path);
    } catch (error) {
      if (hasCode(error, 'NotFound')) {
        throw new DriverError('NotFound', `Failed to connect volume: ${path} does not exist`, {
          cause: error,
        });
      }
      throw error;
    }
  }
}
