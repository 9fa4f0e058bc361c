/** One entry of the host mount namespace's table. */
export interface MountEntry {
  /** The mounted device or source, e.g. `/dev/loop0`. */
  source: string;
  /** Absolute mount point, escapes decoded, symlinks resolved (the kernel records it so). */
  target: string;
  fstype: string;
  /** Per-mount options, e.g. `rw`, `relatime`. */
  options: string[];
}

/** Options for a mount. */
export interface MountOptions {
  /** Filesystem type; the driver always names it (it probed the superblock). */
  fstype: string;
  readOnly?: boolean;
}

/**
 * Mounts in the host mount namespace (the driver's own namespace).
 */
export interface Mounts {
  /**
   * Mounts `source` on the existing directory `target`. Fails with NotFound (no source or
   * target), InvalidInput (wrong fs type / bad superblock), Busy (already mounted there).
   * Not idempotent.
   */
  mount(source: string, target: string, options: MountOptions): Promise<void>;

  /**
   * Unmounts the topmost mount at the mount point `target` (never by device path: a device
   * may be mounted in several places). NotFound when nothing is mounted there; Busy when in use.
   */
  unmount(target: string): Promise<void>;

  /**
   * The host namespace's mounts, in mount order, everyone's (filter by target to find yours).
   * Reads only; safe to repeat. Fails only when the host's mount table cannot be read.
   */
  list(): Promise<MountEntry[]>;
}
