/**
 * Builds a real disk image file from a DiskSpec for the Python functional tests on the real
 * host (python/tests/functional/test_servers_real.py): `tsx tools/nova-fixture-disk.ts DEST`
 * reads the DiskSpec as JSON on stdin and writes the raw image to DEST (sfdisk, mkfs.ext4 -d
 * and a static busybox init, as the real harness builds fixtures). Root only.
 */
import { rename } from 'node:fs/promises';
import { text } from 'node:stream/consumers';
import type { DiskSpec } from '../harness/disk-spec.js';
import { createRealHarness } from '../harness/real-harness.js';

const dest = process.argv[2];
if (!dest?.startsWith('/')) {
  console.error('usage: tsx tools/nova-fixture-disk.ts /absolute/dest.img < diskspec.json');
  process.exit(2);
}
const spec = JSON.parse(await text(process.stdin)) as DiskSpec;
const harness = await createRealHarness();
try {
  await rename(await harness.makeDiskFile(spec, 'nova'), dest);
} finally {
  await harness.cleanup();
}
