import { describe, expect, it } from 'vitest';
import type { FsType } from '../../harness/disk-spec.js';
import { SparseDisk } from '../../simulator/sparse-disk.js';
import { writeDiskLayout } from '../../harness/sim-disks/disk-layout.js';
import { isFatBootSector, probeFilesystem } from './fs-probe.js';

const MiB = 1024 * 1024;

function wholeDisk(type: FsType, label?: string, size = 8 * MiB): SparseDisk {
  const disk = new SparseDisk(size);
  writeDiskLayout(disk, { size, table: 'none', filesystem: { type, ...(label ? { label } : {}) } });
  return disk;
}

describe('probeFilesystem', () => {
  it.each([
    ['ext2', 'ext2', 'data', true],
    ['ext3', 'ext3', 'journal', true],
    ['ext4', 'ext4', 'rootfs', true],
    ['xfs', 'xfs', 'xroot', true],
    ['btrfs', 'btrfs', 'broot', true],
    ['vfat', 'vfat', 'BOOT', true],
    ['swap', 'swap', 'swappy', false],
    ['luks', 'crypto_LUKS', 'vault', false],
    ['lvm2', 'LVM2_member', undefined, false],
  ] as const)('recognises %s with its label and UUID', async (type, expected, label, mountable) => {
    const probe = await probeFilesystem(wholeDisk(type, label).asByteReader(), 0);
    expect(probe).toMatchObject({ type: expected, mountable });
    expect(probe?.label).toBe(label);
    expect(probe?.uuid).toMatch(/^[0-9A-Za-z-]{9,}$/);
  });

  it('finds a filesystem at an offset, reading only inside its region', async () => {
    const disk = new SparseDisk(16 * MiB);
    writeDiskLayout(disk, {
      size: '16M',
      table: 'mbr',
      partitions: [{ number: 1, start: 2048, size: 8192, filesystem: { type: 'xfs', label: 'x' } }],
    });
    const reader = disk.asByteReader();
    expect(await probeFilesystem(reader, MiB, 4 * MiB)).toMatchObject({ type: 'xfs', label: 'x' });
    expect(await probeFilesystem(reader, MiB, 256)).toBeNull();
  });

  it('recognises FAT32 on a large region', async () => {
    const probe = await probeFilesystem(wholeDisk('vfat', 'BIG', 8 * 1024 * MiB).asByteReader(), 0);
    expect(probe).toMatchObject({ type: 'vfat', label: 'BIG' });
  });

  it('leaves out the vfat label when it is NO NAME', async () => {
    const probe = await probeFilesystem(wholeDisk('vfat').asByteReader(), 0);
    expect(probe?.label).toBeUndefined();
  });

  it.each([
    ['a blank region', () => new SparseDisk(MiB)],
    [
      'an ext journal device',
      () => {
        const disk = wholeDisk('ext4');
        disk.write(1024 + 96, Uint8Array.of(0x08, 0, 0, 0));
        return disk;
      },
    ],
    [
      'an XFS magic with an absurd block size',
      () => {
        const disk = wholeDisk('xfs');
        disk.write(4, Uint8Array.of(0, 0, 0, 3));
        return disk;
      },
    ],
    [
      'a LUKS magic with an unknown version',
      () => {
        const disk = wholeDisk('luks');
        disk.write(6, Uint8Array.of(0, 9));
        return disk;
      },
    ],
    [
      'a FAT BPB without signature or magic',
      () => {
        const disk = wholeDisk('vfat');
        disk.write(54, new Uint8Array(8));
        disk.write(510, Uint8Array.of(0, 0));
        return disk;
      },
    ],
  ])('returns null for %s', async (_name, make) => {
    expect(await probeFilesystem(make().asByteReader(), 0)).toBeNull();
  });

  it('recognises old-style SWAP-SPACE without reading a label', async () => {
    const disk = new SparseDisk(MiB);
    disk.write(
      8192 - 10,
      Uint8Array.from('SWAP-SPACE', (c) => c.charCodeAt(0)),
    );
    expect(await probeFilesystem(disk.asByteReader(), 0)).toEqual({
      type: 'swap',
      mountable: false,
    });
  });

  it('reads a LUKS1 header without a label', async () => {
    const disk = wholeDisk('luks', 'ignored');
    disk.write(6, Uint8Array.of(0, 1));
    const probe = await probeFilesystem(disk.asByteReader(), 0);
    expect(probe).toMatchObject({ type: 'crypto_LUKS' });
    expect(probe?.label).toBeUndefined();
  });
});

describe('isFatBootSector', () => {
  it.each([
    ['a short buffer', new Uint8Array(100), false],
    ['a zeroed sector', new Uint8Array(512), false],
    [
      'a JFS pseudo-BPB',
      (() => {
        const s = new Uint8Array(512);
        s.set([0x00, 0x02, 0x01, 0x01, 0x00, 0x02], 11);
        s[21] = 0xf8;
        s.set(
          Uint8Array.from('JFS     ', (c) => c.charCodeAt(0)),
          54,
        );
        return s;
      })(),
      false,
    ],
  ])('rejects %s', (_name, sector, expected) => {
    expect(isFatBootSector(sector)).toBe(expected);
  });
});
