import { describe, expect, it } from 'vitest';
import { hasCode } from '../errors.js';
import type { DiskSpec } from '../../harness/disk-spec.js';
import { SparseDisk } from '../../simulator/sparse-disk.js';
import { writeDiskLayout } from '../../harness/sim-disks/disk-layout.js';
import { parseSize } from '../../harness/disk-spec.js';
import { crc32 } from './crc32.js';
import { readPartitionTable } from './partition-table.js';
import type { ByteReader } from './partition-table.js';

const MiB = 1024 * 1024;
const ext4 = { type: 'ext4' as const };

function build(spec: DiskSpec): SparseDisk {
  const disk = new SparseDisk(parseSize(spec.size), spec.sectorSize ?? 512);
  writeDiskLayout(disk, spec);
  return disk;
}

/** A reader without a sector-size hint, like a plain image file. */
function fileReader(disk: SparseDisk): ByteReader {
  return { size: disk.size, read: (o, l) => Promise.resolve(disk.read(o, l)) };
}

function u32(disk: SparseDisk, offset: number, value: number): void {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, value, true);
  disk.write(offset, bytes);
}

function u64(disk: SparseDisk, offset: number, value: bigint): void {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setBigUint64(0, value, true);
  disk.write(offset, bytes);
}

/** Rewrites an MBR entry (index 0-3) of the sector at `base`. */
function mbrEntry(
  disk: SparseDisk,
  base: number,
  index: number,
  type: number,
  start: number,
  size: number,
): void {
  const at = base + 446 + index * 16;
  disk.write(at + 4, Uint8Array.of(type));
  u32(disk, at + 8, start);
  u32(disk, at + 12, size);
}

/** Recomputes the entry-array and header CRCs of a GPT header after a hostile edit. */
function resealGpt(
  disk: SparseDisk,
  headerOffset: number,
  entriesOffset?: number,
  entriesBytes = 16384,
): void {
  if (entriesOffset !== undefined)
    u32(disk, headerOffset + 88, crc32(disk.read(entriesOffset, entriesBytes)));
  u32(disk, headerOffset + 16, 0);
  u32(disk, headerOffset + 16, crc32(disk.read(headerOffset, 92)));
}

async function rejects(disk: SparseDisk, pattern: RegExp): Promise<void> {
  const error = await readPartitionTable(disk.asByteReader()).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(hasCode(error, 'InvalidInput'), String(error)).toBe(true);
  expect((error as Error).message).toMatch(pattern);
}

const mbr2: DiskSpec = {
  size: '64M',
  table: 'mbr',
  partitions: [
    { number: 1, start: 2048, size: 61440, filesystem: ext4 },
    { number: 2, start: 63488, size: 40960, type: 'swap' },
  ],
};

const gpt2 = (sectorSize: 512 | 4096): DiskSpec => {
  const unit = sectorSize === 512 ? 1 : 8;
  return {
    size: '64M',
    sectorSize,
    table: 'gpt',
    partitions: [
      { number: 1, start: 2048 / unit, size: 61440 / unit, name: 'root', filesystem: ext4 },
      { number: 2, start: 63488 / unit, size: 40960 / unit, type: 'swap', name: 'swap' },
    ],
  };
};

describe('readPartitionTable on MBR disks', () => {
  it.each([
    [
      'two',
      mbr2,
      [
        [1, 2048, 61440, '83'],
        [2, 63488, 40960, '82'],
      ],
    ],
    [
      'four',
      {
        size: '64M',
        table: 'mbr',
        partitions: [
          { number: 1, start: 2048, size: 20480 },
          { number: 2, start: 22528, size: 20480, type: 'efi' },
          { number: 3, start: 43008, size: 20480, type: 'lvm' },
          { number: 4, start: 63488, size: 20480, type: '8e' },
        ],
      } satisfies DiskSpec,
      [
        [1, 2048, 20480, '83'],
        [2, 22528, 20480, 'ef'],
        [3, 43008, 20480, '8e'],
        [4, 63488, 20480, '8e'],
      ],
    ],
  ] as const)('reads %s primary partitions', async (_name, spec, expected) => {
    const table = await readPartitionTable(build(spec).asByteReader());
    expect(table?.scheme).toBe('mbr');
    expect(table?.sectorSize).toBe(512);
    expect(table?.warnings).toEqual([]);
    expect(table?.diskId).toMatch(/^0x[0-9a-f]{8}$/);
    expect(table?.partitions.map((p) => [p.number, p.start / 512, p.size / 512, p.type])).toEqual(
      expected,
    );
    expect(table?.partitions.every((p) => p.kind === 'primary')).toBe(true);
  });

  it('follows the EBR chain of an extended partition to logical partitions 5 and up', async () => {
    const disk = build({
      size: '64M',
      table: 'mbr',
      partitions: [
        { number: 1, start: 2048, size: 20480 },
        { number: 2, start: 22528, size: 100000, type: 'extended' },
        { number: 5, start: 24576, size: 20480, filesystem: ext4 },
        { number: 6, start: 47104, size: 20480, type: 'swap' },
        { number: 7, start: 69632, size: 20480 },
      ],
    });
    const table = await readPartitionTable(disk.asByteReader());
    expect(
      table?.partitions.map((p) => [p.number, p.kind, p.start / 512, p.size / 512, p.type]),
    ).toEqual([
      [1, 'primary', 2048, 20480, '83'],
      [2, 'extended', 22528, 100000, '05'],
      [5, 'logical', 24576, 20480, '83'],
      [6, 'logical', 47104, 20480, '82'],
      [7, 'logical', 69632, 20480, '83'],
    ]);
  });

  it('reads an empty extended partition as a container without logicals', async () => {
    const disk = build({
      size: '16M',
      table: 'mbr',
      partitions: [{ number: 1, start: 2048, size: 8192, type: 'extended' }],
    });
    const table = await readPartitionTable(disk.asByteReader());
    expect(table?.partitions.map((p) => p.kind)).toEqual(['extended']);
    expect(table?.warnings).toEqual([]);
  });

  it('stops at an EBR without a signature and warns', async () => {
    const disk = build({
      size: '16M',
      table: 'mbr',
      partitions: [
        { number: 1, start: 2048, size: 20000, type: 'extended' },
        { number: 5, start: 4096, size: 2048 },
        { number: 6, start: 8192, size: 2048 },
      ],
    });
    disk.write(6144 * 512 + 510, Uint8Array.of(0, 0)); // EBR of partition 6
    const table = await readPartitionTable(disk.asByteReader());
    expect(table?.partitions.map((p) => p.number)).toEqual([1, 5]);
    expect(table?.warnings.join()).toMatch(/EBR at sector 6144 has no 55AA/);
  });

  it('marks the boot flag and warns about a second extended partition', async () => {
    const disk = build({
      size: '16M',
      table: 'mbr',
      partitions: [{ number: 1, start: 2048, size: 4096, type: 'extended' }],
    });
    mbrEntry(disk, 0, 1, 0x0f, 8192, 4096);
    disk.write(446, Uint8Array.of(0x80));
    const table = await readPartitionTable(disk.asByteReader());
    expect(table?.partitions[0]?.bootable).toBe(true);
    expect(table?.warnings.join()).toMatch(/second extended partition/);
  });

  it.each([
    ['after the partition', 3000],
    ['at sector 0', 0],
  ])(
    'skips a stale zero-size entry %s, as the kernel and libblkid do, with a warning',
    async (_where, start) => {
      const disk = build({
        size: '16M',
        table: 'mbr',
        partitions: [
          { number: 1, start: 2048, size: 2048 },
          { number: 3, start: 8192, size: 2048 },
        ],
      });
      mbrEntry(disk, 0, 1, 0x83, start, 0);
      const table = await readPartitionTable(disk.asByteReader());
      expect(table?.partitions.map((p) => [p.number, p.start / 512])).toEqual([
        [1, 2048],
        [3, 8192],
      ]);
      expect(table?.warnings).toEqual(['partition 2 has type 83 but zero size; it is skipped']);
    },
  );

  it('skips an empty logical data entry without using up its number', async () => {
    const disk = build({
      size: '16M',
      table: 'mbr',
      partitions: [
        { number: 1, start: 2048, size: 20000, type: 'extended' },
        { number: 5, start: 4096, size: 2048 },
        { number: 6, start: 8192, size: 2048 },
        { number: 7, start: 12288, size: 2048 },
      ],
    });
    mbrEntry(disk, 6144 * 512, 0, 0x83, 2048, 0); // the data entry of partition 6's EBR
    const table = await readPartitionTable(disk.asByteReader());
    expect(table?.partitions.map((p) => [p.number, p.start / 512])).toEqual([
      [1, 2048],
      [5, 4096],
      [6, 12288],
    ]);
    expect(table?.warnings).toEqual([
      'the EBR at sector 6144 has an empty data entry; it is skipped',
    ]);
  });

  it('uses 4096-byte sectors when the device says so', async () => {
    const disk = build({
      size: '64M',
      sectorSize: 4096,
      table: 'mbr',
      partitions: [{ number: 1, start: 256, size: 1024 }],
    });
    const table = await readPartitionTable(disk.asByteReader());
    expect(table?.sectorSize).toBe(4096);
    expect(table?.partitions[0]).toMatchObject({ start: MiB, size: 4 * MiB });
  });
});

describe('readPartitionTable on GPT disks', () => {
  it.each([
    [512, 'with the device hint', true],
    [512, 'from a file without a hint', false],
    [4096, 'with the device hint', true],
    [4096, 'from a file without a hint', false],
  ] as const)('reads a %i-byte-sector GPT %s', async (sectorSize, _how, hinted) => {
    const disk = build(gpt2(sectorSize));
    const table = await readPartitionTable(hinted ? disk.asByteReader() : fileReader(disk));
    expect(table).toMatchObject({ scheme: 'gpt', sectorSize, warnings: [] });
    expect(table?.diskId).toMatch(/^[0-9a-f-]{36}$/);
    expect(
      table?.partitions.map((p) => [p.number, p.start, p.size, p.type, p.name, p.kind]),
    ).toEqual([
      [1, 1 * MiB, 30 * MiB, '0fc63daf-8483-4772-8e79-3d69d8477de4', 'root', 'gpt'],
      [2, 31 * MiB, 20 * MiB, '0657fd6d-a4ab-43c4-84e5-0933c84b4f4f', 'swap', 'gpt'],
    ]);
    expect(table?.partitions[0]?.uuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4/);
  });

  it('numbers partitions by entry even when entry 1 lies last on the disk', async () => {
    const disk = build({
      size: '64M',
      table: 'gpt',
      partitions: [
        { number: 1, start: 100000, size: 20000, name: 'last' },
        { number: 2, start: 2048, size: 20000, name: 'first' },
      ],
    });
    const table = await readPartitionTable(disk.asByteReader());
    expect(table?.partitions.map((p) => [p.number, p.name, p.start / 512])).toEqual([
      [1, 'last', 100000],
      [2, 'first', 2048],
    ]);
  });

  it('falls back to the backup header when the primary is damaged, with a warning', async () => {
    const disk = build({ ...gpt2(512), damagePrimaryGpt: true });
    const table = await readPartitionTable(disk.asByteReader());
    expect(table?.partitions.map((p) => p.name)).toEqual(['root', 'swap']);
    expect(table?.warnings).toEqual([
      'the primary GPT header is damaged (header CRC mismatch); using the backup at LBA 131071',
    ]);
  });

  it('finds the backup of a 4096-byte-sector disk whose primary signature is gone', async () => {
    const disk = build(gpt2(4096));
    disk.write(4096, new Uint8Array(8));
    const table = await readPartitionTable(fileReader(disk));
    expect(table?.sectorSize).toBe(4096);
    expect(table?.warnings.join()).toMatch(/no "EFI PART" signature/);
  });

  it('uses the backup entries when the primary entry array fails its CRC', async () => {
    const disk = build(gpt2(512));
    disk.write(2 * 512 + 56, Uint8Array.of(0x41)); // a name byte of entry 1
    const table = await readPartitionTable(disk.asByteReader());
    expect(table?.partitions[0]?.name).toBe('root');
    expect(table?.warnings.join()).toMatch(/partition entry array CRC mismatch/);
  });

  it('warns when only the backup header is damaged', async () => {
    const disk = build(gpt2(512));
    disk.write(disk.size - 512 + 20, Uint8Array.of(0xff));
    const table = await readPartitionTable(disk.asByteReader());
    expect(table?.warnings).toEqual([
      'the backup GPT header at LBA 131071 is damaged (header CRC mismatch)',
    ]);
  });

  it.each([
    [
      'both headers',
      (d: SparseDisk) => (
        d.write(512 + 20, Uint8Array.of(1)),
        d.write(d.size - 512 + 20, Uint8Array.of(1))
      ),
      /both GPT headers are damaged: primary at LBA 1: header CRC mismatch; backup at LBA 131071: header CRC mismatch/,
    ],
    [
      'both entry arrays',
      (d: SparseDisk) => (
        d.write(2 * 512 + 60, Uint8Array.of(1)),
        d.write(d.size - 33 * 512 + 60, Uint8Array.of(1))
      ),
      /both GPT headers are damaged: .*entry array CRC mismatch.*entry array CRC mismatch/,
    ],
    [
      'both signatures',
      (d: SparseDisk) => (
        d.write(512, new Uint8Array(8)),
        d.write(d.size - 512, new Uint8Array(8))
      ),
      /neither LBA 1 nor the last LBA holds a GPT header/,
    ],
  ])('rejects a GPT whose %s are damaged', async (_what, damage, pattern) => {
    const disk = build(gpt2(512));
    damage(disk);
    await rejects(disk, pattern);
  });
});

describe('readPartitionTable on disks without a table', () => {
  it.each([
    ['a blank disk', { size: '1M', table: 'none' } satisfies DiskSpec],
    ['a whole-disk ext4', { size: '1M', table: 'none', filesystem: ext4 } satisfies DiskSpec],
    [
      'a whole-disk vfat (55AA, but a FAT boot sector)',
      { size: '1M', table: 'none', filesystem: { type: 'vfat' } } satisfies DiskSpec,
    ],
  ])('returns null for %s', async (_name, spec) => {
    expect(await readPartitionTable(build(spec).asByteReader())).toBeNull();
  });

  it('returns null for a 55AA sector whose entries have invalid boot flags', async () => {
    const disk = new SparseDisk(MiB);
    disk.write(446, Uint8Array.of(0x12));
    disk.write(510, Uint8Array.of(0x55, 0xaa));
    expect(await readPartitionTable(disk.asByteReader())).toBeNull();
  });

  it('returns null for a device smaller than a sector', async () => {
    expect(await readPartitionTable(new SparseDisk(100).asByteReader())).toBeNull();
  });
});

describe('readPartitionTable on hostile tables', () => {
  it.each([
    [
      'an MBR entry beyond the disk end',
      (d: SparseDisk) => mbrEntry(d, 0, 1, 0x83, 30000, 10000),
      /partition 2 \(sectors 30000-39999\) lies beyond the end of the disk \(32768 sectors/,
    ],
    [
      'overlapping MBR entries',
      (d: SparseDisk) => mbrEntry(d, 0, 1, 0x83, 3000, 1000),
      /partition 1 \(bytes 1048576-2097151\) overlaps partition 2/,
    ],
    [
      'an MBR entry at sector 0',
      (d: SparseDisk) => mbrEntry(d, 0, 1, 0x83, 0, 10),
      /partition 2 starts at sector 0/,
    ],
  ])('rejects %s', async (_name, edit, pattern) => {
    const disk = build({
      size: '16M',
      table: 'mbr',
      partitions: [{ number: 1, start: 2048, size: 2048 }],
    });
    edit(disk);
    await rejects(disk, pattern);
  });

  const withLogicals = (): SparseDisk =>
    build({
      size: '16M',
      table: 'mbr',
      partitions: [
        { number: 1, start: 2048, size: 20000, type: 'extended' },
        { number: 5, start: 4096, size: 2048 },
        { number: 6, start: 8192, size: 2048 },
      ],
    });

  it.each([
    [
      'an EBR chain that loops back to its start',
      (d: SparseDisk) => mbrEntry(d, 6144 * 512, 1, 0x05, 0, 4096),
      /EBR chain of extended partition 1 loops back to sector 2048/,
    ],
    [
      'an EBR link outside the container',
      (d: SparseDisk) => mbrEntry(d, 6144 * 512, 1, 0x05, 30000, 10),
      /EBR chain points to sector 32048, outside extended partition 1/,
    ],
    [
      'a logical partition outside its container',
      (d: SparseDisk) => mbrEntry(d, 6144 * 512, 0, 0x83, 2048, 30000),
      /logical partition 6 \(sectors 8192-38191\) lies outside extended partition 1/,
    ],
  ])('rejects %s', async (_name, edit, pattern) => {
    const disk = withLogicals();
    edit(disk);
    await rejects(disk, pattern);
  });

  it('bounds an endless EBR chain', async () => {
    const disk = new SparseDisk(16 * MiB);
    mbrEntry(disk, 0, 0, 0x05, 2048, 20000);
    disk.write(510, Uint8Array.of(0x55, 0xaa));
    for (let i = 0; i < 300; i++) {
      const ebr = (2048 + i) * 512;
      mbrEntry(disk, ebr, 1, 0x05, i + 1, 1);
      disk.write(ebr + 510, Uint8Array.of(0x55, 0xaa));
    }
    await rejects(disk, /more than 256 logical partitions/);
  });

  const H = 512; // primary header offset of a 512-byte-sector GPT
  const E = 1024; // its entry array
  it.each([
    [
      'an entry beyond the usable area',
      (d: SparseDisk) => (u64(d, E + 40, 200000n), resealGpt(d, H, E)),
      /GPT partition 1 \(LBA 2048-200000\) lies outside the usable area LBA 34-131038/,
    ],
    [
      'overlapping entries',
      (d: SparseDisk) => (u64(d, E + 128 + 32, 10000n), resealGpt(d, H, E)),
      /partition 1 \(bytes 1048576-32505855\) overlaps partition 2/,
    ],
    [
      'an entry that ends before it starts',
      (d: SparseDisk) => (u64(d, E + 40, 100n), resealGpt(d, H, E)),
      /GPT partition 1 ends \(LBA 100\) before it starts \(LBA 2048\)/,
    ],
    [
      'an LBA that overflows',
      (d: SparseDisk) => (u64(d, E + 40, 2n ** 63n), resealGpt(d, H, E)),
      /GPT partition 1 last LBA 9223372036854775808 overflows/,
    ],
    [
      'an absurd entry count',
      (d: SparseDisk) => (u32(d, H + 80, 0x7fffffff), resealGpt(d, H)),
      /2147483647 entries × 128 bytes exceeds the 1048576 byte limit/,
    ],
    [
      'an entry size below 128',
      (d: SparseDisk) => (u32(d, H + 84, 64), resealGpt(d, H)),
      /GPT entry size 64 is invalid/,
    ],
    [
      'a usable area beyond the disk',
      (d: SparseDisk) => (u64(d, H + 48, 10n ** 9n), resealGpt(d, H)),
      /usable area LBA 34-1000000000 does not fit the disk/,
    ],
    [
      'an entry array beyond the disk',
      (d: SparseDisk) => (u64(d, H + 72, 131070n), resealGpt(d, H)),
      /entry array at LBA 131070-131101 lies outside the disk/,
    ],
    [
      'an entry array over its header',
      (d: SparseDisk) => (u64(d, H + 72, 1n), resealGpt(d, H)),
      /^Failed to read the partition table: GPT partition entry array at LBA 1-32 overlaps the primary GPT header at LBA 1$/,
    ],
    [
      'an entry array over the protective MBR',
      (d: SparseDisk) => (u64(d, H + 72, 0n), resealGpt(d, H)),
      /entry array at LBA 0-31 overlaps the protective MBR at LBA 0$/,
    ],
    [
      'a partition at LBA 0 inside a usable area that starts at LBA 0',
      (d: SparseDisk) => (
        u64(d, E + 32, 0n),
        resealGpt(d, H, E),
        u64(d, H + 40, 0n),
        resealGpt(d, H)
      ),
      /GPT usable area LBA 0-131038 overlaps the protective MBR and primary GPT header \(LBA 0-1\)/,
    ],
    [
      'a usable area over the entry array',
      (d: SparseDisk) => (u64(d, H + 40, 20n), resealGpt(d, H)),
      /GPT usable area LBA 20-131038 overlaps the partition entry array \(LBA 2-33\)/,
    ],
    [
      'a usable area over the backup header',
      (d: SparseDisk) => (u64(d, H + 48, 131071n), resealGpt(d, H)),
      /GPT usable area LBA 34-131071 overlaps the alternate GPT header at LBA 131071/,
    ],
  ])('rejects a GPT with %s', async (_name, edit, pattern) => {
    const disk = build(gpt2(512));
    edit(disk);
    await rejects(disk, pattern);
  });

  it('reports a damaged header size and an out-of-place header as damage', async () => {
    const disk = build(gpt2(512));
    u32(disk, H + 12, 4000);
    u64(disk, disk.size - 512 + 24, 5n);
    resealGpt(disk, disk.size - 512);
    await rejects(
      disk,
      /primary at LBA 1: header size 4000 is out of range; backup at LBA 131071: header claims to be at LBA 5/,
    );
  });

  it('reads a GPT on a 16 TiB disk past the 32-bit sector limit', async () => {
    const T = 1024 ** 4;
    const disk = new SparseDisk(16 * T);
    writeDiskLayout(disk, {
      size: '16T',
      table: 'gpt',
      partitions: [{ number: 1, start: 2 ** 33, size: 2 ** 20, name: 'far' }],
    });
    const table = await readPartitionTable(disk.asByteReader());
    expect(table?.partitions[0]).toMatchObject({
      start: 2 ** 33 * 512,
      size: 2 ** 29,
      name: 'far',
    });
    expect(disk.bytesStored).toBeLessThan(MiB);
  });
});
