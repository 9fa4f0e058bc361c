import { describe, expect, it } from 'vitest';
import { hasCode } from '../driver/errors.js';
import { SPARSE_CHUNK_SIZE, SparseDisk } from './sparse-disk.js';

const TiB = 1024 ** 4;

describe('SparseDisk', () => {
  it('reads zeros where nothing was written and stores nothing', () => {
    const disk = new SparseDisk(1024 * 1024);
    expect(disk.read(4096, 16)).toEqual(new Uint8Array(16));
    expect(disk.bytesStored).toBe(0);
  });

  it('reads back a write that spans a chunk boundary', () => {
    const disk = new SparseDisk(1024 * 1024);
    const data = Uint8Array.from({ length: 100 }, (_, i) => i + 1);
    disk.write(SPARSE_CHUNK_SIZE - 50, data);
    expect(disk.read(SPARSE_CHUNK_SIZE - 50, 100)).toEqual(data);
    expect(disk.bytesStored).toBe(2 * SPARSE_CHUNK_SIZE);
  });

  it('returns a short read only at the end', () => {
    const disk = new SparseDisk(1000);
    expect(disk.read(990, 100)).toHaveLength(10);
    expect(disk.read(1000, 10)).toHaveLength(0);
  });

  it('keeps holes when zeros are written over them', () => {
    const disk = new SparseDisk(1024 * 1024);
    disk.write(0, new Uint8Array(300000));
    expect(disk.bytesStored).toBe(0);
  });

  it.each([
    ['past the end', (d: SparseDisk) => d.write(d.size - 1, Uint8Array.of(1, 2)), /past|ends at/],
    ['at a negative offset', (d: SparseDisk) => d.read(-1, 1), /offset -1/],
    ['at a fractional offset', (d: SparseDisk) => d.write(0.5, Uint8Array.of(1)), /offset 0.5/],
  ])('throws InvalidInput for an access %s', (_name, access, pattern) => {
    const disk = new SparseDisk(4096);
    let error: unknown;
    try {
      access(disk);
    } catch (e) {
      error = e;
    }
    expect(hasCode(error, 'InvalidInput')).toBe(true);
    expect((error as Error).message).toMatch(pattern);
  });

  it('rejects a sector size other than 512 or 4096', () => {
    expect(() => new SparseDisk(4096, 1024)).toThrow(/sector size 1024/);
  });

  it('addresses a 16 TiB disk past 2^32 bytes while storing only what was written', () => {
    const disk = new SparseDisk(16 * TiB, 4096);
    disk.write(16 * TiB - 4, Uint8Array.of(9, 8, 7, 6));
    disk.write(5 * 2 ** 32 + 3, Uint8Array.of(1));
    expect(disk.read(16 * TiB - 4, 8)).toEqual(Uint8Array.of(9, 8, 7, 6));
    expect(disk.read(5 * 2 ** 32 + 3, 1)).toEqual(Uint8Array.of(1));
    expect(disk.bytesStored).toBe(2 * SPARSE_CHUNK_SIZE);
  });

  it('summarises stored extents in its JSON without the bytes', () => {
    const disk = new SparseDisk(1024 * 1024);
    disk.write(0, Uint8Array.of(1));
    disk.write(SPARSE_CHUNK_SIZE, Uint8Array.of(1));
    disk.write(8 * SPARSE_CHUNK_SIZE, Uint8Array.of(1));
    expect(disk.toJSON()).toEqual({
      size: 1024 * 1024,
      sectorSize: 512,
      bytesStored: 3 * SPARSE_CHUNK_SIZE,
      extents: [
        { offset: 0, length: 2 * SPARSE_CHUNK_SIZE },
        { offset: 8 * SPARSE_CHUNK_SIZE, length: SPARSE_CHUNK_SIZE },
      ],
    });
  });

  it('exports stored chunks in order, clipped at the end of the disk', async () => {
    const disk = new SparseDisk(SPARSE_CHUNK_SIZE + 100);
    disk.write(SPARSE_CHUNK_SIZE + 99, Uint8Array.of(5));
    disk.write(1, Uint8Array.of(4));
    const seen: [number, number][] = [];
    await disk.exportTo((offset, data) => {
      seen.push([offset, data.length]);
    });
    expect(seen).toEqual([
      [0, SPARSE_CHUNK_SIZE],
      [SPARSE_CHUNK_SIZE, 100],
    ]);
  });

  it('clones into an independent copy', () => {
    const disk = new SparseDisk(4096);
    disk.write(0, Uint8Array.of(1));
    const copy = disk.clone();
    copy.write(0, Uint8Array.of(2));
    expect(disk.read(0, 1)).toEqual(Uint8Array.of(1));
    expect(copy.read(0, 1)).toEqual(Uint8Array.of(2));
  });

  it('serves as a ByteReader with its sector size as the hint', async () => {
    const disk = new SparseDisk(8192, 4096);
    disk.write(10, Uint8Array.of(3));
    const reader = disk.asByteReader();
    expect(reader).toMatchObject({ size: 8192, sectorSizeHint: 4096 });
    expect(await reader.read(10, 1)).toEqual(Uint8Array.of(3));
  });
});
