import { describe, expect, it } from 'vitest';
import { crc32, crc32Update, crc32c } from './crc32.js';

const ascii = (text: string): Uint8Array => Uint8Array.from(text, (c) => c.charCodeAt(0));

describe('crc32', () => {
  it.each([
    ['', 0x00000000],
    ['123456789', 0xcbf43926],
    ['The quick brown fox jumps over the lazy dog', 0x414fa339],
  ])('computes the IEEE CRC of %j', (text, expected) => {
    expect(crc32(ascii(text))).toBe(expected);
  });

  it('computes the Castagnoli CRC of the check string', () => {
    expect(crc32c(ascii('123456789'))).toBe(0xe3069283);
  });

  it('equals the inverted raw update with an all-ones seed', () => {
    const data = ascii('partition');
    expect((crc32Update(0xffffffff, data) ^ 0xffffffff) >>> 0).toBe(crc32(data));
  });
});

describe('crc32 against the byte-wise reference', () => {
  // The table-driven loop the module used before it called zlib: the values must not move.
  const table = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const reference = (state: number, data: Uint8Array): number => {
    let crc = state >>> 0;
    for (const byte of data) crc = (table[(crc ^ byte) & 0xff] as number) ^ (crc >>> 8);
    return crc >>> 0;
  };
  const bytes = Uint8Array.from({ length: 16_384 + 7 }, (_, i) => (i * 2654435761) >>> 24);

  it('agrees on a GPT-sized buffer and on the LVM2 seed', () => {
    expect(crc32(bytes)).toBe((reference(0xffffffff, bytes) ^ 0xffffffff) >>> 0);
    expect(crc32Update(0xf597a6cf, bytes)).toBe(reference(0xf597a6cf, bytes));
    expect(crc32Update(0, bytes)).toBe(reference(0, bytes));
  });

  it('chains: updating twice equals updating once over the concatenation', () => {
    const head = bytes.subarray(0, 1000);
    const tail = bytes.subarray(1000);
    expect(crc32Update(crc32Update(0x1234, head), tail)).toBe(crc32Update(0x1234, bytes));
  });
});
