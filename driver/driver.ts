import { getDiskInfo, getRootBdm, type DiskMapping } from './nova/blockinfo.js';
import type { NovaConf } from './nova/conf.js';
import { isNovaError } from './nova/exceptions.js';
import {
  checkInstanceIdentity,
  checkVolumeBdms,
  normalizeBlockDeviceInfo,
  normalizeImageMeta,
  normalizeInstance,
  type BlockDeviceInfo,
  type DriverBdm,
  type ImageMeta,
  type Instance,
} from './nova/model.js';
import { buildLxcDomainXml, type DomainDiskSpec, type LxcDomainSpec } from './core/domain-xml.js';
import { parseIdMaps } from './core/id-maps.js';
import { isUnder } from './core/kernel-paths.js';
import { parseRootPartitionPolicy, type RootPartitionPolicy } from './core/root-choice.js';
import { describeHolder } from './core/state-holders.js';
import {
  clearRootfsRecord,
  isEmptyRecord,
  readRootfsRecord,
  ROOTFS_RECORD_KEY,
  writeRootfsRecord,
  type RootfsRecord,
} from './core/rootfs-record.js';
import { waitUntil, type Attempt } from './core/wait.js';
import {
  DEFAULT_STATE_DIR,
  InstanceJournalWriter,
  journalDir,
  journalledHost,
  type JournalItem,
  type JournalOperation,
} from './journal.js';
import {
  claimedDevices,
  describeAction,
  isKernelTarget,
  readJournals,
  releaseJournalled,
} from './reclaim.js';
import { LxcDiskHandler, type RootSource } from './disk-handler.js';
import { DriverError, hasCode, isDriverError } from './errors.js';
import type { DomainInfo, DomainState, Host, IdMap, Logger } from './ports/index.js';
import { silentLogger } from './ports/logger.js';
import type { ConnectionInfo } from './ports/volume-connector.js';

/** Nova's power_state constants (nova/compute/power_state.py). */
export const PowerState = {
  NOSTATE: 0,
  RUNNING: 1,
  PAUSED: 3,
  SHUTDOWN: 4,
  CRASHED: 6,
  SUSPENDED: 7,
} as const;

/** libvirt domain state → Nova power state, as Nova's LIBVIRT_POWER_STATE maps it. */
export const POWER_STATE: Record<DomainState, number> = {
  nostate: PowerState.NOSTATE,
  running: PowerState.RUNNING,
  blocked: PowerState.RUNNING,
  paused: PowerState.PAUSED,
  shutdown: PowerState.SHUTDOWN,
  'shut off': PowerState.SHUTDOWN,
  crashed: PowerState.CRASHED,
  pmsuspended: PowerState.SUSPENDED,
};

/** The image-property name that overrides which partition holds the root filesystem. */
export const ROOT_PARTITION_PROPERTY = 'lxc_root_partition';

/** Power states resume_state_on_host_boot leaves alone, as Nova's libvirt driver does. */
const RESUME_LEAVES: ReadonlySet<number> = new Set([
  PowerState.RUNNING,
  PowerState.SUSPENDED,
  PowerState.NOSTATE,
  PowerState.PAUSED,
]);

/** Nova's MAX_CONSOLE_BYTES: console output is the log's last 100 KiB. */
export const MAX_CONSOLE_BYTES = 100 * 1024;

/** The flavor extra spec that picks the root partition, below the image property. */
export const FLAVOR_ROOT_PARTITION_SPEC = 'nova_lxc:root_partition';

/** Host configuration, named after the nova.conf options it mirrors. */
export interface LxcDriverOptions {
  /** `[DEFAULT]instances_path`; instance files live in `<instancesPath>/<uuid>/`. */
  instancesPath: string;
  /** `[libvirt]uid_maps` / `gid_maps`: `guest:host:count` entries. */
  uidMaps?: string[];
  gidMaps?: string[];
  /** `[libvirt]images_type`: default, raw, flat or qcow2 (lvm, rbd and ploop are not supported). */
  imagesType?: string;
  /** `[DEFAULT]use_cow_images`: with images_type=default, true means qcow2 (nbd). */
  useCowImages?: boolean;
  /** Host-wide root partition policy: `first`, a number, `label:NAME` or `dps`. */
  rootPartition?: string;
  /** Host architecture, for `dps` (the Discoverable Partitions root type). Default x86_64. */
  hostArch?: string;
  /** nova.conf options blockinfo reads (e.g. `{ libvirt: { disk_prefix: 'sd' } }`). */
  flags?: NovaConf;
  /** How long destroy waits for a domain to stop, in ms. Default 30 s. */
  destroyTimeoutMs?: number;
  /** `[libvirt]wait_soft_reboot_seconds` in ms: how long a soft reboot waits for a clean stop. Default 120 s. */
  softRebootTimeoutMs?: number;
  /** How long to wait for libvirt to know a started container's init pid, in ms. Default 30 s. */
  initPidTimeoutMs?: number;
  /** How long a release retries a busy device (udev, a scanner) before reporting it, in ms. Default 10 s. */
  releaseTimeoutMs?: number;
  /**
   * The driver's state directory; its journal lives in `<stateDir>/journal/`. Default
   * `/var/lib/nova-lxc`: persistent (unlike /run, it survives a reboot, and a reboot leaves
   * the domains' definitions and the volumes' files for reclaim to match), root-owned, and
   * next to Nova's own /var/lib/nova. `nova-lxc reclaim` must be given the same directory.
   */
  stateDir?: string;
  /**
   * How this process is named to a `nova-lxc reclaim` that finds it holding the state
   * directory (the driver holds it from its first operation). Default `a nova-lxc driver`.
   */
  processName?: string;
  logger?: Logger;
}

/** What get_info returns: Nova's InstanceInfo. */
export interface InstanceInfo {
  state: number;
  internal_id?: string;
}

const SUPPORTED_IMAGE_TYPES = new Set(['default', 'raw', 'flat', 'qcow2']);

/** A volume BDM other than the root, with its parsed connection_info. */
interface ExtraVolume {
  bdm: DriverBdm;
  connectionInfo: ConnectionInfo;
  key: string;
}

/** What one spawn made, so that its rollback releases that and nothing else. */
interface Made {
  dirCreated: boolean;
  record?: RootfsRecord;
  domainDefined: boolean;
}

/**
 * Nova's LibvirtDriver for virt_type=lxc, spawn and destroy: the same inputs (instance,
 * image_meta, block_device_info) and disk mapping, with the blueprint's block-device rootfs
 * done right. All IO goes through the Host's ports. Every public method throws only
 * DriverError (a Nova exception's type is kept in `details.novaType`), and operations on one
 * instance run one at a time.
 */
export class LxcDriver {
  private readonly disks: LxcDiskHandler;
  private readonly log: Logger;
  private readonly idMaps: { uid: IdMap[]; gid: IdMap[] };
  private readonly hostPolicy: RootPartitionPolicy | undefined;
  /** The tail of each instance's queue of operations, by uuid. */
  private readonly queues = new Map<string, Promise<unknown>>();
  /** This driver's hold of the state directory, taken at its first operation. */
  private held: Promise<void> | undefined;

  constructor(
    private readonly host: Host,
    private readonly options: LxcDriverOptions,
  ) {
    this.log = options.logger ?? silentLogger;
    if (!options.instancesPath?.startsWith('/') || options.instancesPath.includes('\0')) {
      throw new DriverError(
        'InvalidInput',
        `Failed to configure driver: instances_path must be an absolute path, got ${JSON.stringify(options.instancesPath)}`,
      );
    }
    const imagesType = options.imagesType ?? 'default';
    if (!SUPPORTED_IMAGE_TYPES.has(imagesType)) {
      throw new DriverError(
        'Unsupported',
        `Failed to configure driver: images_type '${imagesType}' is not supported for LXC by nova-lxc`,
        { hint: 'Use images_type default, raw, flat or qcow2.' },
      );
    }
    const warn = (message: string) => this.log.warn(message);
    this.idMaps = {
      uid: parseIdMaps(options.uidMaps ?? [], 'uid', warn),
      gid: parseIdMaps(options.gidMaps ?? [], 'gid', warn),
    };
    if (this.idMaps.uid.length === 0 || this.idMaps.gid.length === 0) {
      this.log.warn(
        "Running libvirt-lxc without user namespaces is dangerous. Containers spawned by Nova will be run as the host's root user. It is highly suggested that user namespaces be used in a public or multi-tenant environment.",
      );
    }
    this.hostPolicy =
      options.rootPartition === undefined
        ? undefined
        : parseRootPartitionPolicy(options.rootPartition, 'host option root_partition');
    this.disks = new LxcDiskHandler(host, this.log, {
      releaseTimeoutMs: options.releaseTimeoutMs ?? 10_000,
    });
  }

  /**
   * Creates and starts the container. An instance that already exists (its domain, or a
   * rootfs record) is refused with AlreadyExists before anything changes. On any other
   * failure the host is left as it was: no loop or nbd device, mount, domain or instance
   * directory this call made survives, nothing it did not make is touched, and no volume
   * data changes.
   */
  async spawn(
    _context: unknown,
    instance: unknown,
    imageMeta: unknown,
    _injectedFiles: unknown = [],
    _adminPassword: unknown = null,
    _allocations: unknown = null,
    _networkInfo: unknown = null,
    blockDeviceInfo: unknown = null,
    powerOn = true,
  ): Promise<void> {
    return this.surface('spawn instance', async () => {
      const inst = readInstance(instance);
      const meta = normalizeImageMeta(imageMeta);
      const bdi = readBlockDeviceInfo(blockDeviceInfo);
      await this.journalled(inst, 'spawn', (d) => d.createGuest(inst, meta, bdi, powerOn));
    });
  }

  /**
   * Stops the container and releases everything recorded for it. Tolerates libvirt's
   * "Some processes refused to die", a missing domain and a partial record; safe to repeat,
   * and works from a fresh driver that only has the instance record. A domain of that name
   * with another uuid is never touched. A release that fails is thrown after the others were
   * tried; the record keeps what is still attached, and the instance directory and domain
   * stay, for the next destroy to finish.
   */
  async destroy(
    _context: unknown,
    instance: unknown,
    _networkInfo: unknown = null,
    blockDeviceInfo: unknown = null,
    destroyDisks = true,
  ): Promise<void> {
    return this.surface('destroy instance', async () => {
      const inst = readInstance(instance);
      readBlockDeviceInfo(blockDeviceInfo);
      await this.journalled(inst, 'destroy', (d, journal) =>
        d.destroyFromBoth(inst, destroyDisks, journal),
      );
    });
  }

  /**
   * Reboot as Nova does it. HARD: destroy keeping the disks, then create the guest again. SOFT:
   * first a clean shutdown, waited for up to softRebootTimeoutMs, then the same re-creation (the
   * rootfs is no longer mounted on the host, so the container cannot simply be started again);
   * a guest that ignores the request is stopped at once, as Nova falls back to a hard reboot.
   */
  async reboot(
    _context: unknown,
    instance: unknown,
    _networkInfo: unknown,
    rebootType: string,
    blockDeviceInfo: unknown = null,
  ): Promise<void> {
    return this.surface('reboot instance', async () => {
      const inst = readInstance(instance);
      const bdi = readBlockDeviceInfo(blockDeviceInfo);
      await this.journalled(inst, 'reboot', async (d) => {
        if (String(rebootType).toUpperCase() === 'SOFT' && (await d.ownDomain(inst))) {
          const timeout = d.options.softRebootTimeoutMs ?? 120_000;
          if (!(await d.cleanShutdown(inst.name, timeout, 0))) {
            d.log.warn(`Domain ${inst.name} did not shut down in ${timeout} ms; rebooting it hard`);
          }
        }
        await d.destroyGuest(inst, false);
        await d.createGuest(inst, normalizeImageMeta(null), bdi, true);
      });
    });
  }

  /**
   * Nova's libvirt power_off: with a timeout, a clean shutdown (re-requested every
   * retryIntervalMs) waited for in one-second steps; then the domain is stopped at once and the
   * rootfs released, as Nova's _destroy tears an LXC container down. The definition and the
   * volumes stay, so getInfo reports SHUTDOWN and powerOn starts it again. Safe to repeat.
   */
  async powerOff(
    instance: unknown,
    options: { timeoutMs?: number; retryIntervalMs?: number } = {},
  ): Promise<void> {
    return this.surface('power off instance', async () => {
      const inst = readInstance(instance);
      await this.journalled(inst, 'power-off', async (d) => {
        const dir = await d.instanceDir(inst);
        const { record } = await d.currentRecord(inst, dir);
        const domain = await d.ownDomain(inst);
        if (domain) {
          const timeout = options.timeoutMs ?? 0;
          if (timeout > 0) {
            if (!(await d.cleanShutdown(inst.name, timeout, options.retryIntervalMs ?? 0))) {
              d.log.info(`Instance failed to shutdown in ${timeout / 1000} seconds.`);
            }
            // The state changed (or not) while it was asked to shut down: look again.
            await d.stopDomain(inst.name);
          } else {
            await d.stopDomain(inst.name, { state: domain.state });
          }
        }
        if (record) {
          // The rootfs devices go; the volumes stay connected with the domain, as in Nova.
          await d.disks.release(record, (r) => d.saveRecord(inst, r), {
            keepRootVolume: true,
          });
        }
      });
    });
  }

  /** Nova's libvirt power_on: a hard reboot (set the rootfs up again and start the container). */
  async powerOn(
    context: unknown,
    instance: unknown,
    networkInfo: unknown = null,
    blockDeviceInfo: unknown = null,
  ): Promise<void> {
    await this.reboot(context, instance, networkInfo, 'HARD', blockDeviceInfo);
  }

  /**
   * Nova's resume_state_on_host_boot (nova-compute starting, after a host reboot or not): an
   * instance whose domain runs (or is paused, suspended, or in no state) is left alone; any
   * other is hard rebooted, from what Nova persisted (the instance and its BDMs) and the
   * journal. What the record and the journal list from an earlier boot of the host is dropped
   * without being touched (see currentRecord); what is of this boot is released with proof;
   * the directory, the instance disk and the domain's definition are this instance's, proved
   * by path and uuid. The rootfs is then set up afresh on whatever devices are free.
   */
  async resumeStateOnHostBoot(
    _context: unknown,
    instance: unknown,
    _networkInfo: unknown = null,
    blockDeviceInfo: unknown = null,
  ): Promise<void> {
    return this.surface('resume instance state on host boot', async () => {
      const inst = readInstance(instance);
      const bdi = readBlockDeviceInfo(blockDeviceInfo);
      await this.journalled(inst, 'reboot', async (d, journal) => {
        const domain = await d.ownDomain(inst);
        if (domain && RESUME_LEAVES.has(POWER_STATE[domain.state])) return;
        await d.destroyGuest(inst, false);
        // The journal's devices and mounts beyond the record: of an earlier boot they are
        // dropped untouched, of this one released with proof. Its directory and domain stay.
        await d.releaseJournalled(inst, false, journal, (item) => isKernelTarget(item.target));
        await d.createGuest(inst, normalizeImageMeta(null), bdi, true);
      });
    });
  }

  /**
   * Nova's get_console_output for an LXC pty console: appends what the console produced since
   * the last call to `<instance dir>/console.log` (so output survives reboots) and returns the
   * log's last MAX_CONSOLE_BYTES. NotFound (InstanceNotFound) when no domain of it exists.
   */
  async getConsoleOutput(instance: unknown): Promise<string> {
    return this.surface('get console output', async () => {
      const inst = readInstance(instance);
      return this.serialised(inst.uuid, async () => {
        if (!(await this.ownDomain(inst))) throw instanceNotFound(inst.uuid);
        let fresh: string;
        try {
          fresh = await this.host.hypervisor.readConsole(inst.name);
        } catch (error) {
          if (hasCode(error, 'NotFound')) throw instanceNotFound(inst.uuid);
          throw error;
        }
        const log = `${await this.instanceDir(inst)}/console.log`;
        const before = await this.host.files.readFile(log).catch((error: unknown) => {
          if (hasCode(error, 'NotFound')) return '';
          throw error;
        });
        if (fresh !== '') await this.host.files.writeFile(log, before + fresh);
        const text = before + fresh;
        return text.length > MAX_CONSOLE_BYTES ? text.slice(-MAX_CONSOLE_BYTES) : text;
      });
    });
  }

  /** The instance's power state. NotFound (Nova's InstanceNotFound) when no domain of it exists. */
  async getInfo(instance: unknown): Promise<InstanceInfo> {
    return this.surface('get instance info', async () => {
      const inst = readInstance(instance);
      const info = await this.ownDomain(inst);
      if (!info) throw instanceNotFound(inst.uuid);
      return { state: POWER_STATE[info.state], internal_id: info.uuid };
    });
  }

  /** Names of every domain on the host, as Nova's list_instances returns them. */
  async listInstances(): Promise<string[]> {
    return this.surface('list instances', async () =>
      (await this.host.hypervisor.list()).map((d) => d.name),
    );
  }

  /**
   * `<instances_path>/<uuid>`, with instances_path's symlinks resolved: the kernel records mount
   * points canonically, and a lexical path would neither find the rootfs mount nor keep
   * removeTree out of a mounted volume. The uuid is checked (Nova's form), so the path stays
   * below instances_path.
   */
  async instanceDir(instance: Instance): Promise<string> {
    const root = this.options.instancesPath.replace(/\/+$/, '') || '/';
    const canonical = await this.host.files.realpath(root).catch((error: unknown) => {
      if (hasCode(error, 'NotFound')) return root;
      throw error;
    });
    return `${canonical.replace(/\/+$/, '')}/${instance.uuid}`;
  }

  /**
   * Holds the state directory for this process (once per driver), so a reclaim elsewhere
   * refuses to run while this driver may be working; and refuses to start an operation while
   * another process reclaims (each of the two writes its hold before it looks for the other).
   */
  private async holdStateDir(operation: JournalOperation): Promise<void> {
    this.held ??= this.host.journal
      .hold(this.stateDir, 'driver', this.options.processName ?? 'a nova-lxc driver')
      .catch((error: unknown) => {
        this.held = undefined;
        throw error;
      });
    await this.held;
    const reclaiming = (await this.host.journal.holders(this.stateDir)).find(
      (h) => h.role === 'reclaim',
    );
    if (reclaiming) {
      throw new DriverError(
        'Busy',
        `Failed to ${operation}: ${describeHolder(reclaiming)} is reclaiming ${this.stateDir}`,
        { hint: 'Retry when it has finished.', details: { pid: reclaiming.pid } },
      );
    }
  }

  /** Runs `operation` after every earlier operation on the same instance has finished. */
  private async serialised<T>(uuid: string, operation: () => Promise<T>): Promise<T> {
    const before = this.queues.get(uuid) ?? Promise.resolve();
    const run = before.then(operation, operation);
    const tail = run.catch(() => undefined);
    this.queues.set(uuid, tail);
    try {
      return await run;
    } finally {
      if (this.queues.get(uuid) === tail) this.queues.delete(uuid);
    }
  }

  /**
   * Runs `operation` serialised on the instance, over the instance's journalled ports: every
   * attach, connect, mount, define and directory it makes is in the journal (flushed) before
   * it happens, so a crash at any point leaves what reclaim or a later destroy needs.
   * `scoped` is this driver with those ports (its other fields are shared).
   */
  private async journalled<T>(
    inst: Instance,
    operation: JournalOperation,
    run: (scoped: this, journal: InstanceJournalWriter) => Promise<T>,
  ): Promise<T> {
    return this.serialised(inst.uuid, async () => {
      await this.holdStateDir(operation);
      const journal = await InstanceJournalWriter.open(this.host, journalDir(this.stateDir), {
        uuid: inst.uuid,
        domain: inst.name,
        instanceDir: await this.instanceDir(inst),
      });
      const host = journalledHost(this.host, journal, this.log);
      const scoped = Object.create(this) as this;
      Object.defineProperties(scoped, {
        host: { value: host },
        disks: {
          value: new LxcDiskHandler(host, this.log, {
            releaseTimeoutMs: this.options.releaseTimeoutMs ?? 10_000,
          }),
        },
      });
      await journal.begin(operation, operation === 'destroy');
      let result: T;
      try {
        result = await run(scoped, journal);
      } catch (error) {
        if (operation === 'spawn') {
          // The rollback released what the call's own record held; what the journal shows
          // this call made beyond that (e.g. a directory made just before a failure) goes too.
          await scoped
            .releaseJournalled(inst, true, journal, (item) => item.id >= journal.firstId)
            .catch((e: unknown) => {
              this.log.error('Failed to release what a failed spawn left in its journal', {
                error: String(e),
              });
            });
        }
        await journal.finish(false).catch((e: unknown) => {
          this.log.error('Failed to update the journal after a failed operation', {
            error: String(e),
          });
        });
        throw error;
      }
      try {
        await journal.finish(true);
      } catch (error) {
        // The journal still says the operation is under way, and reclaim would take a live
        // instance for a crashed one: a spawn is rolled back, anything else reported failed.
        if (operation === 'spawn') {
          await scoped.destroyFromBoth(inst, true, journal).catch((e: unknown) => {
            this.log.error('Failed to roll back a spawn whose journal could not be finished', {
              error: String(e),
            });
          });
          await journal.finish(false).catch(() => undefined);
        }
        throw error;
      }
      return result;
    });
  }

  /**
   * Destroy from Nova's record and from the journal. Without a record (a crash kept it out of
   * Nova's database) the journal's entries are released first, with proof; then the record's
   * release runs, and whatever the journal still lists after it goes too.
   */
  private async destroyFromBoth(
    inst: Instance,
    destroyDisks: boolean,
    journal: InstanceJournalWriter,
  ): Promise<void> {
    const dir = await this.instanceDir(inst);
    const hasRecord = this.readRecord(inst, dir) !== undefined;
    if (!hasRecord) await this.releaseJournalled(inst, destroyDisks, journal);
    await this.destroyGuest(inst, destroyDisks);
    if (hasRecord) await this.releaseJournalled(inst, destroyDisks, journal);
  }

  /** Releases what the journal lists (reclaim's rules); throws when a release failed. */
  private async releaseJournalled(
    inst: Instance,
    destroyDisks: boolean,
    journal: InstanceJournalWriter,
    only?: (item: JournalItem) => boolean,
  ): Promise<void> {
    if (journal.current.items.length === 0) return;
    const dir = await this.instanceDir(inst);
    const actions = await releaseJournalled(this.host, journal, {
      instancesRoot: dir.slice(0, dir.lastIndexOf('/')),
      keep: destroyDisks ? 'nothing' : 'directory',
      dryRun: false,
      claimed: claimedDevices(
        (await readJournals(this.host, this.stateDir)).filter((j) => j.uuid !== inst.uuid),
      ),
      destroyTimeoutMs: this.options.destroyTimeoutMs ?? 30_000,
      ...(only ? { only } : {}),
    });
    for (const action of actions) this.log.info(describeAction(action));
    const failed = actions.find((a) => a.outcome === 'failed');
    if (failed) {
      throw new DriverError(
        'FailedPrecondition',
        `Failed to destroy instance ${inst.uuid}: could not release ${failed.what}: ${failed.reason ?? ''}`,
        { hint: 'The journal keeps it; destroy again, or run nova-lxc reclaim.' },
      );
    }
  }

  /** The state directory (see LxcDriverOptions.stateDir). */
  private get stateDir(): string {
    return this.options.stateDir ?? DEFAULT_STATE_DIR;
  }

  /** Runs a public operation; anything but a DriverError becomes one. */
  private async surface<T>(action: string, operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      throw asDriverError(action, error);
    }
  }

  /** Spawn's one-way flow: rootfs, then volumes, then the domain built from what they gave. */
  private async createGuest(
    inst: Instance,
    meta: ImageMeta,
    bdi: BlockDeviceInfo,
    powerOn: boolean,
  ): Promise<void> {
    const diskInfo = getDiskInfo(
      { virt_type: 'lxc', instance: inst, image_meta: meta, block_device_info: bdi },
      { conf: this.options.flags ?? {}, host_arch: this.options.hostArch ?? 'x86_64' },
    );
    const volumes = bdi.block_device_mapping ?? [];
    const root = getRootBdm(volumes) as DriverBdm | null;
    const extras = extraVolumes(volumes, root);
    const source = this.rootSource(inst, root, meta);
    const policy = this.policyFor(meta, inst);
    const dir = await this.instanceDir(inst);
    await this.refuseExisting(inst, dir);

    const made: Made = { dirCreated: false, domainDefined: false };
    // What this record lists is made in this boot: the boot id is its first line of proof.
    const boot = await this.host.clock.bootId();
    const save = (record: RootfsRecord) => {
      record.bootId ??= boot;
      this.saveRecord(inst, record);
    };
    try {
      await this.makeOwnDir(dir, 'instance directory', () => (made.dirCreated = true));
      const mountPoint = `${dir}/rootfs`;
      await this.makeOwnDir(mountPoint, 'rootfs mount point');
      const record = await this.disks.setup(
        {
          mountPoint,
          diskPath: `${dir}/disk`,
          source,
          ...policy,
          arch: this.options.hostArch ?? 'x86_64',
          idMaps: this.idMaps,
        },
        save,
      );
      made.record = record;
      if (policy.property !== undefined) this.saveRootPartitionProperty(inst, policy.property);
      const disks: DomainDiskSpec[] = [];
      for (const extra of extras) {
        const connected = await this.host.volumes.connect(extra.connectionInfo);
        if (connected.attached) {
          record.volumes = [
            ...(record.volumes ?? []),
            { key: extra.key, root: false, attached: connected.attached },
          ];
          save(record);
        }
        this.saveVolumeDevice(extra.bdm, connected.devicePath);
        disks.push(diskSpecFor(extra.bdm, connected.devicePath, diskInfo.mapping));
      }
      if (root && record.source.kind === 'volume') {
        this.saveVolumeDevice(root, record.source.devicePath);
      }
      await this.host.hypervisor.define(
        buildLxcDomainXml(this.domainSpec(inst, disks, record.mountPoint, dir)),
      );
      made.domainDefined = true;
      if (!powerOn) {
        // Defined but not started: nothing may hold the rootfs until a power on.
        await this.disks.release(record, save);
        return;
      }
      // The info as it stands right after the start: no dominfo process of its own.
      const { state } = await this.host.hypervisor.start(inst.name);
      if (state !== 'running') {
        throw new DriverError(
          'FailedPrecondition',
          `Failed to spawn instance ${inst.uuid}: the container stopped right after it started (state ${state})`,
          { hint: `Check ${dir}/console.log and the image's /sbin/init.` },
        );
      }
      // The container keeps its own copy of the mount; the host namespace's goes.
      await this.disks.removeHostMount(record);
    } catch (error) {
      await this.rollback(inst, made, dir);
      throw error;
    }
  }

  /** Stops and releases what the record and the hypervisor show of this instance. */
  private async destroyGuest(inst: Instance, destroyDisks: boolean): Promise<void> {
    const dir = await this.instanceDir(inst);
    const { record, stale } = await this.currentRecord(inst, dir);
    const domain = await this.ownDomain(inst);
    // The state ownDomain just read: no second dominfo before the destroy.
    if (domain) await this.stopDomain(inst.name, { state: domain.state });
    const failures: unknown[] = [];
    if (stale) {
      // The record was of an earlier boot: nothing at its mount point or numbers is ours.
    } else if (record) {
      const save = (r: RootfsRecord) => this.saveRecord(inst, r);
      await this.disks.release(record, save).catch((e: unknown) => failures.push(e));
      await this.disks
        .disconnectVolumes(record, save, (v) => !v.root)
        .catch((e: unknown) => failures.push(e));
    } else {
      // No record: nothing is provably ours but a mount on our own mount point.
      await this.disks.removeHostMount({
        version: 1,
        mountPoint: `${dir}/rootfs`,
        source: { kind: 'volume', devicePath: '' },
        attached: [],
      });
    }
    if (failures.length > 0) {
      throw failures[0];
    }
    if (destroyDisks) await this.removeInstanceDir(dir);
    if (domain) await this.undefineIfDefined(inst.name);
  }

  /** Releases exactly what `made` lists, each step on its own: a failure is logged, not masked over the spawn's. */
  private async rollback(inst: Instance, made: Made, dir: string): Promise<void> {
    const steps: [string, () => Promise<void>][] = [];
    if (made.domainDefined) {
      // This call defined it, so it is ours without asking libvirt, which may still have no
      // init pid to answer dominfo with.
      steps.push(['stop the domain', () => this.stopDomain(inst.name, { ours: true })]);
    }
    const record = made.record;
    if (record) {
      const save = (r: RootfsRecord) => this.saveRecord(inst, r);
      steps.push(['release the rootfs', () => this.disks.release(record, save)]);
      steps.push([
        'disconnect volumes',
        () => this.disks.disconnectVolumes(record, save, (v) => !v.root),
      ]);
    }
    if (made.domainDefined) {
      steps.push(['undefine the domain', () => this.undefineIfDefined(inst.name)]);
    }
    if (made.dirCreated) {
      steps.push(['remove the instance directory', () => this.removeInstanceDir(dir)]);
    }
    for (const [what, step] of steps) {
      try {
        await step();
      } catch (error) {
        this.log.error(`Failed to ${what} while rolling back a failed spawn`, {
          error: String(error),
        });
      }
    }
  }

  /** Refuses to spawn an instance that exists, or whose domain name another instance uses. */
  private async refuseExisting(inst: Instance, dir: string): Promise<void> {
    if (this.readRecord(inst, dir)) {
      throw new DriverError(
        'AlreadyExists',
        `Failed to spawn instance ${inst.uuid}: it already has a rootfs record (system_metadata ${ROOTFS_RECORD_KEY})`,
        { hint: 'Destroy the instance first; a spawn never replaces what an instance holds.' },
      );
    }
    const existing = await this.domainInfo(inst.name).catch((error: unknown) => {
      if (hasCode(error, 'NotFound')) return undefined;
      throw error;
    });
    if (existing) {
      const whose =
        existing.uuid === inst.uuid
          ? 'the instance already exists'
          : `another instance's domain (uuid ${existing.uuid}) has that name`;
      throw new DriverError(
        'AlreadyExists',
        `Failed to spawn instance ${inst.uuid}: domain '${inst.name}' exists: ${whose}`,
        { hint: 'Destroy it first, or give the instance another name.' },
      );
    }
  }

  /**
   * Creates a directory the driver owns, or accepts it as a plain directory that exists.
   * A symlink or anything else in its place is refused: the kernel would mount on the
   * symlink's target. `onCreated` hears at once when it was created here, so
   * a later failure still knows to remove it.
   */
  private async makeOwnDir(path: string, what: string, onCreated = () => {}): Promise<void> {
    const kind = await this.host.files.kind(path);
    if (kind === null) {
      if (await this.host.files.ensureDir(path)) onCreated();
    } else if (kind !== 'directory') {
      throw new DriverError(
        'InvalidInput',
        `Failed to prepare the ${what}: ${path} is a ${kind}, not a directory`,
        { hint: 'Remove it; the driver creates this directory itself.', details: { path } },
      );
    }
    const canonical = await this.host.files.realpath(path);
    if (canonical !== path) {
      throw new DriverError(
        'InvalidInput',
        `Failed to prepare the ${what}: ${path} resolves to ${canonical}`,
        { details: { path, canonical } },
      );
    }
  }

  /** Removes the instance directory, unless a device still serves a file in it. */
  private async removeInstanceDir(dir: string): Promise<void> {
    // Only the backing files of the host's other loop devices are read (a compute node has
    // hundreds): listLoops read every attribute of each.
    const [loop] = await this.host.blockDevices.loopsUnder(dir);
    const nbd = (await this.host.nbd.list()).find((n) => isUnder(n.file, dir));
    const holder = loop ? `${loop.device} (${loop.backingFile})` : nbd ? nbd.device : undefined;
    if (holder) {
      throw new DriverError(
        'Busy',
        `Failed to remove ${dir}: ${holder} still serves a file in it; removing it would leave the device bound for good`,
        { hint: 'Release that device first, then destroy again.', details: { dir } },
      );
    }
    await this.host.files.removeTree(dir);
  }

  /**
   * The record, when what it lists was made in this boot of the host (or it predates boot
   * ids). A record of an earlier boot is `stale`: its loop and nbd devices, mount and volume
   * attachments went with that boot, so none is released or taken for ours (another process
   * may hold those numbers now, even over the same file), and it is cleared from
   * system_metadata, each device named in the log.
   */
  private async currentRecord(
    inst: Instance,
    dir: string,
  ): Promise<{ record: RootfsRecord | undefined; stale: boolean }> {
    const record = this.readRecord(inst, dir);
    if (record?.bootId === undefined) return { record, stale: false };
    const boot = await this.host.clock.bootId();
    if (record.bootId === boot) return { record, stale: false };
    const devices = [
      ...record.attached.map((d) => d.device),
      ...(record.volumes ?? []).flatMap((v) => (v.attached ? [v.attached.device] : [])),
    ];
    for (const device of devices) {
      this.log.warn(
        `Not releasing ${device}: it was attached in boot ${record.bootId}, and the host has booted since (now ${boot}); whatever has that number now is not instance ${inst.uuid}'s`,
      );
    }
    clearRootfsRecord(inst.system_metadata);
    return { record: undefined, stale: true };
  }

  /** The record in system_metadata, checked to name only our own paths and devices. */
  private readRecord(inst: Instance, dir: string): RootfsRecord | undefined {
    const record = readRootfsRecord(inst.system_metadata);
    if (!record) return undefined;
    const devices = [...record.attached.map((d) => d.device)];
    const bad =
      record.mountPoint !== `${dir}/rootfs`
        ? `mount point ${record.mountPoint}`
        : record.source.kind === 'image' && record.source.path !== `${dir}/disk`
          ? `instance disk ${record.source.path}`
          : devices.find((d) => !/^\/dev\/(loop|nbd)\d+$/.test(d));
    if (bad !== undefined) {
      throw new DriverError(
        'InvalidInput',
        `Failed to read instance.system_metadata: the rootfs record names ${bad}, which is not this instance's (${dir})`,
        {
          hint: 'The record was changed outside the driver; release the devices by hand.',
          details: { field: `instance.system_metadata.${ROOTFS_RECORD_KEY}` },
        },
      );
    }
    return record;
  }

  // --- Nova's record -------------------------------------------------------------------
  // The only writes into the caller's objects. Nova persists system_metadata with the
  // instance and connection_info with the BDM; until the journal, these are what a driver
  // restart finds. Nothing else in the driver writes into its inputs.

  /** Stores the rootfs record (and Nova's rootfs_device_name), or removes it once empty. */
  private saveRecord(inst: Instance, record: RootfsRecord): void {
    if (isEmptyRecord(record)) {
      clearRootfsRecord(inst.system_metadata);
    } else {
      writeRootfsRecord(inst.system_metadata, record);
    }
  }

  /** `connection_info.data.device_path`, as Nova's libvirt volume drivers report the device. */
  private saveVolumeDevice(bdm: DriverBdm, devicePath: string): void {
    const info = bdm.connection_info;
    if (info && typeof info === 'object' && info.data && typeof info.data === 'object') {
      info.data.device_path = devicePath;
    }
  }

  /**
   * `image_lxc_root_partition`, as Nova's compute manager copies image properties into
   * system_metadata at build: a hard reboot has no image_meta and reads it from there.
   */
  private saveRootPartitionProperty(inst: Instance, value: string): void {
    inst.system_metadata[`image_${ROOT_PARTITION_PROPERTY}`] = value;
  }

  // --- domains ----------------------------------------------------------------------------

  /** The domain named after the instance, if it is this instance's (same uuid). */
  private async ownDomain(inst: Instance): Promise<DomainInfo | undefined> {
    let info: DomainInfo;
    try {
      info = await this.domainInfo(inst.name);
    } catch (error) {
      if (hasCode(error, 'NotFound')) return undefined;
      throw error;
    }
    if (info.uuid.toLowerCase() !== inst.uuid) {
      this.log.warn(
        `Domain ${inst.name} belongs to uuid ${info.uuid}, not instance ${inst.uuid}: leaving it alone`,
      );
      return undefined;
    }
    return info;
  }

  /**
   * The domain's info, waiting (bounded, on the clock) while libvirt answers "Init pid is not
   * yet available": a just-started container on a busy host.
   */
  private async domainInfo(name: string): Promise<DomainInfo> {
    const timeoutMs = this.options.initPidTimeoutMs ?? 30_000;
    const result = await waitUntil(
      this.host.clock,
      { timeoutMs, intervalMs: 100 },
      async (): Promise<Attempt<DomainInfo>> => {
        try {
          return { done: true, value: await this.host.hypervisor.info(name) };
        } catch (error) {
          if (isDriverError(error) && /Init pid is not yet available/.test(error.message)) {
            return { done: false, why: error.message };
          }
          throw error;
        }
      },
    );
    if (!result.ok) {
      throw new DriverError(
        'Timeout',
        `Failed to get domain info of ${name}: libvirt still has no init pid after ${timeoutMs} ms (${result.why})`,
        { hint: 'The host may be overloaded; check libvirtd and the container log, then retry.' },
      );
    }
    return result.value;
  }

  private rootSource(inst: Instance, root: DriverBdm | null, meta: ImageMeta): RootSource {
    if (root) {
      const connectionInfo = connectionInfoOf(root);
      if (!connectionInfo) {
        throw new DriverError(
          'InvalidInput',
          'Failed to read block_device_info: the root volume (boot_index 0) has no connection_info',
          { hint: "Pass the BDM as Nova builds it, with the volume's connection_info." },
        );
      }
      return { kind: 'volume', connectionInfo, key: volumeKey(connectionInfo) };
    }
    if (!inst.image_ref) {
      throw new DriverError(
        'InvalidInput',
        'Failed to read instance: instance.image_ref is empty and block_device_info has no root volume (boot_index 0)',
        { hint: 'Boot from an image (image_ref) or pass a volume with boot_index 0.' },
      );
    }
    // A hard reboot has no image_meta; Nova keeps disk_format in system_metadata.
    const declaredFormat = meta.disk_format ?? inst.system_metadata['image_disk_format'] ?? null;
    return { kind: 'image', imageId: inst.image_ref, format: this.imageFormat(), declaredFormat };
  }

  /** Nova's image backend choice: raw/flat → loop; qcow2, or default with use_cow_images → nbd. */
  private imageFormat(): 'raw' | 'qcow2' {
    const type = this.options.imagesType ?? 'default';
    if (type === 'raw' || type === 'flat') return 'raw';
    if (type === 'qcow2') return 'qcow2';
    return (this.options.useCowImages ?? true) ? 'qcow2' : 'raw';
  }

  private policyFor(
    meta: ImageMeta,
    inst: Instance,
  ): { policy: RootPartitionPolicy; policySource: string; property?: string } {
    // Nova's compute manager copies image properties into system_metadata as image_<name>;
    // a hard reboot has only those, so both places are read and the image's copy is kept.
    const saved = `image_${ROOT_PARTITION_PROPERTY}`;
    const property = meta.properties[ROOT_PARTITION_PROPERTY] ?? inst.system_metadata[saved];
    if (property !== undefined && property !== null) {
      const source = `image property ${ROOT_PARTITION_PROPERTY}`;
      return {
        policy: parseRootPartitionPolicy(String(property), source),
        policySource: source,
        property: String(property),
      };
    }
    const flavorSpec = inst.flavor.extra_specs[FLAVOR_ROOT_PARTITION_SPEC];
    if (flavorSpec !== undefined) {
      const source = `flavor extra spec ${FLAVOR_ROOT_PARTITION_SPEC}`;
      return { policy: parseRootPartitionPolicy(flavorSpec, source), policySource: source };
    }
    if (this.hostPolicy) {
      return { policy: this.hostPolicy, policySource: 'host option root_partition' };
    }
    return { policy: { kind: 'first' }, policySource: 'default (partition 1)' };
  }

  private domainSpec(
    inst: Instance,
    disks: DomainDiskSpec[],
    rootfsDir: string,
    dir: string,
  ): LxcDomainSpec {
    return {
      name: inst.name,
      uuid: inst.uuid,
      memoryKiB: inst.flavor.memory_mb * 1024,
      vcpus: inst.flavor.vcpus,
      init: '/sbin/init',
      cmdline: 'console=tty0 console=ttyS0 console=hvc0',
      initenv: { product_name: 'OpenStack Nova' },
      rootfsDir,
      consoleLog: `${dir}/console.log`,
      disks,
      idmap: this.idMaps,
      metadata: {
        instanceName: inst.name,
        flavorName: inst.flavor.name ?? undefined,
        memoryMb: inst.flavor.memory_mb,
        vcpus: inst.flavor.vcpus,
      },
    };
  }

  /**
   * Stops the named domain (the caller proved it ours) and waits until it is down. `known`:
   * the state the caller has just read (no dominfo first), or `ours` when the caller defined
   * it in this call and stops it whatever its state.
   */
  private async stopDomain(
    name: string,
    known: { state: DomainState } | { ours: true } | undefined = undefined,
  ): Promise<void> {
    let state: DomainState | undefined = known && 'state' in known ? known.state : undefined;
    if (known === undefined) {
      try {
        state = (await this.domainInfo(name)).state;
      } catch (error) {
        if (hasCode(error, 'NotFound')) return;
        throw error;
      }
    }
    if (state === 'shut off' || state === 'shutdown' || state === 'crashed') {
      return;
    }
    try {
      await this.host.hypervisor.destroy(name);
      // libvirt's destroy returns once the domain is off: nothing left to wait for.
      return;
    } catch (error) {
      // Nova tolerates exactly this LXC error; the container is going down regardless.
      if (hasCode(error, 'Busy') && /Some processes refused to die/.test(error.message)) {
        this.log.warn(`Domain ${name}: ${error.message}; waiting for it to stop`);
      } else if (hasCode(error, 'NotFound')) {
        return;
      } else if (!hasCode(error, 'FailedPrecondition')) {
        throw error;
      }
    }
    const timeoutMs = this.options.destroyTimeoutMs ?? 30_000;
    const stopped = await waitUntil(
      this.host.clock,
      { timeoutMs, intervalMs: 500 },
      async (): Promise<Attempt<undefined>> => {
        try {
          const info = await this.host.hypervisor.info(name);
          if (info.state === 'shut off' || info.state === 'shutdown') {
            return { done: true, value: undefined };
          }
          return { done: false, why: info.state };
        } catch (error) {
          if (hasCode(error, 'NotFound')) return { done: true, value: undefined };
          if (isDriverError(error) && /Init pid is not yet available/.test(error.message)) {
            return { done: false, why: 'no init pid yet' };
          }
          throw error;
        }
      },
    );
    if (!stopped.ok) {
      throw new DriverError(
        'Timeout',
        `Failed to destroy domain ${name}: it is still running after ${timeoutMs} ms`,
        {
          hint: "Check the container's processes (virsh -c lxc:/// dominfo); destroy again once it stops.",
        },
      );
    }
  }

  /**
   * Nova's _clean_shutdown: asks once, then checks every second for `timeoutMs`, asking again
   * every `retryIntervalMs`. True once the domain is stopped or gone; false on timeout.
   */
  private async cleanShutdown(
    name: string,
    timeoutMs: number,
    retryIntervalMs: number,
  ): Promise<boolean> {
    const stopped = async () => {
      try {
        const { state } = await this.domainInfo(name);
        return state === 'shut off' || state === 'shutdown' || state === 'crashed';
      } catch (error) {
        if (hasCode(error, 'NotFound')) return true;
        throw error;
      }
    };
    const request = () =>
      this.host.hypervisor.shutdown(name).catch((error: unknown) => {
        // Nova ignores libvirt's answer; the next state check tells what happened.
        this.log.debug(`Ignoring the answer to a shutdown request of ${name}: ${String(error)}`);
      });
    if (await stopped()) return true;
    await request();
    let countdown = Math.floor(retryIntervalMs / 1000);
    for (let second = 0; second < Math.ceil(timeoutMs / 1000); second++) {
      if (await stopped()) return true;
      if (retryIntervalMs > 0 && countdown === 0) {
        countdown = Math.floor(retryIntervalMs / 1000);
        await request();
      } else {
        countdown -= 1;
      }
      await this.host.clock.sleep(1000);
    }
    return stopped();
  }

  private async undefineIfDefined(name: string): Promise<void> {
    try {
      await this.host.hypervisor.undefine(name);
    } catch (error) {
      if (!hasCode(error, 'NotFound')) throw error;
    }
  }
}

/** Reads and checks the instance: the uuid and name become host paths and a domain name. */
function readInstance(instance: unknown): Instance {
  const inst = normalizeInstance(instance);
  checkInstanceIdentity(inst);
  return inst;
}

/** Reads and checks block_device_info, including the volume fields the driver itself reads. */
function readBlockDeviceInfo(blockDeviceInfo: unknown): BlockDeviceInfo {
  const bdi = normalizeBlockDeviceInfo(blockDeviceInfo);
  checkVolumeBdms(bdi);
  return bdi;
}

/** The volumes other than the root that have a connection, with it parsed once. */
function extraVolumes(volumes: DriverBdm[], root: DriverBdm | null): ExtraVolume[] {
  const extras: ExtraVolume[] = [];
  for (const bdm of volumes) {
    if (bdm === root) continue;
    const connectionInfo = connectionInfoOf(bdm);
    if (connectionInfo) extras.push({ bdm, connectionInfo, key: volumeKey(connectionInfo) });
  }
  return extras;
}

/** What names a volume in the record: its file or device path. */
function volumeKey(info: ConnectionInfo): string {
  const data = (info.data ?? {}) as Record<string, unknown>;
  const key = data['path'] ?? data['device_path'];
  return typeof key === 'string' ? key : '';
}

/**
 * Any failure as a DriverError: a Nova exception keeps its type in `details.novaType`
 * (UnsupportedHardware and the other Unsupported* become Unsupported, the rest InvalidInput:
 * Nova raises them for what it was given); anything else is an Internal error.
 */
function asDriverError(action: string, error: unknown): DriverError {
  if (isDriverError(error)) return error;
  if (isNovaError(error)) {
    const code = error.novaType.startsWith('Unsupported') ? 'Unsupported' : 'InvalidInput';
    return new DriverError(code, `Failed to ${action}: ${error.message}`, {
      cause: error,
      details: { novaType: error.novaType, module: error.module },
    });
  }
  return new DriverError('Internal', `Failed to ${action}: ${String(error)}`, {
    cause: error,
    hint: 'This is a bug in nova-lxc; please report it with the instance and block_device_info.',
  });
}

function connectionInfoOf(bdm: DriverBdm): ConnectionInfo | undefined {
  let info = bdm.connection_info;
  if (typeof info === 'string') {
    try {
      info = JSON.parse(info) as DriverBdm['connection_info'];
    } catch {
      throw new DriverError(
        'InvalidInput',
        'Failed to read block_device_info: connection_info is not valid JSON',
      );
    }
  }
  if (info === null || info === undefined || typeof info !== 'object') {
    return undefined;
  }
  return info as ConnectionInfo;
}

function diskSpecFor(bdm: DriverBdm, devicePath: string, mapping: DiskMapping): DomainDiskSpec {
  const name = bdm.mount_device ?? bdm.device_name ?? null;
  const info = mapping.get(name);
  const targetDev =
    info?.dev ?? (name ? name.replace(/^\/dev\//, '') : devicePath.replace(/^\/dev\//, ''));
  return {
    sourceDev: devicePath,
    targetDev,
    bus: info?.bus ?? 'lxc',
    driverType: 'raw',
    cache: 'none',
  };
}

function instanceNotFound(uuid: string): DriverError {
  const error = new DriverError('NotFound', `Instance ${uuid} could not be found.`);
  error.details['novaType'] = 'InstanceNotFound';
  return error;
}
