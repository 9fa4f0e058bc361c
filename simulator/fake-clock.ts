import type { Clock } from '../driver/ports/clock.js';

/** A clock whose sleeps return at once and advance time; it records every sleep. */
export class FakeClock implements Clock {
  private current = 0;
  readonly sleeps: number[] = [];

  now(): number {
    return this.current;
  }

  async sleep(ms: number): Promise<void> {
    this.sleeps.push(ms);
    this.current += ms;
  }
}
