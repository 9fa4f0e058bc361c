/**
 * Which processes hold a state directory (the Journal port's hold, release and holders), kept
 * once for both backends: one record per process, `<dir>/holders/<pid>.json`, written through
 * the journal's own atomic records. Whether a recorded process still runs is the backend's
 * answer (the real host reads /proc; the simulator keeps a set of live processes).
 */
import type { HolderRole, Journal, StateHolder } from '../ports/journal.js';

/** A process as its holder record names it. */
export interface ProcessIdentity {
  pid: number;
  /**
   * When the process started, in the backend's terms (the real host: clock ticks since boot,
   * /proc/<pid>/stat field 22): with `boot`, it tells the recorded process from a later one
   * that was given the same pid.
   */
  start: string;
  /** The host's boot id when the record was written. */
  boot: string;
}

/** One process's holder record. */
export interface HolderRecord extends ProcessIdentity {
  roles: Partial<Record<HolderRole, { name: string; since: string }>>;
}

/** What a backend tells about processes. */
export interface ProcessTable {
  /** This process. */
  self(): Promise<ProcessIdentity>;
  /** Whether the recorded process still runs: same pid, same start, this boot. */
  alive(identity: ProcessIdentity): Promise<boolean>;
  /** Now, ISO 8601 (a holder's `since`). */
  now(): string;
}

/** The records' directory below a state directory. */
export function holdersDir(stateDir: string): string {
  return `${stateDir.replace(/\/+$/, '')}/holders`;
}

function parseRecord(text: string | null): HolderRecord | undefined {
  if (text === null) return undefined;
  try {
    const record = JSON.parse(text) as Partial<HolderRecord>;
    if (
      typeof record.pid === 'number' &&
      typeof record.start === 'string' &&
      typeof record.boot === 'string' &&
      typeof record.roles === 'object' &&
      record.roles !== null
    ) {
      return record as HolderRecord;
    }
  } catch {
    // A torn or foreign file is no holder.
  }
  return undefined;
}

/**
 * This process's holds, for one backend: the roles it holds per directory live here (one
 * object per process on the real host, per simulated host in the simulator), and every
 * change rewrites this process's record. Changes run one at a time.
 */
export class ProcessHolds {
  private readonly roles = new Map<string, HolderRecord['roles']>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly processes: ProcessTable) {}

  hold(journal: Journal, dir: string, role: HolderRole, name: string): Promise<void> {
    return this.serial(async () => {
      const roles = this.roles.get(dir) ?? {};
      if (roles[role]?.name === name) return;
      roles[role] = { name, since: this.processes.now() };
      this.roles.set(dir, roles);
      await this.save(journal, dir);
      // Records of processes that are gone: proven stale, so they go (a crash leaves them).
      for (const { key, record } of await this.records(journal, dir)) {
        if (record.pid !== (await this.processes.self()).pid) {
          if (!(await this.processes.alive(record))) await journal.remove(holdersDir(dir), key);
        }
      }
    });
  }

  release(journal: Journal, dir: string, role: HolderRole): Promise<void> {
    return this.serial(async () => {
      const roles = this.roles.get(dir);
      if (!roles?.[role]) return;
      delete roles[role];
      if (Object.keys(roles).length === 0) this.roles.delete(dir);
      await this.save(journal, dir);
    });
  }

  async holders(journal: Journal, dir: string): Promise<StateHolder[]> {
    const self = await this.processes.self();
    const out: StateHolder[] = [];
    for (const { record } of await this.records(journal, dir)) {
      if (record.pid === self.pid || !(await this.processes.alive(record))) continue;
      for (const role of ['driver', 'reclaim'] as const) {
        const held = record.roles[role];
        if (held) out.push({ pid: record.pid, role, name: held.name, since: held.since });
      }
    }
    return out;
  }

  private async save(journal: Journal, dir: string): Promise<void> {
    const self = await this.processes.self();
    const roles = this.roles.get(dir);
    if (!roles) {
      await journal.remove(holdersDir(dir), String(self.pid));
      return;
    }
    const record: HolderRecord = { ...self, roles };
    await journal.write(holdersDir(dir), String(self.pid), JSON.stringify(record));
  }

  private async records(
    journal: Journal,
    dir: string,
  ): Promise<{ key: string; record: HolderRecord }[]> {
    const out: { key: string; record: HolderRecord }[] = [];
    for (const key of await journal.keys(holdersDir(dir))) {
      const record = parseRecord(await journal.read(holdersDir(dir), key));
      if (record && String(record.pid) === key) out.push({ key, record });
    }
    return out;
  }

  private serial<T>(step: () => Promise<T>): Promise<T> {
    const run = this.queue.then(step, step);
    this.queue = run.catch(() => undefined);
    return run;
  }
}

/** A Journal whose hold, release and holders are `holds`' (both backends extend it). */
export abstract class HoldingJournal implements Journal {
  constructor(private readonly holds: ProcessHolds) {}

  abstract write(dir: string, key: string, content: string): Promise<void>;
  abstract read(dir: string, key: string): Promise<string | null>;
  abstract keys(dir: string): Promise<string[]>;
  abstract remove(dir: string, key: string): Promise<void>;

  hold(dir: string, role: HolderRole, name: string): Promise<void> {
    return this.holds.hold(this, dir, role, name);
  }

  release(dir: string, role: HolderRole): Promise<void> {
    return this.holds.release(this, dir, role);
  }

  holders(dir: string): Promise<StateHolder[]> {
    return this.holds.holders(this, dir);
  }
}

/** `nova-lxc serve (pid 1234, since …)`: a holder as messages name it. */
export function describeHolder(holder: StateHolder): string {
  return `${holder.name} (pid ${holder.pid}, since ${holder.since})`;
}
