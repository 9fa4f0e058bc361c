import { setTimeout as sleep } from 'node:timers/promises';
import type { Clock } from '../ports/clock.js';

/** The host's monotonic clock. */
export class SystemClock implements Clock {
  now(): number {
    return performance.now();
  }

  async sleep(ms: number): Promise<void> {
    await sleep(ms);
  }
}
