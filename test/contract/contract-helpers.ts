import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach } from 'vitest';
import { buildLxcDomainXml, lxcDomainSpecForInstance } from '../../driver/core/domain-xml.js';
import type { DiskSpec, InitSpec } from '../../harness/disk-spec.js';
import type { BackendHarness, HarnessFactory } from '../../harness/harness.js';

/** A fresh harness per test, cleaned up (and leak-checked) after it. */
export function useHarness(makeHarness: HarnessFactory): () => BackendHarness {
  let harness: BackendHarness | undefined;
  beforeEach(async () => {
    harness = await makeHarness();
  });
  afterEach(async () => {
    const done = harness;
    harness = undefined;
    await done?.cleanup();
  });
  return () => {
    if (!harness) throw new Error('no harness outside a test');
    return harness;
  };
}

/** First partition of the partitioned fixtures, in 512-byte sectors. */
export const P1 = { start: 2048, size: 61440 } as const;

/** An unpartitioned ext4 disk whose init runs `init`. */
export function rootfsDisk(init: InitSpec = { then: 'run' }, size = '32M'): DiskSpec {
  return { size, table: 'none', filesystem: { type: 'ext4', label: 'rootfs', init } };
}

/** An MBR disk with one ext4 partition holding `/etc/hostname`. */
export function partitionedDisk(): DiskSpec {
  return {
    size: '64M',
    table: 'mbr',
    partitions: [
      {
        number: 1,
        ...P1,
        filesystem: { type: 'ext4', label: 'p1', files: { '/etc/hostname': 'p1\n' } },
      },
    ],
  };
}

/** A blank disk: no table, no filesystem. */
export const BLANK_DISK: DiskSpec = { size: '16M', table: 'none' };

/** A domain name unique to this run, prefixed so leak checks can find it. */
export function domainName(): string {
  return `nlxc-ct-${randomUUID().slice(0, 8)}`;
}

/** Nova-shaped LXC domain XML whose rootfs is `<instanceDir>/rootfs`. */
export function domainXml(name: string, instanceDir: string): string {
  return buildLxcDomainXml(
    lxcDomainSpecForInstance({ name, uuid: randomUUID(), memoryMb: 64, vcpus: 1, instanceDir }),
  );
}

/** Polls `check` until it returns true, sleeping on the harness's clock; false after `ms`. */
export async function eventually(
  harness: BackendHarness,
  check: () => Promise<boolean>,
  ms = 10_000,
): Promise<boolean> {
  const deadline = harness.host.clock.now() + ms;
  while (harness.host.clock.now() < deadline) {
    if (await check()) return true;
    await harness.host.clock.sleep(50);
  }
  return check();
}
