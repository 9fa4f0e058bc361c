import { execFileSync } from 'node:child_process';
import { closeSync, ftruncateSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hasCode } from '../../driver/errors.js';
import { parseSize } from '../disk-spec.js';
import type { DiskSpec, FsType } from '../disk-spec.js';
import { writeDiskLayout } from './disk-layout.js';
import { SparseDisk } from '../../simulator/sparse-disk.js';

const dir = mkdtempSync(join(tmpdir(), 'nova-lxc-disk-layout-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function build(spec: DiskSpec): { disk: SparseDisk; regions: ReturnType<typeof writeDiskLayout> } {
  const disk = new SparseDisk(parseSize(spec.size), spec.sectorSize ?? 512);
  return { disk, regions: writeDiskLayout(disk, spec) };
}

/** Writes the disk to a sparse file: holes stay holes. */
async function exportDisk(disk: SparseDisk, name: string): Promise<string> {
  const path = join(dir, name);
  const fd = openSync(path, 'w');
  try {
    ftruncateSync(fd, disk.size);
    await disk.exportTo((offset, data) => {
      writeSync(fd, data, 0, data.length, offset);
    });
  } finally {
    closeSync(fd);
  }
  return path;
}

/**
 * Whether a cross-check tool is on PATH. The cross-checks run where the tools exist and skip,
 * saying why, where they don't (a macOS laptop, a slim CI image); NOVA_LXC_REQUIRE_HOST_TOOLS=1
 * (set by .ci/run, which installs them) turns a missing tool into a failure instead.
 */
function hostTool(tool: string, pkg: string): { ok: boolean; why: string } {
  try {
    execFileSync(tool, ['--version'], { stdio: 'ignore' });
    return { ok: true, why: '' };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') return { ok: true, why: '' };
    if (process.env['NOVA_LXC_REQUIRE_HOST_TOOLS'] === '1') return { ok: true, why: '' };
    return { ok: false, why: ` (skipped: ${tool} is not installed; Debian package ${pkg})` };
  }
}

const SFDISK = hostTool('sfdisk', 'fdisk');
const FDISK = hostTool('fdisk', 'fdisk');
const BLKID = hostTool('blkid', 'util-linux');

/** Runs a util-linux tool, failing loudly when it is missing although it was required. */
function run(tool: string, args: string[], pkg: string): string {
  try {
    return execFileSync(tool, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error(
        `${tool} is not installed: install the Debian package ${pkg} (CI installs it)`,
      );
    }
    throw error;
  }
}

interface SfdiskPartition {
  node: string;
  start: number;
  size: number;
  type: string;
  name?: string;
}

function sfdisk(path: string): { label: string; partitions: SfdiskPartition[] } {
  const output = run('sfdisk', ['--json', path], 'fdisk');
  return (
    JSON.parse(output) as { partitiontable: { label: string; partitions: SfdiskPartition[] } }
  ).partitiontable;
}

const MBR: DiskSpec = {
  size: '64M',
  table: 'mbr',
  partitions: [
    { number: 1, start: 2048, size: 20480, filesystem: { type: 'ext4', label: 'root' } },
    { number: 2, start: 22528, size: 8192, type: 'swap', filesystem: { type: 'swap' } },
    { number: 3, start: 30720, size: 90000, type: 'extended' },
    { number: 5, start: 32768, size: 20480, type: 'lvm', filesystem: { type: 'lvm2' } },
    {
      number: 6,
      start: 55296,
      size: 20480,
      type: 'efi',
      filesystem: { type: 'vfat', label: 'EFI' },
    },
  ],
};

const GPT: DiskSpec = {
  size: '64M',
  table: 'gpt',
  partitions: [
    {
      number: 1,
      start: 100000,
      size: 20480,
      type: 'root-x86-64',
      name: 'root on the end',
      filesystem: { type: 'xfs', label: 'xroot' },
    },
    { number: 2, start: 2048, size: 4096, type: 'efi', name: 'EFI system' },
    {
      number: 3,
      start: 8192,
      size: 20480,
      type: 'root-arm64',
      name: 'arm',
      filesystem: { type: 'btrfs', label: 'broot' },
    },
    { number: 4, start: 30720, size: 20480, type: 'lvm', name: 'pv' },
    { number: 5, start: 51200, size: 8192, type: 'swap', name: 'swap' },
    {
      number: 6,
      start: 60000,
      size: 8192,
      type: 'a19d880f-05fc-4d3b-a006-743f0f84911e',
      name: 'raid',
    },
  ],
};

describe.skipIf(!SFDISK.ok)(`writeDiskLayout checked by real sfdisk${SFDISK.why}`, () => {
  it('writes an MBR with an extended chain that sfdisk reads back', async () => {
    const { disk } = build(MBR);
    const table = sfdisk(await exportDisk(disk, 'mbr.img'));
    expect(table.label).toBe('dos');
    expect(
      table.partitions.map((p) => [p.node.replace(/.*img/, ''), p.start, p.size, p.type]),
    ).toEqual([
      ['1', 2048, 20480, '83'],
      ['2', 22528, 8192, '82'],
      ['3', 30720, 90000, '5'],
      ['5', 32768, 20480, '8e'],
      ['6', 55296, 20480, 'ef'],
    ]);
  });

  it('writes a GPT whose types, names and ranges sfdisk reads back', async () => {
    const { disk } = build(GPT);
    const table = sfdisk(await exportDisk(disk, 'gpt.img'));
    expect(table.label).toBe('gpt');
    // sfdisk lists entries in table order: entry 1 first although it lies last on the disk.
    expect(table.partitions.map((p) => [p.start, p.size, p.type.toLowerCase(), p.name])).toEqual(
      [...GPT.partitions!]
        .sort((a, b) => a.number - b.number)
        .map((p) => [
          p.start,
          p.size,
          {
            'root-x86-64': '4f68bce3-e8cd-4db1-96e7-fbcaf984b709',
            efi: 'c12a7328-f81f-11d2-ba4b-00a0c93ec93b',
            'root-arm64': 'b921b045-1df0-41c3-af44-4c6f280d3fae',
            lvm: 'e6d6d379-f507-44c2-a23c-238f2a3df928',
            swap: '0657fd6d-a4ab-43c4-84e5-0933c84b4f4f',
          }[p.type!] ?? p.type,
          p.name,
        ]),
    );
  });

  it('writes a backup GPT that sfdisk uses when the primary is damaged', async () => {
    const { disk } = build({ ...GPT, damagePrimaryGpt: true });
    const table = sfdisk(await exportDisk(disk, 'gpt-damaged.img'));
    expect(table.partitions.map((p) => p.name)).toContain('root on the end');
  });

  it.skipIf(!FDISK.ok)(
    `writes a 4096-byte-sector GPT that fdisk reads with -b 4096${FDISK.why}`,
    async () => {
      const { disk } = build({
        size: '64M',
        sectorSize: 4096,
        table: 'gpt',
        partitions: [
          { number: 1, start: 256, size: 4096, name: 'root', filesystem: { type: 'ext4' } },
          { number: 2, start: 4352, size: 1024, type: 'swap', name: 'swap' },
        ],
      });
      const path = await exportDisk(disk, 'gpt4k.img');
      // sfdisk has no sector-size option for image files; fdisk does.
      const output = run(
        'fdisk',
        ['-b', '4096', '-l', '-o', 'Start,Sectors,Type-UUID,Name', path],
        'fdisk',
      );
      expect(output).toMatch(/Sector size \(logical\/physical\): 4096 bytes/);
      expect(output).toMatch(/Disklabel type: gpt/);
      const rows = output
        .split('\n')
        .filter((line) => /^\s*\d+\s+\d+\s+[0-9A-F-]{36}/.test(line))
        .map((line) => line.trim().split(/\s+/));
      expect(rows).toEqual([
        ['256', '4096', '0FC63DAF-8483-4772-8E79-3D69D8477DE4', 'root'],
        ['4352', '1024', '0657FD6D-A4AB-43C4-84E5-0933C84B4F4F', 'swap'],
      ]);
    },
  );
});

describe.skipIf(!BLKID.ok)(
  `writeDiskLayout filesystem signatures checked by real blkid${BLKID.why}`,
  () => {
    const types: [FsType, string, string | undefined][] = [
      ['ext2', 'ext2', 'e2'],
      ['ext3', 'ext3', 'e3'],
      ['ext4', 'ext4', 'e4'],
      ['xfs', 'xfs', 'xfslabel'],
      ['btrfs', 'btrfs', 'btr'],
      ['vfat', 'vfat', 'VFAT'],
      ['swap', 'swap', 'sw'],
      ['luks', 'crypto_LUKS', 'lk'],
      ['lvm2', 'LVM2_member', undefined],
    ];

    it.each(types)(
      'writes a %s superblock that blkid -p recognises inside its partition',
      async (type, blkidType, label) => {
        const { disk, regions } = build({
          size: '16M',
          table: 'gpt',
          partitions: [
            {
              number: 1,
              start: 2048,
              size: 20480,
              filesystem: { type, ...(label ? { label } : {}) },
            },
          ],
        });
        const region = regions[0]!;
        const path = await exportDisk(disk, `fs-${type}.img`);
        const output = run(
          'blkid',
          ['-p', '-o', 'export', '-O', String(region.offset), '-S', String(region.size), path],
          'util-linux',
        );
        const fields = Object.fromEntries(
          output
            .trim()
            .split('\n')
            .map((l) => l.split(/=(.*)/s).slice(0, 2)),
        );
        expect(fields.TYPE).toBe(blkidType);
        if (label) expect(fields.LABEL).toBe(label);
      },
    );
  },
);

describe('writeDiskLayout', () => {
  it('returns the byte region of every declared filesystem', () => {
    const { regions } = build(MBR);
    expect(regions.map((r) => [r.partitionNumber, r.offset, r.size, r.filesystem.type])).toEqual([
      [1, 2048 * 512, 20480 * 512, 'ext4'],
      [2, 22528 * 512, 8192 * 512, 'swap'],
      [5, 32768 * 512, 20480 * 512, 'lvm2'],
      [6, 55296 * 512, 20480 * 512, 'vfat'],
    ]);
  });

  it('writes a whole-disk filesystem as one region and a blank disk as none', () => {
    expect(build({ size: '1M', table: 'none', filesystem: { type: 'ext4' } }).regions).toEqual([
      { offset: 0, size: 1024 * 1024, filesystem: { type: 'ext4' } },
    ]);
    expect(build({ size: '1M', table: 'none' }).regions).toEqual([]);
  });

  const part = { number: 1, start: 2048, size: 2048 };
  it.each([
    [
      'a partition past the end',
      { table: 'mbr', partitions: [{ ...part, start: 40000 }] },
      /partition 1 \(sectors 40000-42047\) lies outside the usable sectors 1-32767/,
    ],
    [
      'overlapping partitions',
      { table: 'gpt', partitions: [part, { ...part, number: 2, start: 3000 }] },
      /partition 1 overlaps partition 2/,
    ],
    [
      'a duplicate number',
      { table: 'gpt', partitions: [part, { ...part, start: 8192 }] },
      /partition 1 is declared twice/,
    ],
    [
      'a zero size',
      { table: 'gpt', partitions: [{ ...part, size: 0 }] },
      /partition 1 needs a whole start and a size of at least one sector/,
    ],
    [
      'a number below 1',
      { table: 'gpt', partitions: [{ ...part, number: 0 }] },
      /partition number 0 is not 1 or more/,
    ],
    [
      'a GPT partition in the entry area',
      { table: 'gpt', partitions: [{ ...part, start: 10 }] },
      /lies outside the usable sectors 34-/,
    ],
    [
      'a logical without an extended',
      { table: 'mbr', partitions: [{ ...part, number: 5 }] },
      /logical partition 5 needs an extended partition/,
    ],
    [
      'two extended partitions',
      {
        table: 'mbr',
        partitions: [
          { ...part, type: 'extended' },
          { ...part, number: 2, start: 8192, type: 'extended' },
        ],
      },
      /at most one extended partition/,
    ],
    [
      'a logical with no room for its EBR',
      {
        table: 'mbr',
        partitions: [
          { ...part, size: 8192, type: 'extended' },
          { ...part, number: 5 },
        ],
      },
      /logical partition 5 must lie inside extended partition 1 after its EBR at sector 2048/,
    ],
    [
      'a gap in logical numbers',
      {
        table: 'mbr',
        partitions: [
          { ...part, size: 8192, type: 'extended' },
          { ...part, number: 6, start: 4096 },
        ],
      },
      /numbered 5, 6, ... without gaps; found 6/,
    ],
    [
      'a GUID type on an MBR',
      { table: 'mbr', partitions: [{ ...part, type: 'root-x86-64' }] },
      /partition 1 has type 'root-x86-64', which an MBR cannot hold/,
    ],
    [
      'an MBR type on a GPT',
      { table: 'gpt', partitions: [{ ...part, type: '83' }] },
      /partition 1 has type '83', which a GPT cannot hold/,
    ],
    [
      'an extended partition on a GPT',
      { table: 'gpt', partitions: [{ ...part, type: 'extended' }] },
      /which a GPT cannot hold/,
    ],
    [
      'a filesystem in an extended container',
      { table: 'mbr', partitions: [{ ...part, type: 'extended', filesystem: { type: 'ext4' } }] },
      /partition 1 is an extended container and cannot hold a filesystem/,
    ],
    [
      'a GPT name over 36 characters',
      { table: 'gpt', partitions: [{ ...part, name: 'x'.repeat(37) }] },
      /name 'x{37}' is longer than 36 characters/,
    ],
    [
      'a GPT partition number over 128',
      { table: 'gpt', partitions: [{ ...part, number: 129 }] },
      /partition 129 exceeds the 128 GPT entries/,
    ],
    [
      'partitions on table none',
      { table: 'none', partitions: [part] },
      /partitions need table 'mbr' or 'gpt'/,
    ],
    [
      'a whole-disk filesystem beside a table',
      { table: 'mbr', filesystem: { type: 'ext4' } },
      /a whole-disk filesystem cannot share the disk with an mbr table/,
    ],
    [
      'damagePrimaryGpt on an MBR',
      { table: 'mbr', damagePrimaryGpt: true },
      /damagePrimaryGpt needs table gpt/,
    ],
    [
      'an ext label over 16 bytes',
      { table: 'none', filesystem: { type: 'ext4', label: 'a'.repeat(17) } },
      /ext4 label 'a{17}': it is longer than 16 bytes/,
    ],
    [
      'a vfat label over 11 characters',
      { table: 'none', filesystem: { type: 'vfat', label: 'a'.repeat(12) } },
      /vfat label 'a{12}': it is longer than 11 characters/,
    ],
    [
      'a filesystem too small for its type',
      { table: 'mbr', partitions: [{ ...part, size: 8, filesystem: { type: 'btrfs' } }] },
      /btrfs filesystem: its region of 4096 bytes is below/,
    ],
  ] as const)('rejects %s', (_name, layout, pattern) => {
    let error: unknown;
    try {
      build({ size: '16M', ...layout } as DiskSpec);
    } catch (e) {
      error = e;
    }
    expect(hasCode(error, 'InvalidInput'), String(error)).toBe(true);
    expect((error as Error).message).toMatch(pattern);
  });

  it.each([
    [
      'a size that differs from the disk',
      { size: '2M', table: 'none' },
      /declares 2097152 bytes but the disk has 1048576/,
    ],
    [
      'a sector size that differs from the disk',
      { size: '1M', sectorSize: 4096, table: 'none' },
      /declares 4096-byte sectors but the disk has 512/,
    ],
  ] as const)('rejects %s', (_name, spec, pattern) => {
    expect(() => writeDiskLayout(new SparseDisk(1024 * 1024), spec as DiskSpec)).toThrow(pattern);
  });

  it('writes the same bytes for the same spec', () => {
    const a = build(GPT).disk;
    const b = build(GPT).disk;
    expect(a.read(0, 64 * 1024)).toEqual(b.read(0, 64 * 1024));
  });

  it('rejects a filesystem type that is not modelled', () => {
    expect(() =>
      build({ size: '1M', table: 'none', filesystem: { type: 'zfs' as FsType } }),
    ).toThrow(/type 'zfs' is not modelled/);
  });
});
