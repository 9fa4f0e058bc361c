import { DriverError, hasCode, isDriverError } from '../errors.js';
import type { BlockDevices } from '../ports/block-devices.js';
import type { HostFiles } from '../ports/host-files.js';
import type {
  ConnectedVolume,
  ConnectionInfo,
  VolumeConnector,
} from '../ports/volume-connector.js';

/** The driver_volume_types PortVolumeConnector handles. */
export const SUPPORTED_VOLUME_TYPES = ['local', 'file'] as const;

/**
 * The volume connector both backends use, over the BlockDevices and HostFiles ports:
 * - `local`: `data.device_path` is already a local block device (Cinder's LVM on this host,
 *   a disk os-brick attached, ...); nothing to attach or release.
 * - `file`: `data.path` is a file-backed volume attached as a loop device; `data.device_path`
 *   is filled in, as os-brick fills it, and released only while it still shows that file:
 *   the number may have been reused by someone else since (Nova's teardown_container, Debian
 *   python3-nova 26.2.2, was seen detaching by number a device another process had just attached).
 */
export class PortVolumeConnector implements VolumeConnector {
  constructor(
    private readonly blockDevices: BlockDevices,
    private readonly files: HostFiles,
  ) {}

  async connect(connectionInfo: ConnectionInfo): Promise<ConnectedVolume> {
    const { type, data } = read(connectionInfo);
    return type === 'local' ? this.connectLocal(data) : this.connectFile(data);
  }

  async disconnect(connectionInfo: ConnectionInfo): Promise<void> {
    const { type, data } = read(connectionInfo);
    if (type === 'local') return; // Nothing was attached.
    const device = optionalString(data, 'device_path');
    const path = optionalString(data, 'path');
    if (device === undefined || path === undefined) return;
    const backing = await this.files.realpath(path).catch(() => path);
    // A deleted file still backs its loop device; the kernel then shows "PATH (deleted)".
    const loop = (await this.blockDevices.listLoops()).find(
      (l) =>
        l.device === device &&
        l.offset === 0 &&
        (l.backingFile === backing || l.backingFile === `${backing} (deleted)`),
    );
    if (!loop) return;
    try {
      await this.blockDevices.detachLoop(device);
    } catch (error) {
      if (!hasCode(error, 'NotFound')) throw error;
    }
  }

  private async connectLocal(data: Record<string, unknown>): Promise<ConnectedVolume> {
    const device = requireString(data, 'device_path', 'local');
    const real = await this.files.realpath(device).catch((error: unknown) => {
      // Only a missing path "does not exist"; a too long name, a symlink loop or a path
      // through a file keep their own reason.
      if (hasCode(error, 'NotFound') && /ENOENT|No such file/.test(error.message)) return null;
      throw isDriverError(error)
        ? new DriverError(error.code, `Failed to connect volume: ${error.message}`, {
            cause: error,
            details: { device_path: device },
          })
        : error;
    });
    const kind = real === null ? null : await this.files.kind(real);
    if (kind === null) {
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

  private async connectFile(data: Record<string, unknown>): Promise<ConnectedVolume> {
    const path = requireString(data, 'path', 'file');
    const backing = await this.files.realpath(path).catch((error: unknown) => {
      throw hasCode(error, 'NotFound')
        ? new DriverError('NotFound', `Failed to connect volume: ${path} does not exist`, {
            cause: error,
          })
        : error;
    });
    if ((await this.files.kind(backing)) !== 'file') {
      throw new DriverError('NotFound', `Failed to connect volume: ${path} is not a file`);
    }
    const known = optionalString(data, 'device_path');
    if (known !== undefined) {
      const loop = (await this.blockDevices.listLoops()).find(
        (l) => l.device === known && l.backingFile === backing && l.offset === 0,
      );
      if (loop) return { devicePath: loop.device };
    }
    const loop = await this.blockDevices.attachLoop(backing);
    data['device_path'] = loop.device;
    return { devicePath: loop.device };
  }
}

function read(connectionInfo: ConnectionInfo): { type: string; data: Record<string, unknown> } {
  const type = connectionInfo?.driver_volume_type;
  if (type !== 'local' && type !== 'file') {
    throw new DriverError(
      'Unsupported',
      `Failed to connect volume: driver_volume_type '${String(type)}' is not supported`,
      { hint: `Supported here: ${SUPPORTED_VOLUME_TYPES.join(', ')}.` },
    );
  }
  const data = connectionInfo.data;
  if (typeof data !== 'object' || data === null) {
    throw new DriverError(
      'InvalidInput',
      'Failed to connect volume: connection_info.data must be an object',
    );
  }
  return { type, data };
}

function optionalString(data: Record<string, unknown>, key: string): string | undefined {
  const value = data[key];
  return typeof value === 'string' && value !== '' ? value : undefined;
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
