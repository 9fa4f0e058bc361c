/**
 * Load-time checks of a disk declaration, so that overlapping partitions or a partition past
 * the disk's end (or inside the GPT backup area) are reported with the YAML path before any
 * scenario runs, not halfway through a run on one backend.
 */
import { isDriverError } from '../driver/errors.js';
import { writeDiskLayout } from '../simulator/disk-layout.js';
import { SparseDisk } from '../simulator/sparse-disk.js';
import type { DiskSpec } from './fixtures/disk-spec.js';
import { parseSize } from './fixtures/disk-spec.js';
import type { Reader } from './schema.js';

/**
 * Lays the table out on an empty sparse disk with the simulator's writer (the rules both
 * backends build by: usable sectors, overlaps, extended/logical nesting, GPT backup area) and
 * turns its refusal into a schema error at the partition it names.
 */
export function checkDiskLayout(r: Reader, spec: DiskSpec, path: string): void {
  if (spec.table === 'none') return;
  // Only the table and the filesystem signatures are written; file contents are not needed.
  const bare: DiskSpec = {
    ...spec,
    partitions: (spec.partitions ?? []).map(({ filesystem, ...p }) => ({
      ...p,
      ...(filesystem ? { filesystem: { type: filesystem.type } } : {}),
    })),
  };
  try {
    writeDiskLayout(new SparseDisk(parseSize(spec.size), spec.sectorSize ?? 512), bare);
  } catch (error) {
    if (!isDriverError(error) || error.code !== 'InvalidInput') throw error;
    const details = (error.details ?? {}) as { partition?: number; partitions?: number[] };
    const number = details.partition ?? details.partitions?.at(-1);
    const index = (spec.partitions ?? []).findIndex((p) => p.number === number);
    const at = index >= 0 ? `${path}.partitions[${index}]` : `${path}.partitions`;
    const reason = error.message.replace(/^Failed to lay out the disk: /, '');
    r.fail(at, `a partition table that can be laid out (${reason})`, describe(spec, index));
  }
}

function describe(spec: DiskSpec, index: number): unknown {
  const p = spec.partitions?.[index];
  if (!p) return `${spec.partitions?.length ?? 0} partitions`;
  return { number: p.number, start: p.start, size: p.size };
}
