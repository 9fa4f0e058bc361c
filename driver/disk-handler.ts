import {
  chooseRootFilesystem,
  type RootChoice,
  type RootPartitionPolicy,
} from './core/root-choice.js';
import {
  clearRootfsRecord,
  isSameLoop,
  readRootfsRecord,
  recordLoop,
  recordNbd,
  writeRootfsRecord,
  type AttachedDevice,
  type RootfsRecord,
} from './core/rootfs-record.js';
import { DriverError, hasCode } from './errors.js';
import type { Host, IdMap, Logger } from './ports/index.js';
import type { ConnectionInfo } from './ports/volume-connector.js';

/** Where the container's root bytes come from. */
export type RootSource =
  | { kind: 'volume'; connectionInfo: ConnectionInfo }
  | {
      kind: 'image';
      imageId: string;
      format: 'raw' | 'qcow2';
      /** Glance's disk_format; the image store refuses content of another format. */
      declaredFormat?: string | null;
    };

/** What setup needs to know about one instance. */
export interface RootfsRequest {
  instanceDir: string;
  systemMetadata: Record<string, string>;
  source: RootSource;
  policy: RootPartitionPolicy;
  /** Where the policy came from, for error messages. */
  policySource: string;
  arch: string;
  idMaps: { uid: IdMap[]; gid: IdMap[] };
}

/**
 * The `_lxc_disk_handler` of Nova's libvirt driver, done right: setup connects, maps (the whole
 * device, or partition 1 by offset and size limit) and mounts the rootfs, recording every device
 * before the next step; release undoes exactly what the record proves is still ours.
 */
export class LxcDiskHandler {
  constructor(
    private readonly host: Host,
    private readonly log: Logger,
  ) {}

  /**
   * Pre step. On success the rootfs is mounted at `<instanceDir>/rootfs` and recorded in
   * system_metadata; on failure everything this call attached is released before it throws.
   */
  async setup(request: RootfsRequest): Promise<RootfsRecord> {
    const mountPoint = `${request.instanceDir}/rootfs`;
    const mounted = (await this.host.mounts.list()).find((m) => m.target === mountPoint);
    if (mounted) {
      throw new DriverError(
        'AlreadyExists',
        `Failed to set up container rootfs: ${mountPoint} already has ${mounted.source} mounted`,
        {
          hint: 'Destroy the instance first, or unmount that directory if nothing should be there.',
        },
      );
    }
    await this.host.files.ensureDir(mountPoint);
    const record: RootfsRecord = {
      version: 1,
      mountPoint,
      source:
        request.source.kind === 'volume'
          ? { kind: 'volume', devicePath: '' }
          : { kind: 'image', path: `${request.instanceDir}/disk`, format: request.source.format },
      attached: [],
    };
    const save = () => writeRootfsRecord(request.systemMetadata, record);
    let connectedVolume: ConnectionInfo | undefined;
    try {
      let base: string;
      let baseIsDevice: boolean;
      if (request.source.kind === 'volume') {
        const volume = await this.host.volumes.connect(request.source.connectionInfo);
        connectedVolume = request.source.connectionInfo;
        record.source = { kind: 'volume', devicePath: volume.devicePath };
        save();
        base = volume.devicePath;
        baseIsDevice = true;
      } else {
        base = await this.prepareImage(request.source, record, save);
        baseIsDevice = request.source.format === 'qcow2';
      }

      const choice = await this.choose(base, request);
      const device = await this.map(base, baseIsDevice, choice, record, save);
      await this.host.mounts.mount(device, mountPoint, { fstype: choice.fstype });
      record.mountedDevice = device;
      record.fstype = choice.fstype;
      record.partition = choice.kind === 'partition' ? choice.number : null;
      save();
      if (choice.kind === 'partition') {
        for (const warning of choice.warnings) {
          this.log.warn(warning, { device: base });
        }
      }
      if (request.idMaps.uid.length > 0 || request.idMaps.gid.length > 0) {
        // Idempotent (the port's contract): an already shifted tree is left alone, never shifted again.
        const changed = await this.host.files.shiftIds(
          mountPoint,
          request.idMaps.uid,
          request.idMaps.gid,
        );
        record.idShift = { uid: request.idMaps.uid, gid: request.idMaps.gid, changed };
        save();
      }
      return record;
    } catch (error) {
      await this.releaseQuietly(request.systemMetadata, record, 'setup failed');
      if (connectedVolume) {
        await this.host.volumes.disconnect(connectedVolume).catch((e: unknown) => {
          this.log.warn('Failed to disconnect root volume after a failed setup', {
            error: String(e),
          });
        });
      }
      throw error;
    }
  }

  /**
   * The pre/post pair around domain creation: sets up the rootfs, runs `create`, then asks the
   * hypervisor whether `domain` runs. Running: only the host namespace's mount goes (the
   * container keeps its copy). Not running, or `create` failed: everything is released.
   * `create`'s error is the one that leaves; a failed release is logged, not masked over it.
   */
  async around<T>(request: RootfsRequest, domain: string, create: () => Promise<T>): Promise<T> {
    await this.setup(request);
    let result: T;
    try {
      result = await create();
    } catch (error) {
      await this.afterStart(request.systemMetadata, false).catch((e: unknown) => {
        this.log.error('Failed to tear down the container rootfs after a failed start', {
          error: String(e),
        });
      });
      throw error;
    }
    const state = await this.host.hypervisor.info(domain).then(
      (info) => info.state,
      (error: unknown) => {
        if (hasCode(error, 'NotFound')) return undefined;
        throw error;
      },
    );
    await this.afterStart(request.systemMetadata, state === 'running');
    return result;
  }

  /**
   * Post step: a running container keeps its own copy of the mount, so the host namespace's
   * is removed and the devices stay attached; otherwise everything is released now.
   */
  async afterStart(systemMetadata: Record<string, string>, running: boolean): Promise<void> {
    const record = readRootfsRecord(systemMetadata);
    if (!record) {
      return;
    }
    if (running) {
      await this.unmountIfMounted(record.mountPoint);
      return;
    }
    await this.release(systemMetadata, record.mountPoint);
  }

  /**
   * Tears the rootfs down from what was recorded: unmounts the host mount point if mounted,
   * then releases each recorded device in reverse order, but only while it is provably the
   * one attached. Safe to repeat; works from the instance record alone.
   */
  async release(systemMetadata: Record<string, string>, mountPoint: string): Promise<void> {
    const record = readRootfsRecord(systemMetadata);
    await this.unmountIfMounted(record?.mountPoint ?? mountPoint);
    if (!record) {
      return;
    }
    const kept: AttachedDevice[] = [];
    for (const device of [...record.attached].reverse()) {
      if (!(await this.releaseDevice(device))) {
        kept.unshift(device);
      }
    }
    if (kept.length > 0) {
      // Still held (the kernel frees an autoclear loop device on last close): keep the record.
      record.attached = kept;
      writeRootfsRecord(systemMetadata, record);
      return;
    }
    clearRootfsRecord(systemMetadata);
  }

  private async prepareImage(
    source: RootSource & { kind: 'image' },
    record: RootfsRecord,
    save: () => void,
  ): Promise<string> {
    if (source.format === 'qcow2') {
      const nbd = await this.host.nbd.available();
      if (!nbd.ok) {
        // Fail before creating anything: Nova retries here for 30 s and then fails anyway.
        throw new DriverError(
          'Unsupported',
          `Failed to set up container rootfs from qcow2 image ${source.imageId}: ${nbd.reason ?? 'nbd is unavailable'}`,
          {
            hint: 'Use raw instance disks ([libvirt]images_type=raw, or [DEFAULT]use_cow_images=False), or load the nbd kernel module.',
          },
        );
      }
    }
    const path = record.source.kind === 'image' ? record.source.path : '';
    await this.host.images.createInstanceDisk(
      source.imageId,
      path,
      source.format,
      source.declaredFormat,
    );
    if (source.format === 'raw') {
      return path;
    }
    const connection = await this.host.nbd.connect(path, 'qcow2');
    record.attached.push(recordNbd(connection));
    save();
    return connection.device;
  }

  private async choose(base: string, request: RootfsRequest): Promise<RootChoice> {
    const geometry = await this.host.blockDevices.geometry(base);
    const reader = {
      size: geometry.size,
      sectorSizeHint: geometry.logicalSectorSize,
      read: (offset: number, length: number) => this.host.blockDevices.read(base, offset, length),
    };
    try {
      return await chooseRootFilesystem(reader, base, request.policy, { arch: request.arch });
    } catch (error) {
      if (hasCode(error, 'NoRootFilesystem') && request.policy.kind !== 'first') {
        error.details['policySource'] = request.policySource;
      }
      throw error;
    }
  }

  /** Maps the chosen filesystem to a device: never an unbounded mapping of a partition. */
  private async map(
    base: string,
    baseIsDevice: boolean,
    choice: RootChoice,
    record: RootfsRecord,
    save: () => void,
  ): Promise<string> {
    if (choice.kind === 'whole' && baseIsDevice) {
      return base;
    }
    const loop =
      choice.kind === 'whole'
        ? await this.host.blockDevices.attachLoop(base)
        : await this.host.blockDevices.attachLoop(base, {
            offset: choice.offset,
            sizeLimit: choice.size,
          });
    record.attached.push(recordLoop(loop));
    save();
    return loop.device;
  }

  private async unmountIfMounted(mountPoint: string): Promise<void> {
    const mounts = await this.host.mounts.list();
    // Stacked mounts: unmount every layer at our mount point, topmost first.
    for (const _ of mounts.filter((m) => m.target === mountPoint)) {
      await this.host.mounts.unmount(mountPoint);
    }
  }

  /** Releases one recorded device; returns false when it must stay (busy, deferred). */
  private async releaseDevice(device: AttachedDevice): Promise<boolean> {
    if (device.kind === 'loop') {
      const current = (await this.host.blockDevices.listLoops()).find(
        (l) => l.device === device.device,
      );
      if (!current) {
        return true;
      }
      if (!isSameLoop(device, current)) {
        this.log.warn(
          `Not releasing ${device.device}: it now backs ${current.backingFile} (offset ${current.offset}), not the recorded ${device.backingFile} (offset ${device.offset})`,
          { recorded: device, current },
        );
        return true;
      }
      if (current.autoclear) {
        return false;
      }
      try {
        await this.host.blockDevices.detachLoop(device.device);
        return true;
      } catch (error) {
        if (hasCode(error, 'NotFound')) return true;
        if (hasCode(error, 'Busy')) {
          this.log.warn(`${device.device} is still in use; the kernel will free it on last close`);
          return false;
        }
        throw error;
      }
    }
    const current = (await this.host.nbd.list()).find((n) => n.device === device.device);
    if (!current) {
      return true;
    }
    if (current.file !== device.file) {
      this.log.warn(
        `Not releasing ${device.device}: it now serves ${current.file}, not ${device.file}`,
      );
      return true;
    }
    try {
      await this.host.nbd.disconnect(device.device);
      return true;
    } catch (error) {
      if (hasCode(error, 'NotFound')) return true;
      throw error;
    }
  }

  private async releaseQuietly(
    systemMetadata: Record<string, string>,
    record: RootfsRecord,
    why: string,
  ): Promise<void> {
    try {
      writeRootfsRecord(systemMetadata, record);
      await this.release(systemMetadata, record.mountPoint);
    } catch (error) {
      this.log.error(`Failed to release the container rootfs after ${why}`, {
        error: String(error),
      });
    }
  }
}
