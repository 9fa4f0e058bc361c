/** Time, so that waits and timeouts run instantly on the simulator; and which boot it is. */
export interface Clock {
  /** Milliseconds since an arbitrary, fixed origin. */
  now(): number;
  /** Resolves after `ms` milliseconds. */
  sleep(ms: number): Promise<void>;
  /**
   * Identifies the host's current boot (Linux: /proc/sys/kernel/random/boot_id). It changes
   * only when the host boots again, and with it every loop and nbd device, mount and running
   * domain of the earlier boot is gone: a device recorded in another boot was not made in this
   * one, whatever now holds its number. Safe to repeat; the same answer within a boot.
   */
  bootId(): Promise<string>;
}
