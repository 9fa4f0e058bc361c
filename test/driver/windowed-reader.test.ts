import { describe, expect, it } from 'vitest';
import { windowedReader } from '../../driver/disk-handler.js';

const K = 1024;

/** A device of `size` bytes whose byte i is i % 251, counting the reads it answers. */
function device(size: number) {
  const reads: [number, number][] = [];
  let failNext = false;
  const read = (offset: number, length: number) => {
    reads.push([offset, length]);
    if (failNext) {
      failNext = false;
      return Promise.reject(new Error('EIO'));
    }
    const end = Math.min(size, offset + length);
    return Promise.resolve(
      Uint8Array.from({ length: Math.max(0, end - offset) }, (_, i) => (offset + i) % 251),
    );
  };
  return { reads, read, failOnce: () => (failNext = true) };
}

const expected = (offset: number, length: number) =>
  Uint8Array.from({ length }, (_, i) => (offset + i) % 251);

describe('the root choice reads a device in 64 KiB windows', () => {
  it('answers reads inside one window from one device read, with the right bytes', async () => {
    const dev = device(1024 * K);
    const read = windowedReader(dev.read, 1024 * K);
    expect(await read(0, 512)).toEqual(expected(0, 512));
    expect(await read(512, 16 * K)).toEqual(expected(512, 16 * K));
    expect(await read(70 * K, 100)).toEqual(expected(70 * K, 100));
    expect(dev.reads).toEqual([
      [0, 64 * K],
      [64 * K, 64 * K],
    ]);
  });

  it('reads a range across two windows as asked, and a short last window at the end', async () => {
    const size = 100 * K + 7;
    const dev = device(size);
    const read = windowedReader(dev.read, size);
    expect(await read(60 * K, 8 * K)).toEqual(expected(60 * K, 8 * K));
    expect(dev.reads).toEqual([[60 * K, 8 * K]]);
    // The last 512 bytes asked past the end: fewer bytes, as the port answers.
    expect(await read(size - 5, 512)).toEqual(expected(size - 5, 5));
    expect(dev.reads.at(-1)).toEqual([64 * K, size - 64 * K]);
  });

  it('does not keep a failed read, and keeps at most 8 windows', async () => {
    const dev = device(4096 * K);
    const read = windowedReader(dev.read, 4096 * K);
    dev.failOnce();
    await expect(read(0, 512)).rejects.toThrow('EIO');
    expect(await read(0, 512)).toEqual(expected(0, 512));
    expect(dev.reads).toHaveLength(2);
    // A chain of reads one window apart (EBRs): the oldest windows are dropped.
    for (let i = 1; i <= 9; i++) await read(i * 64 * K, 512);
    const before = dev.reads.length;
    await read(0, 512); // dropped: read again
    await read(9 * 64 * K, 512); // kept
    expect(dev.reads.length).toBe(before + 1);
  });
});
