/** Why a process holds a state directory. */
export type HolderRole = 'driver' | 'reclaim';

/** Another live process that holds a state directory. */
export interface StateHolder {
  pid: number;
  role: HolderRole;
  /** How it called itself when it took the hold, e.g. `nova-lxc serve`. */
  name: string;
  /** When it took the hold, ISO 8601. */
  since: string;
}

/**
 * Durable per-key records in a directory: the driver's journal of what it is about to do and
 * what it did to the host, kept where a crashed process's successor can read it; and which
 * live processes hold a state directory, so reclaim never runs beside a working driver.
 * Keys are plain names (`[A-Za-z0-9][A-Za-z0-9._-]*`, at most 200 characters); anything else
 * fails with InvalidInput before any IO, so a key can never name a path outside `dir`.
 * Ports are dumb: the content is opaque text, its meaning is the driver's.
 */
export interface Journal {
  /**
   * Replaces the record `key` in `dir` with `content`, atomically and durably: when this
   * resolves the new content has reached the disk (written, flushed, renamed over the old one,
   * directory flushed), and a crash at any moment leaves either the old or the new record,
   * never a mix. Creates `dir` (and parents, mode 0700) when missing. Safe to repeat.
   */
  write(dir: string, key: string, content: string): Promise<void>;

  /** The record `key` in `dir`, or null when there is none (also when `dir` is missing). */
  read(dir: string, key: string): Promise<string | null>;

  /** The keys recorded in `dir`, sorted; empty when `dir` is missing. Never lists temp files. */
  keys(dir: string): Promise<string[]>;

  /** Removes the record `key` durably. A missing record is success. Safe to repeat. */
  remove(dir: string, key: string): Promise<void>;

  /**
   * Records, durably, that this process holds the state directory `dir` in `role`, named
   * `name` in other processes' messages, until `release` or the end of the process, a crash
   * included: a holder whose process no longer runs, or ran in another boot of the host, is
   * never listed (and its record may be removed). Holding again is success.
   */
  hold(dir: string, role: HolderRole, name: string): Promise<void>;

  /** Ends this process's hold of `dir` in `role`. Not holding it is success. */
  release(dir: string, role: HolderRole): Promise<void>;

  /** The other live processes holding `dir`, by pid; this process is never listed. */
  holders(dir: string): Promise<StateHolder[]>;
}
