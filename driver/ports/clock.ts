/** Time, so that waits and timeouts run instantly on the simulator. */
export interface Clock {
  /** Milliseconds since an arbitrary, fixed origin. */
  now(): number;
  /** Resolves after `ms` milliseconds. */
  sleep(ms: number): Promise<void>;
}
