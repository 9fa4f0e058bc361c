import { DriverError, hasCode } from './errors.js';
import type { Host, Logger } from './ports/index.js';
import { silentLogger } from './ports/logger.js';
import type { ConnectionInfo } from './ports/volume-connector.js';

/** Where the driver keeps its state by default; see LxcDriverOptions.stateDir for why. */
export const DEFAULT_STATE_DIR = '/var/lib/nova-lxc';

/** The journal's directory below a state directory (`instances/` belongs to the service). */
export function journalDir(stateDir: string): string {
  return `${stateDir.replace(/\/+$/, '')}/journal`;
}

/** One thing on the host the driver made (or is about to make) for an instance. */
export type JournalTarget =
  | { kind: 'directory'; path: string }
  | {
      kind: 'loop';
      /** Why it was attached: a rootfs mapping, or a file-backed volume's connection. */
      role: 'rootfs' | 'volume';
      backingFile: string;
      offset: number;
      sizeLimit: number;
      /** Known once the attach returned. */
      device?: string;
      /** The kernel's diskseq of the attachment, known with the device (where the kernel has one). */
      diskseq?: number;
    }
  | { kind: 'nbd'; file: string; device?: string }
  | { kind: 'mount'; source: string; target: string }
  | { kind: 'domain'; name: string; uuid: string };

/** A journal entry: written (`done` false) and flushed before the action, marked done after. */
export interface JournalItem {
  id: number;
  done: boolean;
  target: JournalTarget;
  /**
   * The host's boot id (Clock.bootId) when it was written: a loop or nbd device or a mount of
   * another boot went with that boot, so it is dropped, never released. Absent in older journals.
   */
  boot?: string;
}

/** The operations that change an instance's host state. */
export type JournalOperation = 'spawn' | 'destroy' | 'reboot' | 'power-off';

/** One instance's journal, stored as JSON under its uuid. */
export interface InstanceJournal {
  version: 1;
  uuid: string;
  /** The domain name the instance runs under. */
  domain: string;
  /** `<instances_path>/<uuid>`, canonical. */
  instanceDir: string;
  /** The operation under way; null once the last one finished (the instance is live). */
  operation: JournalOperation | null;
  /** Next item id. */
  next: number;
  /** What the instance holds, in the order it was made (released in reverse). */
  items: JournalItem[];
}

/** Parses a stored journal; a malformed one is an error naming the key (never guessed at). */
export function parseJournal(key: string, text: string): InstanceJournal {
  let parsed: Partial<InstanceJournal>;
  try {
    parsed = JSON.parse(text) as Partial<InstanceJournal>;
  } catch {
    parsed = {};
  }
  if (
    parsed.version !== 1 ||
    parsed.uuid !== key ||
    typeof parsed.domain !== 'string' ||
    typeof parsed.instanceDir !== 'string' ||
    !Array.isArray(parsed.items)
  ) {
    throw new DriverError('InvalidInput', `Failed to read journal record ${key}: it is malformed`, {
      hint: 'Inspect the file under <stateDir>/journal/; it was not written by this version.',
    });
  }
  return parsed as InstanceJournal;
}

/**
 * One instance's journal, kept in memory and written through the Journal port on every change:
 * `intend` before an action, `complete` after it, `drop` once it is undone.
 */
export class InstanceJournalWriter {
  /** The first item id the current operation made (items below it are older). */
  firstId = 1;
  /** The state before `begin`, and whether the operation changed anything since. */
  private before: { operation: JournalOperation | null; changed: boolean } | undefined;

  private constructor(
    private readonly host: Host,
    private readonly dir: string,
    private record: InstanceJournal,
    private stored: boolean,
    private readonly boot: string,
  ) {}

  /** Loads the stored journal of `uuid`, or starts an empty one (not written until it changes). */
  static async open(
    host: Host,
    dir: string,
    ids: { uuid: string; domain: string; instanceDir: string },
  ): Promise<InstanceJournalWriter> {
    const text = await host.journal.read(dir, ids.uuid);
    const boot = await host.clock.bootId();
    if (text !== null) {
      return new InstanceJournalWriter(host, dir, parseJournal(ids.uuid, text), true, boot);
    }
    const empty: InstanceJournal = {
      version: 1,
      ...ids,
      operation: null,
      next: 1,
      items: [],
    };
    return new InstanceJournalWriter(host, dir, empty, false, boot);
  }

  /** A copy of the current record. */
  get current(): InstanceJournal {
    return structuredClone(this.record);
  }

  /**
   * Marks `operation` as under way. It is written with the first change it makes (an
   * operation that changes nothing, e.g. a refused spawn, leaves the journal as it was), or
   * at once with `now` (a destroy: whatever it does before a crash, reclaim finishes it).
   */
  async begin(operation: JournalOperation, now = false): Promise<void> {
    this.before = { operation: this.record.operation, changed: false };
    this.firstId = this.record.next;
    this.record.operation = operation;
    if (now && this.stored) await this.save();
  }

  /**
   * Ends the operation: with nothing left the record goes; otherwise a finished operation
   * leaves a live instance (operation null) and a failed one that changed something stays
   * marked for reclaim. A failed one that changed nothing restores the previous state.
   */
  async finish(succeeded: boolean): Promise<void> {
    const before = this.before;
    this.before = undefined;
    if (before && !before.changed) {
      this.record.operation = succeeded ? null : before.operation;
      if (!succeeded || !this.stored) return;
    }
    if (this.record.items.length === 0) {
      if (this.stored) await this.host.journal.remove(this.dir, this.record.uuid);
      this.stored = false;
      return;
    }
    if (succeeded) this.record.operation = null;
    await this.save();
  }

  /** Records the intent to make `target`; returns its id. Flushed when this resolves. */
  async intend(target: JournalTarget): Promise<number> {
    const id = this.record.next++;
    this.record.items.push({ id, done: false, target, boot: this.boot });
    try {
      await this.save();
    } catch (error) {
      // Not durable, so not done: the action must not happen, and the entry is forgotten.
      this.record.items = this.record.items.filter((item) => item.id !== id);
      throw error;
    }
    return id;
  }

  /**
   * Marks item `id` done, with what the action returned (e.g. the device it attached). A mark
   * that changes no target (a mount, a directory, a define: the intent named all of it) is
   * written with the journal's next write instead of one of its own: nothing reads `done`
   * (reclaim and destroy go by targets), so a crash before then leaves exactly what a written
   * mark would. That saves three durable writes per spawn. A mark that adds something (the
   * loop device an attach got, with its diskseq) is written before this resolves.
   */
  async complete(id: number, target: JournalTarget): Promise<void> {
    const item = this.record.items.find((i) => i.id === id);
    if (!item) return;
    const changes = !sameTarget(item.target, target);
    item.done = true;
    item.target = target;
    if (this.before) this.before.changed = true;
    if (changes) await this.save();
  }

  /**
   * Removes the items `match` selects in memory only; written with the journal's next write.
   * For entries whose staleness is harmless because what they name is proven again before
   * anything is released (a mount: reclaim unmounts only what is mounted at the instance's
   * own mount point): a crash before the next write leaves the entry, as a crash between the
   * release and its drop always could. Returns whether anything was removed.
   */
  dropLater(match: (item: JournalItem) => boolean): boolean {
    const kept = this.record.items.filter((item) => !match(item));
    if (kept.length === this.record.items.length) return false;
    this.record.items = kept;
    if (this.before) this.before.changed = true;
    return true;
  }

  /** Removes the items `match` selects (undone, or never made); writes only on a change. */
  async drop(match: (item: JournalItem) => boolean): Promise<void> {
    if (this.dropLater(match)) await this.save();
  }

  private async save(): Promise<void> {
    if (this.before) this.before.changed = true;
    await this.host.journal.write(this.dir, this.record.uuid, JSON.stringify(this.record));
    this.stored = true;
  }
}

/** Whether two journal targets name the same thing, field by field (they are flat). */
function sameTarget(a: JournalTarget, b: JournalTarget): boolean {
  const left = a as unknown as Record<string, unknown>;
  const right = b as unknown as Record<string, unknown>;
  const keys = new Set([...Object.keys(left), ...Object.keys(right)]);
  return [...keys].every((key) => left[key] === right[key]);
}

/**
 * The Host an instance's operation runs on: the same ports, but every attach, connect, mount,
 * define and directory creation is journalled (and flushed) before it happens and marked done
 * after, and every release drops its entry. A crash at any point leaves a journal that names
 * everything the host may hold for the instance.
 */
export function journalledHost(
  host: Host,
  journal: InstanceJournalWriter,
  log: Logger = silentLogger,
): Host {
  const ids = journal.current;
  /**
   * A done mark or a drop that cannot be written is not the action's failure: the intent is
   * durable already (reclaim proves the device from it), so the action's result stands.
   */
  const after = async (what: string, write: () => Promise<void>): Promise<void> => {
    await write().catch((error: unknown) => {
      log.warn(`Failed to update the journal after ${what}; it keeps the earlier entry`, {
        error: String(error),
      });
    });
  };
  const attempt = async <T>(
    target: JournalTarget,
    act: () => Promise<T>,
    done: (result: T) => JournalTarget,
  ): Promise<T> => {
    const id = await journal.intend(target);
    let result: T;
    try {
      result = await act();
    } catch (error) {
      // The port failed: it made nothing (its contract), so the intent is void.
      await after('a failed action', () => journal.drop((item) => item.id === id));
      throw error;
    }
    await after('an action', () => journal.complete(id, done(result)));
    return result;
  };
  const released = async (
    act: () => Promise<void>,
    match: (target: JournalTarget) => boolean,
  ): Promise<void> => {
    try {
      await act();
    } catch (error) {
      if (!hasCode(error, 'NotFound')) throw error;
      await after('a release', () => journal.drop((item) => match(item.target)));
      throw error;
    }
    await after('a release', () => journal.drop((item) => match(item.target)));
  };
  const { blockDevices, nbd, mounts, hypervisor, files, volumes } = host;
  return {
    ...host,
    blockDevices: {
      attachLoop: (path, options = {}) =>
        attempt(
          {
            kind: 'loop',
            role: 'rootfs',
            backingFile: path,
            offset: options.offset ?? 0,
            sizeLimit: options.sizeLimit ?? 0,
          },
          () => blockDevices.attachLoop(path, options),
          (loop) => ({
            kind: 'loop',
            role: 'rootfs',
            backingFile: loop.backingFile,
            offset: loop.offset,
            sizeLimit: loop.sizeLimit,
            device: loop.device,
            ...(loop.diskseq === undefined ? {} : { diskseq: loop.diskseq }),
          }),
        ),
      detachLoop: (device) =>
        released(
          () => blockDevices.detachLoop(device),
          (t) => t.kind === 'loop' && t.device === device,
        ),
      listLoops: () => blockDevices.listLoops(),
      loopsOver: (backingFile) => blockDevices.loopsOver(backingFile),
      loopsUnder: (dir) => blockDevices.loopsUnder(dir),
      loopDevice: (device) => blockDevices.loopDevice(device),
      read: (path, offset, length) => blockDevices.read(path, offset, length),
      geometry: (path) => blockDevices.geometry(path),
    },
    nbd: {
      connect: (file, format) =>
        attempt(
          { kind: 'nbd', file },
          () => nbd.connect(file, format),
          (c) => ({ kind: 'nbd', file: c.file, device: c.device }),
        ),
      disconnect: (device) =>
        released(
          () => nbd.disconnect(device),
          (t) => t.kind === 'nbd' && t.device === device,
        ),
      list: () => nbd.list(),
      available: () => nbd.available(),
    },
    mounts: {
      mount: (source, target, options) =>
        attempt(
          { kind: 'mount', source, target },
          () => mounts.mount(source, target, options),
          () => ({ kind: 'mount', source, target }),
        ),
      unmount: async (target) => {
        // The topmost layer goes (or was not there): drop the newest entry at that mount point.
        const dropTop = async () => {
          const last = [...journal.current.items]
            .reverse()
            .find((i) => i.target.kind === 'mount' && i.target.target === target);
          // Written with the next write (the next release, or the finish): see dropLater.
          if (last) journal.dropLater((item) => item.id === last.id);
        };
        try {
          await mounts.unmount(target);
        } catch (error) {
          if (hasCode(error, 'NotFound')) await dropTop();
          throw error;
        }
        await dropTop();
      },
      list: () => mounts.list(),
    },
    hypervisor: {
      ...bindAll(hypervisor),
      define: (xml) =>
        attempt(
          { kind: 'domain', name: ids.domain, uuid: ids.uuid },
          () => hypervisor.define(xml),
          (info) => ({ kind: 'domain', name: info.name, uuid: info.uuid }),
        ),
      undefine: (name) =>
        released(
          () => hypervisor.undefine(name),
          (t) => t.kind === 'domain' && t.name === name,
        ),
    },
    files: {
      ...bindAll(files),
      ensureDir: async (path) => {
        // Creating anything below the instance directory creates it too: journal that first.
        const dir = ids.instanceDir;
        const below = path === dir || path.startsWith(`${dir}/`);
        if (!below || (await files.kind(dir)) !== null) {
          return files.ensureDir(path);
        }
        return attempt(
          { kind: 'directory', path: dir },
          () => files.ensureDir(path),
          () => ({ kind: 'directory', path: dir }),
        );
      },
      removeTree: (path) =>
        released(
          () => files.removeTree(path),
          (t) => t.kind === 'directory' && t.path === path,
        ),
    },
    volumes: {
      connect: async (connectionInfo) => {
        const backing = await fileVolumeBacking(host, connectionInfo);
        if (backing === undefined) return volumes.connect(connectionInfo);
        const target = {
          kind: 'loop',
          role: 'volume',
          backingFile: backing,
          offset: 0,
          sizeLimit: 0,
        } as const;
        const id = await journal.intend(target);
        let connected;
        try {
          connected = await volumes.connect(connectionInfo);
        } catch (error) {
          await after('a failed connect', () => journal.drop((item) => item.id === id));
          throw error;
        }
        const attached = connected.attached;
        await after('a connect', () =>
          attached === undefined
            ? journal.drop((item) => item.id === id)
            : journal.complete(id, {
                ...target,
                backingFile: attached.backingFile,
                device: attached.device,
                ...(attached.diskseq === undefined ? {} : { diskseq: attached.diskseq }),
              }),
        );
        return connected;
      },
      disconnect: async (connectionInfo, attached) => {
        await volumes.disconnect(connectionInfo, attached);
        if (attached === undefined) return;
        await after('a disconnect', () =>
          journal.drop(
            (item) =>
              item.target.kind === 'loop' &&
              item.target.role === 'volume' &&
              item.target.device === attached.device,
          ),
        );
      },
    },
  };
}

/** The canonical backing file of a `file` volume, or undefined for any other kind. */
async function fileVolumeBacking(
  host: Host,
  connectionInfo: ConnectionInfo,
): Promise<string | undefined> {
  if (connectionInfo?.driver_volume_type !== 'file') return undefined;
  const path = connectionInfo.data?.['path'];
  if (typeof path !== 'string' || !path.startsWith('/')) return undefined;
  return host.files.realpath(path).catch(() => undefined);
}

function bindAll<T extends object>(port: T): T {
  const out = {} as Record<string, unknown>;
  let proto = port as object | null;
  while (proto && proto !== Object.prototype) {
    for (const key of Object.getOwnPropertyNames(proto)) {
      const value = (port as Record<string, unknown>)[key];
      if (key !== 'constructor' && typeof value === 'function' && !(key in out)) {
        out[key] = (value as (...a: unknown[]) => unknown).bind(port);
      }
    }
    proto = Object.getPrototypeOf(proto) as object | null;
  }
  return out as T;
}
