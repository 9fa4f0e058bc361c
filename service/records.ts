import { DriverError } from '../driver/errors.js';
import type { Journal } from '../driver/ports/journal.js';
import type { SpawnSpec } from './spec.js';

/** What the service keeps about one instance, in `<stateDir>/instances/<uuid>.json`. */
export interface InstanceRecord {
  version: 1;
  uuid: string;
  /** Which backend made it: a sim record means nothing on a real host. */
  backend: 'real' | 'sim';
  /** The spec as validated (defaults filled in); a repeated PUT is compared with it. */
  spec: SpawnSpec;
  /**
   * The instance's system_metadata as the driver left it: carries the rootfs record that
   * proves which devices this instance attached, so a restarted service can release them.
   */
  systemMetadata: Record<string, string>;
  /** spawning until the driver's spawn returned, then active. */
  status: 'spawning' | 'active';
  createdAt: string;
}

/**
 * Instance records, one JSON document per uuid, through the host's Journal port: on the real
 * host files under `<stateDir>/instances/` written durably (temp file, fsync, rename, directory
 * fsync), so a crash or power loss leaves the old record or the new one; on the simulator, the
 * simulated host's own tree (its records live exactly as long as the host they describe).
 */
export class InstanceRecords {
  readonly dir: string;

  constructor(
    private readonly journal: Journal,
    stateDir: string,
  ) {
    this.dir = `${stateDir.replace(/\/+$/, '')}/instances`;
  }

  async get(uuid: string): Promise<InstanceRecord | undefined> {
    const text = await this.journal.read(this.dir, uuid);
    if (text === null) return undefined;
    try {
      return JSON.parse(text) as InstanceRecord;
    } catch (cause) {
      throw new DriverError(
        'Internal',
        `Failed to read instance record ${this.dir}/${uuid}.json: it is not valid JSON`,
        {
          hint: 'Inspect the file; move it aside only once the instance is known to be gone.',
          cause,
        },
      );
    }
  }

  async put(record: InstanceRecord): Promise<void> {
    await this.journal.write(this.dir, record.uuid, JSON.stringify(record, null, 2) + '\n');
  }

  async delete(uuid: string): Promise<void> {
    await this.journal.remove(this.dir, uuid);
  }

  /** Every record, sorted by creation time. */
  async list(): Promise<InstanceRecord[]> {
    const records: InstanceRecord[] = [];
    for (const key of await this.journal.keys(this.dir)) {
      const record = await this.get(key);
      if (record) records.push(record);
    }
    return records.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }
}
