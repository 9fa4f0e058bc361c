/**
 * Load-time checks of a disk declaration, so that overlapping partitions or a partition past
 * the disk's end (or inside the GPT backup area) are reported with the YAML path before any
 * scenario runs, not halfway through a run on one backend.
 */
import { DriverError, isDriverError } from '../driver/errors.js';
import type { DiskSpec } from '../harness/disk-spec.js';
import { parseSize } from '../harness/disk-spec.js';
import { writeDiskLayout } from '../harness/sim-disks/disk-layout.js';
import type { Reader } from './schema.js';

type LayoutTarget = Parameters<typeof writeDiskLayout>[0];

/** A disk that keeps nothing: the layout writer's checks are all that is wanted of it. */
function discardingDisk(size: number, sectorSize: number): LayoutTarget {
  const disk = {
    size,
    sectorSize,
    write(offset: number, data: Uint8Array): void {
      if (offset < 0 || offset + data.length > size) {
        throw new DriverError('InvalidInput', `Failed to lay out the disk: a write past its end`);
      }
    },
  };
  return disk as unknown as LayoutTarget;
}

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
    writeDiskLayout(discardingDisk(parseSize(spec.size), spec.sectorSize ?? 512), bare);
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
