import {
  chooseRootFilesystem,
  type RootChoice,
  type RootPartitionPolicy,
} from './core/root-choice.js';
import {
  isSameLoop,
  sameAttachment,
  servesRecordedRange,
  recordLoop,
  recordNbd,
  type AttachedDevice,
  type RecordedVolume,
  type RootfsRecord,
} from './core/rootfs-record.js';
import { waitUntil } from './core/wait.js';
import { DriverError, hasCode } from './errors.js';
import type { Host, IdMap, Logger, LoopDevice } from './ports/index.js';
import type { ConnectionInfo } from './ports/volume-connector.js';

/** How much of a device the root choice reads at once (partition tables, superblocks). */
const WINDOW_BYTES = 64 * 1024;
/** How many windows one root choice keeps (a chain of EBRs must not fill memory). */
const WINDOWS_KEPT = 8;
/** How often a release looks again at a loop device whose detach the kernel deferred. */
const RELEASE_CHECK_MS = 100;

/**
 * A device reader for the root choice that reads whole 64 KiB windows and answers every read
 * inside one from that copy: each read of a device is an open, a read and a close, and the
 * choice reads in clusters (the MBR, GPT header and entries at the start; the backup GPT at the
 * end; a partition's superblocks at its start): 3 device reads for a GPT disk instead of 7.
 * Reads that straddle two windows go to the device as asked. Fewer bytes only at the end of
 * the device, as the port's read answers.
 */
export function windowedReader(
  read: (offset: number, length: number) => Promise<Uint8Array>,
  size: number,
): (offset: number, length: number) => Promise<Uint8Array> {
  const windows = new Map<number, Promise<Uint8Array>>();
  return async (offset, length) => {
    const start = Math.floor(offset / WINDOW_BYTES) * WINDOW_BYTES;
    if (offset + length > start + WINDOW_BYTES || offset >= size) return read(offset, length);
    let window = windows.get(start);
    if (!window) {
      window = read(start, Math.min(WINDOW_BYTES, size - start));
      windows.set(start, window);
      if (windows.size > WINDOWS_KEPT) windows.delete(windows.keys().next().value as number);
      // A failed read is not kept: the next read asks the device again.
      window.catch(() => windows.delete(start));
    }
    const bytes = await window;
    const from = Math.min(offset - start, bytes.length);
    return bytes.subarray(from, Math.min(offset - start + length, bytes.length));
  };
}

/** Where the container's root bytes come from. */
export type RootSource =
  | { kind: 'volume'; connectionInfo: ConnectionInfo; key: string }
  | {
      kind: 'image';
      imageId: string;
      format: 'raw' | 'qcow2';
      /** Glance's disk_format; the image store refuses content of another format. */
      declaredFormat?: string | null;
    };

/** What setup needs to know about one instance. */
export interface RootfsRequest {
  /** The canonical mount point, `<instance dir>/rootfs`; an existing, empty directory. */
  mountPoint: string;
  /** The instance disk file for an image source, `<instance dir>/disk`. */
  diskPath: string;
  source: RootSource;
  policy: RootPartitionPolicy;
  /** Where the policy came from, for error messages. */
  policySource: string;
  arch: string;
  idMaps: { uid: IdMap[]; gid: IdMap[] };
}

/** Called with the record after every change, before the next step: the caller persists it. */
export type SaveRecord = (record: RootfsRecord) => void;

/** How long a release waits for a busy device (transient holders: udev, scanners). */
export interface ReleaseTiming {
  releaseTimeoutMs: number;
}

/**
 * The `_lxc_disk_handler` of Nova's libvirt driver, done right: setup connects the root
 * volume, maps (the whole device, or partition 1 by offset and size limit) and mounts the
 * rootfs, handing the record to the caller before each next step; release undoes exactly what
 * the record proves is still ours. It owns the root volume: it connects and disconnects it.
 */
export class LxcDiskHandler {
  constructor(
    private readonly host: Host,
    private readonly log: Logger,
    private readonly timing: ReleaseTiming = { releaseTimeoutMs: 10_000 },
  ) {}

  /**
   * Pre step. Returns the record of what is set up, the rootfs mounted at `mountPoint`; on
   * failure everything this call attached is released before it throws.
   */
  async setup(request: RootfsRequest, save: SaveRecord): Promise<RootfsRecord> {
    const { mountPoint } = request;
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
    const record: RootfsRecord = {
      version: 1,
      mountPoint,
      source:
        request.source.kind === 'volume'
          ? { kind: 'volume', devicePath: '' }
          : { kind: 'image', path: request.diskPath, format: request.source.format },
      attached: [],
      volumes: [],
    };
    try {
      let base: string;
      let baseIsDevice: boolean;
      if (request.source.kind === 'volume') {
        const { connectionInfo, key } = request.source;
        const volume = await this.host.volumes.connect(connectionInfo);
        record.source = { kind: 'volume', devicePath: volume.devicePath };
        if (volume.attached) {
          record.volumes!.push({ key, root: true, attached: volume.attached });
        }
        save(record);
        base = volume.devicePath;
        baseIsDevice = true;
        if (!volume.attached) await this.refuseInUse(base, 'root volume');
      } else {
        base = await this.prepareImage(request.source, request.diskPath, record, save);
        baseIsDevice = request.source.format === 'qcow2';
      }

      const choice = await this.choose(base, request);
      const device = await this.map(base, baseIsDevice, choice, record, save);
      await this.host.mounts.mount(device, mountPoint, { fstype: choice.fstype });
      record.mountedDevice = device;
      record.fstype = choice.fstype;
      record.partition = choice.kind === 'partition' ? choice.number : null;
      save(record);
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
        save(record);
      }
      return record;
    } catch (error) {
      await this.release(record, save).catch((e: unknown) => {
        this.log.error('Failed to release the container rootfs after a failed setup', {
          error: String(e),
        });
      });
      throw error;
    }
  }

  /**
   * Post step of a running container: it keeps its own copy of the mount, so only the host
   * namespace's is removed; the devices stay attached.
   */
  async removeHostMount(record: RootfsRecord): Promise<void> {
    await this.unmountIfMounted(record.mountPoint);
  }

  /**
   * Tears the rootfs down from the record: unmounts the host mount point if mounted, releases
   * each recorded device in reverse order while it is provably ours, then disconnects the root
   * volume (unless `keepRootVolume`: a power off keeps it, as the domain keeps its volumes).
   * What could not be released stays in the record (saved) and the first failure is
   * thrown; what is gone or no longer ours leaves the record. Safe to repeat.
   */
  async release(
    record: RootfsRecord,
    save: SaveRecord,
    options: { keepRootVolume?: boolean } = {},
  ): Promise<void> {
    await this.unmountIfMounted(record.mountPoint);
    // Nothing is mounted from the record any more (a running container was stopped first).
    delete record.mountedDevice;
    const failures: unknown[] = [];
    for (const device of [...record.attached].reverse()) {
      try {
        await this.releaseDevice(device);
        record.attached = record.attached.filter((d) => d !== device);
      } catch (error) {
        failures.push(error);
      }
      save(record);
    }
    // A partition's loop device sits on the volume's: with it still bound, the volume stays.
    if (record.attached.length === 0 && !options.keepRootVolume) {
      await this.disconnectVolumes(record, save, (v) => v.root).catch((e: unknown) =>
        failures.push(e),
      );
    }
    save(record);
    if (failures.length > 0) throw failures[0];
  }

  /**
   * Disconnects the record's volumes that `which` selects, each saved out of the record once
   * it is gone; a failed one stays in the record, and the first failure is thrown after all
   * were tried.
   */
  async disconnectVolumes(
    record: RootfsRecord,
    save: SaveRecord,
    which: (volume: RecordedVolume) => boolean,
  ): Promise<void> {
    const failures: unknown[] = [];
    for (const volume of (record.volumes ?? []).filter(which)) {
      try {
        await this.disconnectVolume(volume);
        record.volumes = (record.volumes ?? []).filter((v) => v !== volume);
      } catch (error) {
        failures.push(error);
      }
      save(record);
    }
    if (failures.length > 0) throw failures[0];
  }

  /**
   * Disconnects one volume, waiting out a transient holder (udev's probe once the partition's
   * loop device let go, a scanner) for the release timeout, as for a partition's loop device.
   * A held loop device's detach is only deferred by the kernel (autoclear): it then goes on
   * the holder's last close, so the wait reads the device until it is gone; one bound again
   * without autoclear gets a new disconnect, which proves it ours again. A fixed number of
   * checks, not a deadline: a trace or transcript is then the same on both backends.
   */
  private async disconnectVolume(volume: RecordedVolume): Promise<void> {
    const connection: ConnectionInfo = { driver_volume_type: 'file', data: { path: volume.key } };
    const attempt = async (): Promise<DriverError | null> => {
      try {
        await this.host.volumes.disconnect(connection, volume.attached);
        return null;
      } catch (error) {
        if (hasCode(error, 'Busy')) return error;
        throw error;
      }
    };
    const attached = volume.attached;
    let busy = await attempt();
    if (busy === null) return;
    // Nothing recorded to look at (a local device is never detached): report it as it came.
    if (attached === undefined) throw busy;
    const checks = Math.ceil(this.timing.releaseTimeoutMs / RELEASE_CHECK_MS);
    for (let check = 0; check < checks; check++) {
      await this.host.clock.sleep(RELEASE_CHECK_MS);
      const now = await this.host.blockDevices.loopDevice(attached.device);
      // A volume's loop device maps the whole file: offset 0, no size limit.
      const same =
        now !== null &&
        sameAttachment(attached.diskseq, now.diskseq) &&
        servesRecordedRange(now, { backingFile: attached.backingFile, offset: 0, sizeLimit: 0 });
      // Gone (the deferred detach happened), or the number serves another attachment now.
      if (!same) return;
      if (now.autoclear) continue;
      busy = await attempt();
      if (busy === null) return;
    }
    throw new DriverError(
      'Busy',
      `Failed to disconnect volume ${volume.key}: its loop device ${attached.device} is still in use after ${this.timing.releaseTimeoutMs} ms (${busy.message})`,
      {
        hint: 'Find what holds it (mounts, open files), then destroy again: the instance record keeps the volume.',
        details: { device: attached.device, volume: volume.key },
      },
    );
  }

  private async prepareImage(
    source: RootSource & { kind: 'image' },
    path: string,
    record: RootfsRecord,
    save: SaveRecord,
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
    const kind = await this.host.files.kind(path);
    if (kind !== null && kind !== 'file') {
      throw new DriverError(
        'InvalidInput',
        `Failed to set up container rootfs: ${path} is a ${kind}, not the instance's disk file`,
        { hint: 'Remove it; the driver creates the instance disk itself.' },
      );
    }
    await this.host.images.createInstanceDisk(
      source.imageId,
      path,
      source.format,
      source.declaredFormat,
    );
    await this.refuseInUse(path, 'instance disk');
    if (source.format === 'raw') {
      return path;
    }
    const connection = await this.host.nbd.connect(path, 'qcow2');
    record.attached.push(recordNbd(connection));
    save(record);
    return connection.device;
  }

  /**
   * Refuses a source some loop or nbd device already serves or that is mounted somewhere. The
   * kernel records the device or file itself, so a source named through a symlink (os-brick's
   * /dev/disk/by-path/... links) is looked up by its canonical path too.
   */
  private async refuseInUse(source: string, what: string): Promise<void> {
    const canonical = await this.host.files.realpath(source).catch(() => source);
    const [loop] = await this.host.blockDevices.loopsOver(canonical);
    const named = (path: string) => path === source || path === canonical;
    const nbd = (await this.host.nbd.list()).find((n) => named(n.file));
    const mount = (await this.host.mounts.list()).find((m) => named(m.source));
    const user = loop
      ? `attached as ${loop.device}`
      : nbd
        ? `served by ${nbd.device}`
        : mount
          ? `mounted on ${mount.target}`
          : undefined;
    if (user) {
      throw new DriverError(
        'AlreadyExists',
        `Failed to set up container rootfs: the ${what} ${source} is already ${user}; using it again would mount one filesystem twice`,
        { hint: 'Stop whatever uses it first.', details: { source } },
      );
    }
  }

  private async choose(base: string, request: RootfsRequest): Promise<RootChoice> {
    // One port call at a time: traces (compared across backends) list calls as they end, so
    // the first window is not read while the geometry is asked.
    const geometry = await this.host.blockDevices.geometry(base);
    const reader = {
      size: geometry.size,
      sectorSizeHint: geometry.logicalSectorSize,
      read: windowedReader(
        (offset, length) => this.host.blockDevices.read(base, offset, length),
        geometry.size,
      ),
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
    save: SaveRecord,
  ): Promise<string> {
    if (choice.kind === 'whole' && baseIsDevice) {
      return base;
    }
    const identity = baseIsDevice ? null : await this.host.files.identity(base);
    const loop =
      choice.kind === 'whole'
        ? await this.host.blockDevices.attachLoop(base)
        : await this.host.blockDevices.attachLoop(base, {
            offset: choice.offset,
            sizeLimit: choice.size,
          });
    record.attached.push(recordLoop(loop, identity));
    save(record);
    return loop.device;
  }

  private async unmountIfMounted(mountPoint: string): Promise<void> {
    const mounts = await this.host.mounts.list();
    // Stacked mounts: unmount every layer at our mount point, topmost first.
    for (const _ of mounts.filter((m) => m.target === mountPoint)) {
      try {
        await this.host.mounts.unmount(mountPoint);
      } catch (error) {
        // Someone (a concurrent release) unmounted it since the list: that is what we wanted.
        if (!hasCode(error, 'NotFound')) throw error;
      }
    }
  }

  /**
   * Releases one recorded device. Returns when it is released, gone, or provably no longer
   * ours (then it is left alone); throws Busy when it stays held past the release timeout.
   */
  private async releaseDevice(device: AttachedDevice): Promise<void> {
    if (device.kind === 'nbd') {
      const current = (await this.host.nbd.list()).find((n) => n.device === device.device);
      if (!current) return;
      if (current.file !== device.file) {
        this.log.warn(
          `Not releasing ${device.device}: it now serves ${current.file}, not ${device.file}`,
        );
        return;
      }
      try {
        await this.host.nbd.disconnect(device.device);
      } catch (error) {
        if (!hasCode(error, 'NotFound')) throw error;
      }
      return;
    }
    const current = await this.host.blockDevices.loopDevice(device.device);
    if (!current) return;
    if (!(await this.isOurLoop(device, current))) return;
    // The first attempt goes by what was just read; every later one reads the device again.
    let fresh: LoopDevice | null | undefined = current;
    const result = await waitUntil(
      this.host.clock,
      { timeoutMs: this.timing.releaseTimeoutMs, intervalMs: RELEASE_CHECK_MS },
      async () => {
        const now =
          fresh === undefined ? await this.host.blockDevices.loopDevice(device.device) : fresh;
        fresh = undefined;
        if (!now || !isSameLoop(device, now)) return { done: true, value: undefined };
        if (now.autoclear) {
          return { done: false, why: 'the kernel deferred the detach (autoclear)' };
        }
        try {
          await this.host.blockDevices.detachLoop(device.device);
          return { done: true, value: undefined };
        } catch (error) {
          if (hasCode(error, 'NotFound')) return { done: true, value: undefined };
          if (hasCode(error, 'Busy')) return { done: false, why: error.message };
          throw error;
        }
      },
    );
    if (!result.ok) {
      throw new DriverError(
        'Busy',
        `Failed to release ${device.device}: it is still in use after ${this.timing.releaseTimeoutMs} ms (${result.why})`,
        {
          hint: 'Find what holds it (mounts, open files), then destroy again: the instance record keeps the device.',
          details: { device: device.device, backingFile: device.backingFile },
        },
      );
    }
  }

  /** The proof that a bound loop device is the one recorded; logs why when it is not. */
  private async isOurLoop(
    device: AttachedDevice & { kind: 'loop' },
    current: LoopDevice,
  ): Promise<boolean> {
    let why: string | undefined;
    if (!isSameLoop(device, current)) {
      why = servesRecordedRange(current, device)
        ? `it was detached and attached again since (diskseq ${String(current.diskseq)}, recorded ${device.diskseq})`
        : `it now backs ${current.backingFile} (offset ${current.offset}), not the recorded ${device.backingFile} (offset ${device.offset})`;
    } else if (device.identity && current.backingFile === device.backingFile) {
      const now = await this.host.files.identity(device.backingFile);
      if (!now || now.device !== device.identity.device || now.inode !== device.identity.inode) {
        why = `${device.backingFile} is another file now (device and inode differ from the record)`;
      }
    }
    if (why) {
      this.log.warn(`Not releasing ${device.device}: ${why}`, { recorded: device, current });
      return false;
    }
    return true;
  }
}
