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
