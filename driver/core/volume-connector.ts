import { DriverError, hasCode, isDriverError } from '../errors.js';
import type { BlockDevices } from '../ports/block-devices.js';
import type { HostFiles } from '../ports/host-files.js';
import type { LoopDevice } from '../ports/block-devices.js';
import { deletedName } from './kernel-paths.js';
import { sameAttachment } from './rootfs-record.js';
import type {
  ConnectedVolume,
  ConnectionInfo,
  VolumeAttachment,
  VolumeConnector,
} from '../ports/volume-connector.js';

/** The driver_volume_types PortVolumeConnector handles. */
export const SUPPORTED_VOLUME_TYPES = ['local', 'file'] as const;

/**
 * The volume connector both backends use, over the BlockDevices and HostFiles ports:
 * - `local`: `data.device_path` is already a local block device (Cinder's LVM on this host,
 *   a disk os-brick attached, ...); nothing to attach or release.
 * - `file`: `data.path` is a file-backed volume attached as a loop device, refused while any
 *   loop device already serves that file. It is released only while the loop device still
 *   serves the very file recorded at attach time (path, device and inode): the number may
 *   have been reused by someone else since (Nova's teardown_container, Debian python3-nova
 *   26.2.2, was seen detaching by number a device another process had just attached).
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

  async disconnect(connectionInfo: ConnectionInfo, attached?: VolumeAttachment): Promise<void> {
    const { type } = read(connectionInfo);
    if (type === 'local' || attached === undefined) return; // Nothing we can prove we attached.
    const loop = await this.blockDevices.loopDevice(attached.device);
    if (!loop || !(await this.stillServes(loop, attached))) return;
    try {
      await this.blockDevices.detachLoop(attached.device);
    } catch (error) {
      if (!hasCode(error, 'NotFound')) throw error;
    }
  }

  /**
   * Whether `loop` is still the device `attached` records: the same attachment (diskseq), file,
   * device and inode.
   */
  private async stillServes(loop: LoopDevice, attached: VolumeAttachment): Promise<boolean> {
    if (loop.offset !== 0 || loop.sizeLimit !== 0) return false;
    // Freed since (a deferred detach completing on last close) and attached again over the
    // same file by someone else: same number, same file, another attachment.
    if (!sameAttachment(attached.diskseq, loop.diskseq)) return false;
    if (loop.backingFile === deletedName(attached.backingFile)) {
      // The kernel names an unlinked backing file so; it can no longer be looked up, and
      // nobody can attach a new loop device to a file that no longer exists.
      return true;
    }
    if (loop.backingFile !== attached.backingFile) return false;
    const now = await this.files.identity(attached.backingFile);
    return (
      now !== null &&
      now.device === attached.identity.device &&
      now.inode === attached.identity.inode
    );
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
    const identity = await this.files.identity(backing);
    if (identity === null) {
      throw new DriverError('NotFound', `Failed to connect volume: ${path} does not exist`);
    }
    // One question, whatever the number of loop devices on the host.
    const [serving] = await this.blockDevices.loopsOver(backing);
    if (serving) {
      throw new DriverError(
        'AlreadyExists',
        `Failed to connect volume: ${path} is already attached as ${serving.device}; a second attach would mount one filesystem twice`,
        {
          hint: 'Detach the volume from the instance that uses it first.',
          details: { path: backing, device: serving.device },
        },
      );
    }
    const loop = await this.blockDevices.attachLoop(backing);
    return {
      devicePath: loop.device,
      attached: {
        device: loop.device,
        backingFile: backing,
        identity,
        ...(loop.diskseq === undefined ? {} : { diskseq: loop.diskseq }),
      },
    };
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
