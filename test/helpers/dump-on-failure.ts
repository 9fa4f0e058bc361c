import { beforeEach, onTestFailed } from 'vitest';
import type { Host } from '../../driver/ports/index.js';

/** What a host shows through its ports: loop and nbd devices, host mounts, domains. */
export async function observeHost(host: Host): Promise<Record<string, unknown>> {
  const settle = <T>(p: Promise<T>) => p.catch((e: unknown) => `unavailable: ${String(e)}`);
  return {
    loops: await settle(host.blockDevices.listLoops()),
    nbd: await settle(host.nbd.list()),
    mounts: await settle(host.mounts.list()),
    domains: await settle(host.hypervisor.list()),
  };
}

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
      const state = withDump.dump ? withDump.dump() : await observeHost(host);
      console.error(`host state after "${task.name}" failed:\n${JSON.stringify(state, null, 2)}`);
    });
  });
}
