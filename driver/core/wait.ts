import type { Clock } from '../ports/clock.js';

/** The bounds of one wait: how long in total, and how long between two attempts. */
export interface WaitBounds {
  timeoutMs: number;
  intervalMs: number;
}

/** What one attempt of a wait found: done with a value, or not yet (with why, for the error). */
export type Attempt<T> = { done: true; value: T } | { done: false; why: string };

/** The outcome of a bounded wait: the value, or the last reason it was not done. */
export type WaitResult<T> = { ok: true; value: T } | { ok: false; why: string; attempts: number };

/**
 * Runs `attempt` until it is done or `bounds.timeoutMs` has passed on `clock`, sleeping
 * `bounds.intervalMs` between attempts. The one retry/wait helper of the driver: it runs on
 * the Clock port, so on the simulator a wait takes no real time and is deterministic.
 * An error thrown by `attempt` ends the wait at once (only "not yet" is retried).
 */
export async function waitUntil<T>(
  clock: Clock,
  bounds: WaitBounds,
  attempt: () => Promise<Attempt<T>>,
): Promise<WaitResult<T>> {
  const deadline = clock.now() + bounds.timeoutMs;
  for (let attempts = 1; ; attempts++) {
    const result = await attempt();
    if (result.done) return { ok: true, value: result.value };
    if (clock.now() >= deadline) return { ok: false, why: result.why, attempts };
    await clock.sleep(Math.max(1, Math.min(bounds.intervalMs, deadline - clock.now())));
  }
}
