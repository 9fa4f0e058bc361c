import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { DiskSpec } from '../../harness/disk-spec.js';
import { writeDiskLayout } from '../../harness/sim-disks/disk-layout.js';
import { qcow2Header } from '../../simulator/qcow2-header.js';
import { SparseDisk } from '../../simulator/sparse-disk.js';
import { isDriverError } from '../errors.js';
import { crc32 } from './crc32.js';
import { probeFilesystem } from './fs-probe.js';
import { inspectImage } from './image-format.js';
import { readPartitionTable, type ByteReader } from './partition-table.js';

// Property-based checks of the two parsers that read customer bytes as root: whatever the
// bytes, they answer or throw the project's InvalidInput, and read a bounded amount.
// The case counts are fixed so a run costs the same every time (about a second).
const RUNS = 300;
const MiB = 1024 * 1024;
// MBR + 256 EBRs + two GPT headers with 1 MiB entry arrays each + the signature probes.
const TABLE_READ_LIMIT = 512 + 256 * 512 + 2 * (4096 + MiB) + 4 * 8;
// The largest probe reads 4 KiB at 64 KiB (btrfs); all probes together stay below 128 KiB.
const PROBE_READ_LIMIT = 128 * 1024;

const ext4 = { type: 'ext4' as const };
const BASES: Record<string, DiskSpec> = {
  mbr: {
    size: '8M',
    table: 'mbr',
    partitions: [
      { number: 1, start: 2048, size: 4096, filesystem: ext4 },
      { number: 2, start: 6144, size: 8192, type: 'extended' },
      { number: 5, start: 8192, size: 2048 },
      { number: 6, start: 12288, size: 1024, type: 'swap' },
    ],
  },
  gpt512: {
    size: '8M',
    table: 'gpt',
    partitions: [
      { number: 1, start: 2048, size: 8192, name: 'root', filesystem: ext4 },
      { number: 2, start: 10240, size: 2048, type: 'swap' },
    ],
  },
  gpt4096: {
    size: '8M',
    sectorSize: 4096,
    table: 'gpt',
    partitions: [{ number: 1, start: 256, size: 1024, filesystem: { type: 'xfs' } }],
  },
  none: { size: '1M', table: 'none', filesystem: { type: 'vfat' } },
};

/** A reader that counts the bytes asked for, and checks every read stays on the device. */
function counting(disk: SparseDisk, hint: boolean): { reader: ByteReader; read: () => number } {
  let total = 0;
  const reader: ByteReader = {
    size: disk.size,
    read: (offset, length) => {
      if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0) {
        throw new Error(`bad read ${offset}+${length}`);
      }
      total += length;
      return Promise.resolve(disk.read(offset, length));
    },
  };
  if (hint) reader.sectorSizeHint = disk.sectorSize;
  return { reader, read: () => total };
}

/** Recomputes both CRCs of the GPT header at `at`, so hostile contents get past them. */
function reseal(disk: SparseDisk, at: number): void {
  const header = disk.read(at, 92);
  const dv = new DataView(header.buffer, header.byteOffset, header.byteLength);
  if (String.fromCharCode(...header.subarray(0, 8)) !== 'EFI PART') return;
  const sector = disk.sectorSize;
  const entries = Number(dv.getBigUint64(72, true)) * sector;
  const bytes = dv.getUint32(80, true) * dv.getUint32(84, true);
  if (entries >= 0 && bytes <= MiB && entries + bytes <= disk.size) {
    dv.setUint32(88, crc32(disk.read(entries, bytes)), true);
  }
  dv.setUint32(16, 0, true);
  dv.setUint32(16, crc32(header), true);
  disk.write(at, header);
}

const edit = fc.record({
  // Where the tables and superblocks live: the first 80 KiB and the last 20 KiB.
  region: fc.constantFrom('head', 'tail'),
  offset: fc.nat({ max: 80 * 1024 - 1 }),
  bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }),
});
const mutation = fc.record({
  base: fc.constantFrom(...Object.keys(BASES)),
  edits: fc.array(edit, { minLength: 1, maxLength: 12 }),
  reseal: fc.boolean(),
  hint: fc.boolean(),
});

type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

function mutate(m: Mutation): SparseDisk {
  const spec = BASES[m.base]!;
  const disk = new SparseDisk(spec.size === '8M' ? 8 * MiB : MiB, spec.sectorSize ?? 512);
  writeDiskLayout(disk, spec);
  for (const e of m.edits) {
    const at = e.region === 'head' ? e.offset : disk.size - 1 - (e.offset % (20 * 1024));
    disk.write(Math.min(at, disk.size - e.bytes.length), e.bytes);
  }
  if (m.reseal) {
    reseal(disk, disk.sectorSize);
    reseal(disk, disk.size - disk.sectorSize);
  }
  return disk;
}

/** Runs `parse`; passes when it answers or throws InvalidInput, fails on anything else. */
async function onlyOurErrors(parse: () => Promise<unknown>): Promise<void> {
  try {
    await parse();
  } catch (error) {
    if (!isDriverError(error) || error.code !== 'InvalidInput') throw error;
    expect(error.message).toMatch(/^Failed to read the partition table: /);
  }
}

describe('partition-table parser, property-based', () => {
  it('answers or throws InvalidInput for mutated tables, reading a bounded amount', async () => {
    await fc.assert(
      fc.asyncProperty(mutation, async (m) => {
        const { reader, read } = counting(mutate(m), m.hint);
        await onlyOurErrors(() => readPartitionTable(reader));
        expect(read()).toBeLessThanOrEqual(TABLE_READ_LIMIT);
      }),
      { numRuns: RUNS, seed: 0x6e6f7661 },
    );
  });

  it('answers or throws InvalidInput for random first sectors and sizes', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 446, maxLength: 446 }),
        fc.array(fc.uint8Array({ minLength: 16, maxLength: 16 }), { minLength: 4, maxLength: 4 }),
        fc.integer({ min: 0, max: 64 * MiB }),
        async (code, entries, size) => {
          const disk = new SparseDisk(Math.max(size, 512));
          disk.write(0, code);
          entries.forEach((entry, i) => disk.write(446 + 16 * i, entry));
          disk.write(510, Uint8Array.of(0x55, 0xaa));
          const { reader, read } = counting(disk, false);
          await onlyOurErrors(() => readPartitionTable(reader));
          expect(read()).toBeLessThanOrEqual(TABLE_READ_LIMIT);
        },
      ),
      { numRuns: RUNS, seed: 0x6c7863 },
    );
  });

  it('every partition it returns lies on the disk, after sector 0, without overlaps', async () => {
    await fc.assert(
      fc.asyncProperty(mutation, async (m) => {
        const disk = mutate(m);
        const table = await readPartitionTable(counting(disk, m.hint).reader).catch(() => null);
        const primaries = (table?.partitions ?? []).filter((p) => p.kind !== 'logical');
        for (const p of table?.partitions ?? []) {
          expect(p.start).toBeGreaterThan(0);
          expect(p.size).toBeGreaterThan(0);
          expect(p.start + p.size).toBeLessThanOrEqual(disk.size);
        }
        const sorted = primaries
          .filter((p) => p.kind !== 'extended')
          .sort((a, b) => a.start - b.start);
        sorted.slice(1).forEach((p, i) => {
          expect(p.start).toBeGreaterThanOrEqual(sorted[i]!.start + sorted[i]!.size);
        });
      }),
      { numRuns: RUNS, seed: 0x62797465 },
    );
  });
});

describe('filesystem probe, property-based', () => {
  it('never throws for mutated superblocks and reads only inside its region', async () => {
    await fc.assert(
      fc.asyncProperty(
        mutation,
        fc.nat({ max: 4 * MiB }),
        fc.nat({ max: 4 * MiB }),
        async (m, offset, length) => {
          const disk = mutate(m);
          let total = 0;
          const end = Math.min(disk.size, offset + length);
          const reader: ByteReader = {
            size: disk.size,
            read: (at, count) => {
              expect(at).toBeGreaterThanOrEqual(offset);
              expect(at + count).toBeLessThanOrEqual(end);
              total += count;
              return Promise.resolve(disk.read(at, count));
            },
          };
          await probeFilesystem(reader, offset, length);
          expect(total).toBeLessThanOrEqual(PROBE_READ_LIMIT);
        },
      ),
      { numRuns: RUNS, seed: 0x66737072 },
    );
  });
});

describe('image format inspector, property-based', () => {
  it('answers or throws InvalidInput for mutated qcow2 headers, reading a bounded amount', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          backingFile: fc.option(fc.string({ maxLength: 64 }), { nil: undefined }),
          backingFormat: fc.option(fc.constantFrom('raw', 'qcow2'), { nil: undefined }),
          incompatible: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
          version: fc.constantFrom(2 as const, 3 as const),
        }),
        fc.array(fc.record({ at: fc.nat({ max: 4095 }), byte: fc.nat({ max: 255 }) }), {
          maxLength: 16,
        }),
        fc.integer({ min: 0, max: 1 << 30 }),
        async (options, edits, size) => {
          const bytes = qcow2Header({ virtualSize: 1 << 20, ...options });
          for (const e of edits) bytes[e.at] = e.byte;
          let total = 0;
          const reader: ByteReader = {
            size,
            read: (offset, length) => {
              expect(Number.isSafeInteger(offset) && offset >= 0).toBe(true);
              total += length;
              return Promise.resolve(bytes.slice(offset, offset + length));
            },
          };
          try {
            const inspection = await inspectImage(reader);
            expect(['raw', 'qcow2', 'qed', 'vmdk', 'vhd', 'vhdx', 'vdi', 'iso', 'luks']).toContain(
              inspection.format,
            );
          } catch (error) {
            if (!isDriverError(error) || error.code !== 'InvalidInput') throw error;
          }
          // Header, ISO probe, up to 64 extension headers with 1 KiB of data, the backing name.
          expect(total).toBeLessThanOrEqual(512 + 6 + 64 * (8 + 1024) + 1023);
        },
      ),
      { numRuns: RUNS, seed: 0x71636f77 },
    );
  });
});
