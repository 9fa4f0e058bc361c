import type { Clock } from '../driver/ports/clock.js';

/** Something the simulated host does at a given time: a container init's next step. */
interface Timer {
  at: number;
  seq: number;
  run: () => void;
}

/**
 * A clock whose sleeps return at once and advance time; it records every sleep. Timers set
 * with `at` run, in time order, when a sleep moves the clock past them, each seeing `now()` at
 * its own time: a simulated container's init acts at the moment it would on the real host,
 * whoever waits (a scenario's `wait`, the driver's own waits). Its boot id is the simulated
 * host's boot number in a uuid's form, the same for whoever runs it.
 */
export class FakeClock implements Clock {
  private current = 0;
  private seq = 0;
  private boot = 1;
  private readonly timers: Timer[] = [];
  readonly sleeps: number[] = [];

  now(): number {
    return this.current;
  }

  async sleep(ms: number): Promise<void> {
    this.sleeps.push(ms);
    const target = this.current + ms;
    for (let next = this.due(target); next; next = this.due(target)) {
      this.timers.splice(this.timers.indexOf(next), 1);
      this.current = Math.max(this.current, next.at);
      next.run();
    }
    this.current = target;
  }

  /** Runs `run` once the clock reaches `time`; returns a cancel. */
  at(time: number, run: () => void): () => void {
    const timer: Timer = { at: time, seq: this.seq++, run };
    this.timers.push(timer);
    return () => {
      const i = this.timers.indexOf(timer);
      if (i >= 0) this.timers.splice(i, 1);
    };
  }

  /** The earliest timer due by `target` (the first set, among equal times). */
  private due(target: number): Timer | undefined {
    let best: Timer | undefined;
    for (const t of this.timers) {
      if (t.at <= target && (!best || t.at < best.at || (t.at === best.at && t.seq < best.seq)))
        best = t;
    }
    return best;
  }

  async bootId(): Promise<string> {
    return `00000000-0000-4000-8000-${String(this.boot).padStart(12, '0')}`;
  }

  /** A new boot: SimState.reboot() drops the kernel state that goes with it. */
  reboot(): void {
    this.boot += 1;
  }
}
