import { describe, expect, it } from 'vitest';
import { DriverError, hasCode } from '../errors.js';
import { parseSize } from '../../harness/disk-spec.js';
import type { DiskSpec, FilesystemSpec, PartitionSpec } from '../../harness/disk-spec.js';
import { SparseDisk } from '../../simulator/sparse-disk.js';
import { writeDiskLayout } from '../../harness/sim-disks/disk-layout.js';
import { chooseRootFilesystem, parseRootPartitionPolicy } from './root-choice.js';
import type { RootPartitionPolicy } from './root-choice.js';

const MiB = 1024 * 1024;
const DEVICE = '/dev/loop7';

function build(spec: DiskSpec): SparseDisk {
  const disk = new SparseDisk(parseSize(spec.size), spec.sectorSize ?? 512);
  writeDiskLayout(disk, spec);
  return disk;
}

const fs = (type: FilesystemSpec['type'], label?: string): FilesystemSpec => ({
  type,
  ...(label ? { label } : {}),
});

function disk(table: 'mbr' | 'gpt', partitions: PartitionSpec[]): SparseDisk {
  return build({ size: '64M', table, partitions });
}

/** Partition N at 8 MiB steps, each 8 MiB. */
const part = (number: number, extra: Partial<PartitionSpec> = {}): PartitionSpec => ({
  number,
  start: 2048 + (number > 4 ? number - 3 : number - 1) * 16384,
  size: 16384,
  ...extra,
});

async function failure(
  d: SparseDisk,
  policy: RootPartitionPolicy,
  options = {},
): Promise<DriverError> {
  const error = await chooseRootFilesystem(d.asByteReader(), DEVICE, policy, options).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DriverError);
  return error as DriverError;
}

describe('parseRootPartitionPolicy', () => {
  it.each([
    ['first', { kind: 'first' }],
    [' 3 ', { kind: 'number', number: 3 }],
    ['label:root fs', { kind: 'label', label: 'root fs' }],
    ['dps', { kind: 'dps', arch: 'x86_64' }],
    ['dps:arm64', { kind: 'dps', arch: 'arm64' }],
  ])('parses %j', (value, expected) => {
    expect(parseRootPartitionPolicy(value, 'image property lxc_root_partition', 'x86_64')).toEqual(
      expected,
    );
  });

  it.each([
    ['0', /partition numbers run from 1/],
    ['99999', /partition numbers run from 1/],
    ['label:', /the label is empty/],
    ['dps:vax', /names no root type for 'vax'/],
    ['second', /expected first, a partition number, label:NAME or dps/],
  ])('rejects %j naming the source', (value, pattern) => {
    let error: unknown;
    try {
      parseRootPartitionPolicy(value, 'image property lxc_root_partition');
    } catch (e) {
      error = e;
    }
    expect(hasCode(error, 'InvalidInput')).toBe(true);
    expect((error as Error).message).toMatch(/^Failed to parse image property lxc_root_partition/);
    expect((error as Error).message).toMatch(pattern);
  });
});

describe('chooseRootFilesystem by default', () => {
  it('mounts the whole device when it holds no partition table', async () => {
    const d = build({ size: '8M', table: 'none', filesystem: fs('ext4', 'plainfs') });
    expect(await chooseRootFilesystem(d.asByteReader(), DEVICE, { kind: 'first' })).toEqual({
      kind: 'whole',
      fstype: 'ext4',
      label: 'plainfs',
    });
  });

  it.each(['mbr', 'gpt'] as const)(
    'chooses partition 1 of an %s disk with its byte range',
    async (table) => {
      const d = disk(table, [
        part(1, { filesystem: fs('ext4', 'root') }),
        part(2, { filesystem: fs('xfs') }),
      ]);
      expect(await chooseRootFilesystem(d.asByteReader(), DEVICE, { kind: 'first' })).toEqual({
        kind: 'partition',
        number: 1,
        offset: MiB,
        size: 8 * MiB,
        fstype: 'ext4',
        label: 'root',
        scheme: table,
        sectorSize: 512,
        warnings: [],
      });
    },
  );

  it('chooses partition 1 of a 4096-byte-sector GPT and passes on the backup warning', async () => {
    const d = build({
      size: '64M',
      sectorSize: 4096,
      table: 'gpt',
      damagePrimaryGpt: true,
      partitions: [{ number: 1, start: 256, size: 2048, filesystem: fs('btrfs') }],
    });
    const choice = await chooseRootFilesystem(d.asByteReader(), DEVICE, { kind: 'first' });
    expect(choice).toMatchObject({
      kind: 'partition',
      offset: MiB,
      size: 8 * MiB,
      sectorSize: 4096,
      fstype: 'btrfs',
    });
    expect(choice.kind === 'partition' && choice.warnings[0]).toMatch(
      /primary GPT header is damaged/,
    );
  });

  it.each([
    [
      'partition 1 is missing',
      disk('gpt', [part(2, { filesystem: fs('ext4') })]),
      /its GPT partition table has no partition 1 \(partitions: 2\)/,
      'missing',
    ],
    [
      'slot 1 is an extended container',
      disk('mbr', [
        part(1, { type: 'extended', size: 40000 }),
        part(5, { start: 4096, filesystem: fs('ext4') }),
      ]),
      /partition 1 is an extended partition container/,
      'extended',
    ],
    [
      'partition 1 holds swap',
      disk('mbr', [
        part(1, { type: 'swap', filesystem: fs('swap') }),
        part(2, { filesystem: fs('ext4') }),
      ]),
      /partition 1 holds swap/,
      'swap',
    ],
    [
      'partition 1 holds LUKS',
      disk('gpt', [part(1, { filesystem: fs('luks') })]),
      /partition 1 holds LUKS encrypted data/,
      'crypto_LUKS',
    ],
    [
      'partition 1 holds LVM2',
      disk('gpt', [part(1, { type: 'lvm', filesystem: fs('lvm2') })]),
      /partition 1 holds an LVM2 physical volume/,
      'LVM2_member',
    ],
    [
      'partition 1 holds nothing',
      disk('mbr', [part(1), part(2, { filesystem: fs('ext4') })]),
      /partition 1 holds no recognisable filesystem/,
      'nothing',
    ],
    [
      'the disk is blank',
      build({ size: '8M', table: 'none' }),
      /it holds no partition table and no filesystem we recognise/,
      'nothing',
    ],
    [
      'the whole disk is swap',
      build({ size: '8M', table: 'none', filesystem: fs('swap') }),
      /it holds no partition table, only swap/,
      'swap',
    ],
  ])('fails with NoRootFilesystem when %s', async (_name, d, pattern, holds) => {
    const error = await failure(d, { kind: 'first' });
    expect(error.code).toBe('NoRootFilesystem');
    expect(error.message).toMatch(
      new RegExp(`^Failed to choose the root filesystem of ${DEVICE}: `),
    );
    expect(error.message).toMatch(pattern);
    expect(error.hint).toMatch(/lxc_root_partition .*N, label:NAME or dps.*--root-partition/);
    expect(error.details).toMatchObject({ device: DEVICE, holds });
  });

  it('names the device when the table itself is hostile', async () => {
    const d = disk('mbr', [part(1, { filesystem: fs('ext4') })]);
    d.write(446 + 16 + 4, Uint8Array.of(0x83, 0, 0, 0, 1, 0, 0, 0, 0, 0xff, 0xff, 0));
    const error = await failure(d, { kind: 'first' });
    expect(error.code).toBe('InvalidInput');
    expect(error.message).toMatch(/lies beyond the end of the disk .*\(on \/dev\/loop7\)$/);
  });
});

describe('chooseRootFilesystem with an override', () => {
  const mixed = (): SparseDisk =>
    disk('gpt', [
      part(1, { type: 'swap', filesystem: fs('swap') }),
      part(2, { name: 'system', type: 'root-arm64', filesystem: fs('ext4', 'armroot') }),
      part(3, { type: 'root-x86-64', filesystem: fs('xfs', 'x86root') }),
      part(4, { name: 'spare', filesystem: fs('ext3', 'x86root') }),
    ]);

  it.each([
    ['number 3', { kind: 'number', number: 3 }, {}, 3, 'xfs'],
    ['a GPT partition name', { kind: 'label', label: 'system' }, {}, 2, 'ext4'],
    ['a filesystem label', { kind: 'label', label: 'armroot' }, {}, 2, 'ext4'],
    ['dps on x86_64', { kind: 'dps', arch: 'x86_64' }, {}, 3, 'xfs'],
    ['dps on aarch64', { kind: 'dps', arch: 'aarch64' }, {}, 2, 'ext4'],
    ['dps with the arch from the caller', { kind: 'dps', arch: '' }, { arch: 'arm64' }, 2, 'ext4'],
  ] as const)('chooses by %s', async (_name, policy, options, number, fstype) => {
    const choice = await chooseRootFilesystem(mixed().asByteReader(), DEVICE, policy, options);
    expect(choice).toMatchObject({ kind: 'partition', number, fstype });
  });

  it.each([
    [
      'a label nobody has',
      { kind: 'label', label: 'nope' },
      'NoRootFilesystem',
      /no partition is named or labelled 'nope' \(partitions: 1: unlabelled, 2: 'system'\/'armroot', 3: 'x86root', 4: 'spare'\/'x86root'\)/,
    ],
    [
      'a label two partitions share',
      { kind: 'label', label: 'x86root' },
      'InvalidInput',
      /label 'x86root' matches partitions 3 and 4/,
    ],
    [
      'dps for an arch without a partition',
      { kind: 'dps', arch: 'riscv64' },
      'NoRootFilesystem',
      /no partition has the riscv64 root type 72ec70a6-cf74-40e6-bd49-4bda08e8f224/,
    ],
    [
      'dps for an arch the spec does not know',
      { kind: 'dps', arch: 'vax' },
      'Unsupported',
      /names no root type for architecture 'vax'/,
    ],
    [
      'dps without any arch',
      { kind: 'dps', arch: '' },
      'InvalidInput',
      /dps needs the host architecture/,
    ],
    [
      'a number that does not exist',
      { kind: 'number', number: 9 },
      'NoRootFilesystem',
      /has no partition 9 \(partitions: 1, 2 \(system\), 3, 4 \(spare\)\)/,
    ],
    [
      'number 1, which is swap',
      { kind: 'number', number: 1 },
      'NoRootFilesystem',
      /partition 1 holds swap/,
    ],
  ] as const)('fails for %s', async (_name, policy, code, pattern) => {
    const error = await failure(mixed(), policy);
    expect(error.code).toBe(code);
    expect(error.message).toContain(DEVICE);
    expect(error.message).toMatch(pattern);
  });

  it('refuses dps on an MBR disk', async () => {
    const error = await failure(disk('mbr', [part(1, { filesystem: fs('ext4') })]), {
      kind: 'dps',
      arch: 'x86_64',
    });
    expect(error.code).toBe('InvalidInput');
    expect(error.message).toMatch(/dps needs a GPT disk, but it holds an MBR partition table/);
  });

  it.each([
    ['number 2', { kind: 'number', number: 2 }, /no partition table, so there is no partition 2/],
    [
      'dps',
      { kind: 'dps', arch: 'x86_64' },
      /no partition table, so there is no DPS root partition/,
    ],
    [
      'a label the filesystem lacks',
      { kind: 'label', label: 'other' },
      /its ext4 filesystem is labelled 'plainfs', not 'other'/,
    ],
  ] as const)('fails on a whole-device filesystem for %s', async (_name, policy, pattern) => {
    const d = build({ size: '8M', table: 'none', filesystem: fs('ext4', 'plainfs') });
    const error = await failure(d, policy);
    expect(error.code).toBe('NoRootFilesystem');
    expect(error.message).toMatch(pattern);
  });

  it('accepts a whole-device filesystem whose label matches', async () => {
    const d = build({ size: '8M', table: 'none', filesystem: fs('ext4', 'plainfs') });
    const choice = await chooseRootFilesystem(d.asByteReader(), DEVICE, {
      kind: 'label',
      label: 'plainfs',
    });
    expect(choice).toEqual({ kind: 'whole', fstype: 'ext4', label: 'plainfs' });
  });
});
