import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { qcow2Header, type Qcow2HeaderOptions } from '../../simulator/qcow2-header.js';
import { hasCode } from '../errors.js';
import { checkImage, inspectImage, type ImageInspection } from './image-format.js';
import type { ByteReader } from './partition-table.js';

const MiB = 1024 * 1024;

function bytesReader(bytes: Uint8Array, size = bytes.length): ByteReader {
  return {
    size,
    read: (offset, length) =>
      Promise.resolve(bytes.slice(offset, Math.min(offset + length, bytes.length))),
  };
}

function fileReader(path: string): ByteReader {
  const bytes = new Uint8Array(readFileSync(path));
  return bytesReader(bytes, statSync(path).size);
}

const crafted = (options: Partial<Qcow2HeaderOptions> = {}) =>
  bytesReader(qcow2Header({ virtualSize: 32 * MiB, ...options }), 196_608);

function refusal(what: () => void): { code: string; message: string } {
  try {
    what();
  } catch (error) {
    if (hasCode(error, 'InvalidInput', 'Unsupported')) return error;
    throw error;
  }
  throw new Error('expected a refusal');
}

// Real files made by qemu-img (Debian package qemu-utils); CI installs it.
// NOVA_LXC_REQUIRE_HOST_TOOLS=1 (set by .ci/run, which installs qemu-utils) makes a missing
// qemu-img a failure rather than a skip.
const qemuImg = (() => {
  try {
    execFileSync('qemu-img', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return process.env['NOVA_LXC_REQUIRE_HOST_TOOLS'] === '1';
  }
})();
const work = mkdtempSync(join(tmpdir(), 'nova-lxc-image-format-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** `qemu-img create -q ARGS PATH [SIZE]` in the work directory ('@' in ARGS stands for it). */
function made(name: string, args: readonly string[], size?: string): string {
  const path = join(work, name);
  const argv = ['create', '-q', ...args.map((a) => a.replace('@', work)), path];
  execFileSync('qemu-img', size === undefined ? argv : [...argv, size]);
  return path;
}

describe.skipIf(!qemuImg)(
  `inspectImage on files made by qemu-img 7.2${qemuImg ? '' : ' (skipped: qemu-img is not installed; Debian package qemu-utils)'}`,
  () => {
    it.each([
      ['a plain qcow2 v3', ['-f', 'qcow2'], { format: 'qcow2', virtualSize: MiB, unsafe: [] }],
      ['a qcow2 v2 (compat 0.10)', ['-f', 'qcow2', '-o', 'compat=0.10'], { format: 'qcow2' }],
      ['a raw file', ['-f', 'raw'], { format: 'raw', virtualSize: MiB, unsafe: [] }],
      ['a qed', ['-f', 'qed'], { format: 'qed', unsafe: ['nova-lxc does not boot qed images'] }],
      ['a vmdk', ['-f', 'vmdk'], { format: 'vmdk' }],
      ['a vhd', ['-f', 'vpc'], { format: 'vhd' }],
      ['a vhdx', ['-f', 'vhdx'], { format: 'vhdx' }],
      ['a vdi', ['-f', 'vdi'], { format: 'vdi' }],
    ] as const)('recognises %s', async (name, args, expected) => {
      const path = made(name.replace(/\W+/g, '-'), args, '1M');
      expect(await inspectImage(fileReader(path))).toMatchObject(expected);
    });

    it('finds the backing file and its format (backing /dev/sda, as in OSSA-2024-001)', async () => {
      const path = made('evil.qcow2', ['-f', 'qcow2', '-F', 'raw', '-b', '/dev/sda', '-u'], '1M');
      const inspection = await inspectImage(fileReader(path));
      expect(inspection).toMatchObject({
        format: 'qcow2',
        backingFile: '/dev/sda',
        backingFormat: 'raw',
        unsafe: ['it has a backing file ("/dev/sda")'],
      });
    });

    it('finds an external data file', async () => {
      const path = made('data.qcow2', ['-f', 'qcow2', '-o', 'data_file=@/data.raw'], '1M');
      const inspection = await inspectImage(fileReader(path));
      expect(inspection.unsafe).toEqual([
        'it has an external data file',
        `it names an external data file ("${work}/data.raw")`,
      ]);
    });

    it('flags extended L2 entries as an unknown feature, as oslo.utils does', async () => {
      const path = made('l2.qcow2', ['-f', 'qcow2', '-o', 'extended_l2=on'], '1M');
      expect((await inspectImage(fileReader(path))).unsafe).toEqual([
        'it has unknown incompatible features 0x10',
      ]);
    });

    it('accepts an overlay only over the image it names', async () => {
      const base = made('base.raw', ['-f', 'raw'], '1M');
      const overlay = made('overlay.qcow2', ['-f', 'qcow2', '-F', 'raw', '-b', base]);
      const inspection = await inspectImage(fileReader(overlay));
      expect(() =>
        checkImage('overlay', inspection, {
          declared: 'qcow2',
          allowedBacking: { path: base, format: 'raw' },
        }),
      ).not.toThrow();
      expect(
        refusal(() =>
          checkImage('overlay', inspection, {
            allowedBacking: { path: '/var/lib/other', format: 'raw' },
          }),
        ).message,
      ).toMatch(/backing file ".*base.raw" is not the cached image \/var\/lib\/other/);
    });
  },
);

describe('inspectImage on crafted bytes', () => {
  it('reads the simulator header as qemu-img writes it', async () => {
    expect(
      await inspectImage(crafted({ backingFile: '/images/base', backingFormat: 'raw' })),
    ).toEqual({
      format: 'qcow2',
      virtualSize: 32 * MiB,
      backingFile: '/images/base',
      backingFormat: 'raw',
      unsafe: ['it has a backing file ("/images/base")'],
    });
  });

  it.each([
    ['an external data file bit', { incompatible: 4n }, 'it has an external data file'],
    ['an unknown feature bit', { incompatible: 1n << 40n }, 'unknown incompatible features'],
    ['a data file extension', { dataFile: '/dev/sdb' }, 'names an external data file'],
  ])('flags %s as unsafe', async (_what, options, reason) => {
    expect((await inspectImage(crafted(options))).unsafe.join()).toContain(reason);
  });

  it('flags an encrypted qcow2', async () => {
    const bytes = qcow2Header({ virtualSize: MiB });
    new DataView(bytes.buffer).setUint32(32, 2);
    expect((await inspectImage(bytesReader(bytes))).unsafe).toEqual(['it is encrypted (method 2)']);
  });

  const edit = (at: number, write: (dv: DataView) => void): ByteReader => {
    const bytes = qcow2Header({ virtualSize: MiB, backingFile: '/b' });
    write(new DataView(bytes.buffer, at));
    return bytesReader(bytes);
  };
  it.each([
    ['version 4', edit(4, (d) => d.setUint32(0, 4)), /qcow2 version 4 is not 2 or 3/],
    ['cluster bits 30', edit(20, (d) => d.setUint32(0, 30)), /cluster bits 30 are outside 9-21/],
    ['a header length of 8', edit(100, (d) => d.setUint32(0, 8)), /header length 8 is invalid/],
    [
      'a backing name past the first cluster',
      edit(8, (d) => d.setBigUint64(0, 1n << 20n)),
      /backing file name \(2 bytes at 1048576\) is invalid/,
    ],
    [
      'a backing name of 4000 bytes',
      edit(16, (d) => d.setUint32(0, 4000)),
      /backing file name \(4000 bytes at \d+\) is invalid/,
    ],
    [
      'a virtual size past 2^53',
      edit(24, (d) => d.setBigUint64(0, 1n << 60n)),
      /virtual size 1152921504606846976 overflows/,
    ],
    [
      'an extension that overruns the cluster',
      edit(112, (d) => (d.setUint32(0, 0x1234), d.setUint32(4, 0xffff0000))),
      /header extension 0x1234 overruns/,
    ],
    ['a cut-short header', bytesReader(Uint8Array.of(0x51, 0x46, 0x49, 0xfb)), /cut short/],
  ])('rejects %s as corrupt', async (_what, reader, pattern) => {
    const error = await inspectImage(reader).catch((e: unknown) => e);
    expect(hasCode(error, 'InvalidInput'), String(error)).toBe(true);
    expect((error as Error).message).toMatch(pattern);
  });

  it('rejects content carrying two formats at once', async () => {
    const bytes = new Uint8Array(64 * 1024);
    bytes.set(qcow2Header({ virtualSize: MiB }).subarray(0, 512));
    bytes.set(new TextEncoder().encode('\x01CD001'), 32 * 1024);
    await expect(inspectImage(bytesReader(bytes))).rejects.toThrow(
      /multiple formats detected: qcow2, iso/,
    );
  });

  it('takes a partitioned or blank disk as raw', async () => {
    const mbr = new Uint8Array(MiB);
    mbr[510] = 0x55;
    mbr[511] = 0xaa;
    expect(await inspectImage(bytesReader(mbr))).toEqual({
      format: 'raw',
      virtualSize: MiB,
      unsafe: [],
    });
  });

  it('reads a bounded amount whatever the header claims', async () => {
    let read = 0;
    const bytes = qcow2Header({ virtualSize: MiB, backingFile: 'x'.repeat(1000) });
    await inspectImage({
      size: 1 << 30,
      read: (offset, length) => (
        (read += length),
        Promise.resolve(bytes.slice(offset, offset + length))
      ),
    });
    expect(read).toBeLessThan(8 * 1024);
  });
});

describe('checkImage', () => {
  const raw: ImageInspection = { format: 'raw', virtualSize: MiB, unsafe: [] };
  const qcow2: ImageInspection = { format: 'qcow2', virtualSize: MiB, unsafe: [] };

  it.each([
    ['qcow2 content declared raw', qcow2, 'raw', 'InvalidInput', /declared raw, found qcow2/],
    ['raw content declared qcow2', raw, 'qcow2', 'InvalidInput', /declared qcow2, found raw/],
    ['a vmdk declaration', raw, 'vmdk', 'Unsupported', /disk_format vmdk is not supported/],
    [
      'a qed image',
      { format: 'qed', virtualSize: 0, unsafe: ['x'] } as ImageInspection,
      undefined,
      'Unsupported',
      /does not boot qed images/,
    ],
    [
      'a backing file',
      { ...qcow2, backingFile: '/dev/sda', unsafe: ['it has a backing file ("/dev/sda")'] },
      'qcow2',
      'InvalidInput',
      /^Failed to use image img: it does not pass the safety checks: it has a backing file \("\/dev\/sda"\)$/,
    ],
  ] as const)('refuses %s', (_what, inspection, declared, code, pattern) => {
    const error = refusal(() => checkImage('img', inspection, { declared }));
    expect(error.code).toBe(code);
    expect(error.message).toMatch(pattern);
  });

  it.each([
    ['raw declared raw', raw, 'raw'],
    ['qcow2 declared qcow2', qcow2, 'qcow2'],
    ['an undeclared raw image (Nova leaves disk_format unset on evacuate)', raw, undefined],
  ] as const)('accepts %s', (_what, inspection, declared) => {
    expect(() => checkImage('img', inspection, { declared })).not.toThrow();
  });
});
