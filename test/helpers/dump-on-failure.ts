import { beforeEach, onTestFailed } from 'vitest';
import type { Host } from '../../driver/ports/index.js';
import { HostObserver } from '../../harness/observer.js';

/**
 * Prints the host's state when a test fails: the simulator's whole JSON dump, or on the real
 * host what the ports show. Call once per file with a getter for the current test's host.
 */
export function dumpOnFailure(current: () => Host | undefined): void {
  beforeEach(() => {
    onTestFailed(async ({ task }) => {
      const host = current();
      if (!host) return;
      const withDump = host as Host & { dump?: () => unknown };
      const state = withDump.dump ? withDump.dump() : await new HostObserver(host).snapshot();
      console.error(`host state after "${task.name}" failed:\n${JSON.stringify(state, null, 2)}`);
    });
  });
}
