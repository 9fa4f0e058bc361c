import { isDeepStrictEqual } from 'node:util';
import { LxcDriver, POWER_STATE, type LxcDriverOptions } from '../driver/driver.js';
import { DriverError, hasCode } from '../driver/errors.js';
import { readRootfsRecord } from '../driver/core/rootfs-record.js';
import { journalDir, parseJournal } from '../driver/journal.js';
import type { DomainInfo, DomainState, Host, Logger } from '../driver/ports/index.js';
import { KeyedLock } from './keyed-lock.js';
import { withLogContext } from './log.js';
import type { InstanceRecord, InstanceRecords } from './records.js';
import type { SpawnSpec } from './spec.js';
import { toNovaInputs } from './translate.js';

/** The rootfs as the instance view shows it. */
export interface RootView {
  source: string;
  device: string | null;
  partition: number | null;
  fstype: string | null;
  offset: number;
  size: number | null;
  mount: string | null;
}

/** GET /v1/instances/{uuid}. */
export interface InstanceView {
  uuid: string;
  name: string;
  power_state: number;
  state: DomainState;
  root: RootView | null;
  domain: { name: string; uuid: string } | null;
  journal: unknown[];
}

/** One row of GET /v1/instances. */
export interface InstanceSummary {
  uuid: string;
  name: string;
  power_state: number;
  state: DomainState;
}

/** How the instance service is wired. */
export interface InstanceServiceOptions {
  backend: 'real' | 'sim';
  host: Host;
  records: InstanceRecords;
  /** Driver options shared by every instance; a spec's id_maps override uidMaps/gidMaps. */
  driver: Omit<LxcDriverOptions, 'logger'>;
  logger: Logger;
  /** `<instances_path>/_base`, where a spec's image.path must point. */
  imageCache?: string;
  /** The state directory: the driver's journal is `<stateDir>/journal/`. */
  stateDir?: string;
}

/**
 * The service's instances: each operation runs the driver on the Nova-shaped inputs made from
 * the instance's stored spec, one operation per instance at a time, and stores what the driver
 * recorded (system_metadata) after every step that may change it, so a restarted service can
 * still prove and release what an instance holds.
 */
export class InstanceService {
  private readonly lock = new KeyedLock();
  private readonly drivers = new Map<string, LxcDriver>();

  constructor(private readonly options: InstanceServiceOptions) {}

  /** Spawns, or answers for an existing instance: same spec → not created; another spec → AlreadyExists. */
  async spawn(uuid: string, spec: SpawnSpec): Promise<{ created: boolean; view: InstanceView }> {
    return this.locked(uuid, async () => {
      const existing = await this.options.records.get(uuid);
      if (existing) {
        this.checkSameSpec(existing, spec);
        return { created: false, view: await this.viewOf(existing) };
      }
      const record: InstanceRecord = {
        version: 1,
        uuid,
        backend: this.options.backend,
        spec,
        systemMetadata: { ...spec.system_metadata },
        status: 'spawning',
        createdAt: new Date().toISOString(),
      };
      // Translation fails on a bad spec before anything is recorded or done.
      const inputs = toNovaInputs(uuid, spec, record.systemMetadata, this.options.imageCache);
      const driver = this.driverFor(spec);
      await this.options.records.put(record);
      this.options.logger.info('Spawning instance');
      try {
        await driver.spawn(
          {},
          inputs.instance,
          inputs.imageMeta,
          [],
          null,
          null,
          null,
          inputs.blockDeviceInfo,
        );
      } catch (error) {
        // The driver left nothing behind; neither does the record.
        await this.options.records.delete(uuid);
        throw error;
      }
      record.status = 'active';
      await this.options.records.put(record);
      this.options.logger.info('Instance spawned successfully.');
      return { created: true, view: await this.viewOf(record) };
    });
  }

  /** Destroys the instance; false when there is no record of it (Nova's destroy then succeeds). */
  async destroy(uuid: string, destroyDisks: boolean): Promise<boolean> {
    return this.locked(uuid, async () => {
      const record = await this.options.records.get(uuid);
      if (!record) return false;
      await this.withRecord(record, (driver, inputs) =>
        driver.destroy({}, inputs.instance, null, inputs.blockDeviceInfo, destroyDisks),
      );
      await this.options.records.delete(uuid);
      this.options.logger.info('Instance destroyed successfully.');
      return true;
    });
  }

  async reboot(uuid: string, type: 'hard' | 'soft'): Promise<InstanceView> {
    return this.operate(uuid, (driver, inputs) =>
      driver.reboot({}, inputs.instance, null, type.toUpperCase(), inputs.blockDeviceInfo),
    );
  }

  async powerOff(uuid: string, timeoutS: number, retryIntervalS: number): Promise<InstanceView> {
    return this.operate(uuid, (driver, inputs) =>
      driver.powerOff(inputs.instance, {
        timeoutMs: timeoutS * 1000,
        retryIntervalMs: retryIntervalS * 1000,
      }),
    );
  }

  async powerOn(uuid: string): Promise<InstanceView> {
    return this.operate(uuid, (driver, inputs) =>
      driver.powerOn({}, inputs.instance, null, inputs.blockDeviceInfo),
    );
  }

  /**
   * Nova's resume_state_on_host_boot: a running instance is left alone, any other hard
   * rebooted; devices its record names from an earlier boot of the host are never touched.
   */
  async resumeOnHostBoot(uuid: string): Promise<InstanceView> {
    return this.operate(uuid, (driver, inputs) =>
      driver.resumeStateOnHostBoot({}, inputs.instance, null, inputs.blockDeviceInfo),
    );
  }

  /** Nova's get_console_output: the console log's last 100 KiB. */
  async console(uuid: string): Promise<string> {
    return this.locked(uuid, async () => {
      const record = await this.require(uuid);
      const inputs = toNovaInputs(record.uuid, record.spec, record.systemMetadata);
      return this.driverFor(record.spec).getConsoleOutput(inputs.instance);
    });
  }

  async view(uuid: string): Promise<InstanceView> {
    return this.viewOf(await this.require(uuid));
  }

  async list(): Promise<InstanceSummary[]> {
    const records = await this.options.records.list();
    const domains = new Map((await this.options.host.hypervisor.list()).map((d) => [d.name, d]));
    return records.map((r) => {
      const state = domains.get(r.spec.name)?.state ?? 'nostate';
      return { uuid: r.uuid, name: r.spec.name, power_state: POWER_STATE[state], state };
    });
  }

  /** Every record, for resource accounting. */
  async records(): Promise<InstanceRecord[]> {
    return this.options.records.list();
  }

  private async operate(
    uuid: string,
    step: (driver: LxcDriver, inputs: ReturnType<typeof toNovaInputs>) => Promise<void>,
  ): Promise<InstanceView> {
    return this.locked(uuid, async () => {
      const record = await this.require(uuid);
      await this.withRecord(record, step);
      return this.viewOf(record);
    });
  }

  /** Runs a driver step on the record's inputs and stores what it recorded, also on failure. */
  private async withRecord(
    record: InstanceRecord,
    step: (driver: LxcDriver, inputs: ReturnType<typeof toNovaInputs>) => Promise<void>,
  ): Promise<void> {
    const inputs = toNovaInputs(record.uuid, record.spec, record.systemMetadata);
    try {
      await step(this.driverFor(record.spec), inputs);
    } finally {
      await this.options.records.put(record);
    }
  }

  private locked<T>(uuid: string, task: () => Promise<T>): Promise<T> {
    return withLogContext({ instance: uuid }, () => this.lock.run(uuid, task));
  }

  private async require(uuid: string): Promise<InstanceRecord> {
    const record = await this.options.records.get(uuid);
    if (!record) {
      const error = new DriverError('NotFound', `Instance ${uuid} could not be found.`);
      error.details['novaType'] = 'InstanceNotFound';
      throw error;
    }
    return record;
  }

  private checkSameSpec(existing: InstanceRecord, spec: SpawnSpec): void {
    if (existing.status !== 'active') {
      throw new DriverError(
        'Busy',
        `Failed to spawn instance ${existing.uuid}: an earlier spawn of it did not finish`,
        { hint: 'Delete the instance (DELETE /v1/instances/{uuid}), then spawn it again.' },
      );
    }
    const differing = (Object.keys({ ...existing.spec, ...spec }) as (keyof SpawnSpec)[]).filter(
      (key) => !isDeepStrictEqual(existing.spec[key], spec[key]),
    );
    if (differing.length > 0) {
      throw new DriverError(
        'AlreadyExists',
        `Failed to spawn instance ${existing.uuid}: it exists with a different spec (${differing.join(', ')} differ)`,
        { hint: 'PUT the same spec again, or delete the instance first.', details: { differing } },
      );
    }
  }

  private driverFor(spec: SpawnSpec): LxcDriver {
    const uid = spec.id_maps?.uid ?? this.options.driver.uidMaps ?? [];
    const gid = spec.id_maps?.gid ?? this.options.driver.gidMaps ?? [];
    const rootPartition = spec.root_partition?.policy ?? this.options.driver.rootPartition;
    const key = JSON.stringify([uid, gid, rootPartition ?? null]);
    let driver = this.drivers.get(key);
    if (!driver) {
      driver = new LxcDriver(this.options.host, {
        ...this.options.driver,
        uidMaps: uid,
        gidMaps: gid,
        ...(rootPartition === undefined ? {} : { rootPartition }),
        logger: this.options.logger,
      });
      this.drivers.set(key, driver);
    }
    return driver;
  }

  private async viewOf(record: InstanceRecord): Promise<InstanceView> {
    let domain: DomainInfo | undefined;
    try {
      domain = await this.options.host.hypervisor.info(record.spec.name);
    } catch (error) {
      if (!hasCode(error, 'NotFound')) throw error;
    }
    const state = domain?.state ?? 'nostate';
    return {
      uuid: record.uuid,
      name: record.spec.name,
      power_state: POWER_STATE[state],
      state,
      root: await this.rootOf(record),
      domain: domain ? { name: domain.name, uuid: domain.uuid } : null,
      journal: await this.journalOf(record.uuid),
    };
  }

  /** The driver's journal entries for the instance (what it made, in order), if it keeps one. */
  private async journalOf(uuid: string): Promise<unknown[]> {
    if (this.options.stateDir === undefined) return [];
    const text = await this.options.host.journal.read(journalDir(this.options.stateDir), uuid);
    if (text === null) return [];
    try {
      return parseJournal(uuid, text).items;
    } catch (error) {
      this.options.logger.warn(`Ignoring an unreadable journal: ${String(error)}`);
      return [];
    }
  }

  private async rootOf(record: InstanceRecord): Promise<RootView | null> {
    const rootfs = readRootfsRecord(record.systemMetadata);
    if (!rootfs) return null;
    // A record of an earlier boot names devices that went with it (until resume clears it).
    if (rootfs.bootId !== undefined && rootfs.bootId !== (await this.options.host.clock.bootId()))
      return null;
    const lastLoop = rootfs.attached.filter((a) => a.kind === 'loop').at(-1);
    const mounted = (await this.options.host.mounts.list()).some(
      (m) => m.target === rootfs.mountPoint,
    );
    return {
      source: rootfs.source.kind === 'volume' ? rootfs.source.devicePath : rootfs.source.path,
      device: rootfs.mountedDevice ?? null,
      partition: rootfs.partition ?? null,
      fstype: rootfs.fstype ?? null,
      offset: lastLoop?.offset ?? 0,
      size: lastLoop && lastLoop.sizeLimit > 0 ? lastLoop.sizeLimit : null,
      mount: mounted ? rootfs.mountPoint : null,
    };
  }
}
