import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DriverError } from '../driver/errors.js';
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
 * Instance records on disk, one JSON file each, written atomically (temp file + rename in the
 * same directory), so a crash leaves the old record or the new one, never half of one.
 */
export class InstanceRecords {
  readonly dir: string;

  constructor(stateDir: string) {
    this.dir = join(stateDir, 'instances');
  }

  /** Creates the directory (mode 0700: records name devices and paths). */
  async open(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
  }

  async get(uuid: string): Promise<InstanceRecord | undefined> {
    let text: string;
    try {
      text = await readFile(this.path(uuid), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    try {
      return JSON.parse(text) as InstanceRecord;
    } catch (cause) {
      throw new DriverError(
        'Internal',
        `Failed to read instance record ${this.path(uuid)}: it is not valid JSON`,
        {
          hint: 'Inspect the file; move it aside only once the instance is known to be gone.',
          cause,
        },
      );
    }
  }

  async put(record: InstanceRecord): Promise<void> {
    const target = this.path(record.uuid);
    const temp = `${target}.${process.pid}.tmp`;
    await writeFile(temp, JSON.stringify(record, null, 2) + '\n', { mode: 0o600 });
    await rename(temp, target);
  }

  async delete(uuid: string): Promise<void> {
    await rm(this.path(uuid), { force: true });
  }

  /** Every record, sorted by creation time. */
  async list(): Promise<InstanceRecord[]> {
    const names = (await readdir(this.dir)).filter((n) => n.endsWith('.json'));
    const records: InstanceRecord[] = [];
    for (const name of names) {
      const record = await this.get(name.slice(0, -'.json'.length));
      if (record) records.push(record);
    }
    return records.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  private path(uuid: string): string {
    return join(this.dir, `${uuid}.json`);
  }
}
