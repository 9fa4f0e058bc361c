import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Clock } from '../ports/clock.js';

/** Where Linux tells the current boot: a random uuid made at each boot. */
export const BOOT_ID_PATH = '/proc/sys/kernel/random/boot_id';

/** The host's monotonic clock, and its boot id. */
export class SystemClock implements Clock {
  private boot: Promise<string> | undefined;

  constructor(private readonly bootIdPath = BOOT_ID_PATH) {}

  now(): number {
    return performance.now();
  }

  async sleep(ms: number): Promise<void> {
    await sleep(ms);
  }

  /** Read once: it cannot change while this process runs (a reboot ends it). */
  bootId(): Promise<string> {
    this.boot ??= readFile(this.bootIdPath, 'utf8').then((text) => text.trim());
    return this.boot;
  }
}
