import { getDiskInfo, getRootBdm, type DiskMapping } from './nova/blockinfo.js';
import type { NovaConf } from './nova/conf.js';
import {
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
import { parseRootPartitionPolicy, type RootPartitionPolicy } from './core/root-choice.js';
import { LxcDiskHandler, type RootSource } from './disk-handler.js';
import { DriverError, hasCode } from './errors.js';
import type { DomainState, Host, IdMap, Logger } from './ports/index.js';
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
const POWER_STATE: Record<DomainState, number> = {
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
  logger?: Logger;
}

/** What get_info returns: Nova's InstanceInfo. */
export interface InstanceInfo {
  state: number;
  internal_id?: string;
}

const SUPPORTED_IMAGE_TYPES = new Set(['default', 'raw', 'flat', 'qcow2']);

/**
 * Nova's LibvirtDriver for virt_type=lxc, spawn and destroy: the same inputs (instance,
 * image_meta, block_device_info) and disk mapping, with the blueprint's block-device rootfs
 * done right. All IO goes through the Host's ports.
 */
export class LxcDriver {
  private readonly disks: LxcDiskHandler;
  private readonly log: Logger;
  private readonly idMaps: { uid: IdMap[]; gid: IdMap[] };
  private readonly hostPolicy: RootPartitionPolicy | undefined;

  constructor(
    private readonly host: Host,
    private readonly options: LxcDriverOptions,
  ) {
    this.log = options.logger ?? silentLogger;
    if (!options.instancesPath?.startsWith('/')) {
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
    this.disks = new LxcDiskHandler(host, this.log);
  }

  /**
   * Creates and starts the container. On any failure the host is left as it was before the
   * call: no loop or nbd device, mount, domain or instance directory this call made survives,
   * and no volume data is touched.
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
    const inst = normalizeInstance(instance);
    const meta = normalizeImageMeta(imageMeta);
    const bdi = normalizeBlockDeviceInfo(blockDeviceInfo);
    const dir = await this.instanceDir(inst);
    const created = await this.host.files.ensureDir(dir);
    try {
      await this.createGuest(inst, meta, bdi, powerOn, dir);
    } catch (error) {
      await this.rollbackSpawn(inst, bdi, created, dir);
      throw error;
    }
  }

  /**
   * Stops the container and releases everything recorded for it. Tolerates libvirt's
   * "Some processes refused to die", a missing domain and a partial record; safe to repeat,
   * and works from a fresh driver that only has the instance record.
   */
  async destroy(
    _context: unknown,
    instance: unknown,
    _networkInfo: unknown = null,
    blockDeviceInfo: unknown = null,
    destroyDisks = true,
  ): Promise<void> {
    const inst = normalizeInstance(instance);
    const bdi = normalizeBlockDeviceInfo(blockDeviceInfo);
    const dir = await this.instanceDir(inst);
    await this.stopDomain(inst.name);
    await this.disks.release(inst.system_metadata, `${dir}/rootfs`);
    await this.disconnectVolumes(bdi, destroyDisks);
    if (destroyDisks) {
      await this.host.files.removeTree(dir);
    }
    await this.undefineIfDefined(inst.name);
  }

  /**
   * Reboot as Nova does it. HARD: destroy keeping the disks, then create the guest again. SOFT:
   * first a clean shutdown, waited for up to softRebootTimeoutMs, then the same re-creation (the
   * rootfs is no longer mounted on the host, so the container cannot simply be started again);
   * a guest that ignores the request is stopped at once, as Nova falls back to a hard reboot.
   */
  async reboot(
    context: unknown,
    instance: unknown,
    networkInfo: unknown,
    rebootType: string,
    blockDeviceInfo: unknown = null,
  ): Promise<void> {
    if (rebootType.toUpperCase() === 'SOFT') {
      const name = normalizeInstance(instance).name;
      const timeout = this.options.softRebootTimeoutMs ?? 120_000;
      if (!(await this.cleanShutdown(name, timeout, 0))) {
        this.log.warn(`Domain ${name} did not shut down in ${timeout} ms; rebooting it hard`);
      }
    }
    await this.destroy(context, instance, networkInfo, blockDeviceInfo, false);
    const inst = normalizeInstance(instance);
    const bdi = normalizeBlockDeviceInfo(blockDeviceInfo);
    const dir = await this.instanceDir(inst);
    try {
      await this.createGuest(inst, normalizeImageMeta(null), bdi, true, dir);
    } catch (error) {
      await this.rollbackSpawn(inst, bdi, false, dir);
      throw error;
    }
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
    const inst = normalizeInstance(instance);
    const dir = await this.instanceDir(inst);
    const timeout = options.timeoutMs ?? 0;
    if (
      timeout > 0 &&
      !(await this.cleanShutdown(inst.name, timeout, options.retryIntervalMs ?? 0))
    ) {
      this.log.info(`Instance failed to shutdown in ${timeout / 1000} seconds.`);
    }
    await this.stopDomain(inst.name);
    await this.disks.release(inst.system_metadata, `${dir}/rootfs`);
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
   * Nova's get_console_output for an LXC pty console: appends what the console produced since
   * the last call to `<instance dir>/console.log` (so output survives reboots) and returns the
   * log's last MAX_CONSOLE_BYTES. NotFound (InstanceNotFound) when no domain exists.
   */
  async getConsoleOutput(instance: unknown): Promise<string> {
    const inst = normalizeInstance(instance);
    let fresh: string;
    try {
      fresh = await this.host.hypervisor.readConsole(inst.name);
    } catch (error) {
      if (hasCode(error, 'NotFound')) throw instanceNotFound(inst.uuid, error);
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
  }

  /** The instance's power state. NotFound (Nova's InstanceNotFound) when no domain exists. */
  async getInfo(instance: unknown): Promise<InstanceInfo> {
    const inst = normalizeInstance(instance);
    try {
      const info = await this.host.hypervisor.info(inst.name);
      return { state: POWER_STATE[info.state], internal_id: info.uuid };
    } catch (error) {
      if (hasCode(error, 'NotFound')) {
        throw instanceNotFound(inst.uuid, error);
      }
      throw error;
    }
  }

  /** Names of every domain on the host, as Nova's list_instances returns them. */
  async listInstances(): Promise<string[]> {
    return (await this.host.hypervisor.list()).map((d) => d.name);
  }

  /**
   * `<instances_path>/<uuid>`, with instances_path's symlinks resolved: the kernel records mount
   * points canonically, and a lexical path would neither find the rootfs mount nor keep
   * removeTree out of a mounted volume.
   */
  async instanceDir(instance: Instance): Promise<string> {
    const root = this.options.instancesPath.replace(/\/+$/, '') || '/';
    const canonical = await this.host.files.realpath(root).catch((error: unknown) => {
      if (hasCode(error, 'NotFound')) return root;
      throw error;
    });
    return `${canonical.replace(/\/+$/, '')}/${instance.uuid}`;
  }

  private async createGuest(
    inst: Instance,
    meta: ImageMeta,
    bdi: BlockDeviceInfo,
    powerOn: boolean,
    dir: string,
  ): Promise<void> {
    const diskInfo = getDiskInfo(
      { virt_type: 'lxc', instance: inst, image_meta: meta, block_device_info: bdi },
      { conf: this.options.flags ?? {}, host_arch: this.options.hostArch ?? 'x86_64' },
    );
    const volumes = bdi.block_device_mapping ?? [];
    const root = getRootBdm(volumes) as DriverBdm | null;
    const disks: DomainDiskSpec[] = [];
    for (const bdm of volumes) {
      if (bdm === root) continue;
      const connectionInfo = connectionInfoOf(bdm);
      if (!connectionInfo) continue;
      const connected = await this.host.volumes.connect(connectionInfo);
      disks.push(diskSpecFor(bdm, connected.devicePath, diskInfo.mapping));
    }
    const xml = buildLxcDomainXml(this.domainSpec(inst, disks, dir));
    const request = {
      instanceDir: dir,
      systemMetadata: inst.system_metadata,
      source: this.rootSource(inst, root, meta),
      ...this.policyFor(meta, inst),
      arch: this.options.hostArch ?? 'x86_64',
      idMaps: this.idMaps,
    };
    const running = await this.disks.around(request, inst.name, async () => {
      await this.host.hypervisor.define(xml);
      if (!powerOn) return false;
      await this.host.hypervisor.start(inst.name);
      return (await this.host.hypervisor.info(inst.name)).state === 'running';
    });
    if (powerOn && !running) {
      const state = await this.host.hypervisor.info(inst.name).then(
        (i) => i.state,
        () => 'gone',
      );
      throw new DriverError(
        'FailedPrecondition',
        `Failed to spawn instance ${inst.uuid}: the container stopped right after it started (state ${state})`,
        { hint: `Check ${dir}/console.log and the image's /sbin/init.` },
      );
    }
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
      return { kind: 'volume', connectionInfo };
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
  ): { policy: RootPartitionPolicy; policySource: string } {
    // Nova's compute manager copies image properties into system_metadata as image_<name>;
    // a hard reboot has only those, so both places are read and the image's copy is kept.
    const saved = `image_${ROOT_PARTITION_PROPERTY}`;
    const property = meta.properties[ROOT_PARTITION_PROPERTY] ?? inst.system_metadata[saved];
    if (property !== undefined && property !== null) {
      inst.system_metadata[saved] = String(property);
      const source = `image property ${ROOT_PARTITION_PROPERTY}`;
      return { policy: parseRootPartitionPolicy(String(property), source), policySource: source };
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

  private domainSpec(inst: Instance, disks: DomainDiskSpec[], dir: string): LxcDomainSpec {
    return {
      name: inst.name,
      uuid: inst.uuid,
      memoryKiB: inst.flavor.memory_mb * 1024,
      vcpus: inst.flavor.vcpus,
      init: '/sbin/init',
      cmdline: 'console=tty0 console=ttyS0 console=hvc0',
      initenv: { product_name: 'OpenStack Nova' },
      rootfsDir: `${dir}/rootfs`,
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

  private async stopDomain(name: string): Promise<void> {
    let state: DomainState;
    try {
      state = (await this.host.hypervisor.info(name)).state;
    } catch (error) {
      if (hasCode(error, 'NotFound')) return;
      throw error;
    }
    if (state === 'shut off' || state === 'shutdown' || state === 'crashed') {
      return;
    }
    try {
      await this.host.hypervisor.destroy(name);
    } catch (error) {
      // Nova tolerates exactly this LXC error; the container is going down regardless.
      if (hasCode(error, 'Busy') && /Some processes refused to die/.test(error.message)) {
        this.log.warn(`Domain ${name}: ${error.message}; waiting for it to stop`);
      } else if (!hasCode(error, 'NotFound', 'FailedPrecondition')) {
        throw error;
      }
    }
    const deadline = this.host.clock.now() + (this.options.destroyTimeoutMs ?? 30_000);
    for (;;) {
      try {
        const info = await this.host.hypervisor.info(name);
        if (info.state === 'shut off' || info.state === 'shutdown') return;
      } catch (error) {
        if (hasCode(error, 'NotFound')) return;
        throw error;
      }
      if (this.host.clock.now() >= deadline) {
        throw new DriverError(
          'Timeout',
          `Failed to destroy domain ${name}: it is still running after ${this.options.destroyTimeoutMs ?? 30_000} ms`,
          {
            hint: "Check the container's processes (virsh -c lxc:/// dominfo); destroy again once it stops.",
          },
        );
      }
      await this.host.clock.sleep(500);
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
        const { state } = await this.host.hypervisor.info(name);
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

  private async disconnectVolumes(bdi: BlockDeviceInfo, ignoreErrors: boolean): Promise<void> {
    for (const bdm of bdi.block_device_mapping ?? []) {
      const connectionInfo = connectionInfoOf(bdm);
      if (!connectionInfo) continue;
      try {
        await this.host.volumes.disconnect(connectionInfo);
      } catch (error) {
        // Nova ignores disconnect errors when it deletes the instance's disks anyway.
        if (!ignoreErrors) throw error;
        this.log.warn('Ignoring a volume disconnect failure while deleting the instance', {
          error: String(error),
        });
      }
    }
  }

  private async rollbackSpawn(
    inst: Instance,
    bdi: BlockDeviceInfo,
    removeDir: boolean,
    dir: string,
  ): Promise<void> {
    const steps: [string, () => Promise<void>][] = [
      ['stop the domain', () => this.stopDomain(inst.name)],
      ['release the rootfs', () => this.disks.release(inst.system_metadata, `${dir}/rootfs`)],
      ['disconnect volumes', () => this.disconnectVolumes(bdi, true)],
      ['undefine the domain', () => this.undefineIfDefined(inst.name)],
    ];
    if (removeDir) {
      steps.push(['remove the instance directory', () => this.host.files.removeTree(dir)]);
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

function instanceNotFound(uuid: string, cause: unknown): DriverError {
  const error = new DriverError('NotFound', `Instance ${uuid} could not be found.`, { cause });
  error.details['novaType'] = 'InstanceNotFound';
  return error;
}
