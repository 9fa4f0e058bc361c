/** CRC-32 checksums: IEEE 802.3 (GPT headers and entries) and Castagnoli (btrfs). */

function makeTable(polynomial: number): Uint32Array {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) {
      c = c & 1 ? polynomial ^ (c >>> 1) : c >>> 1;
    }
    table[n] = c >>> 0;
  }
  return table;
}

const IEEE_TABLE = makeTable(0xedb88320);
const CASTAGNOLI_TABLE = makeTable(0x82f63b78);

function update(table: Uint32Array, state: number, data: Uint8Array): number {
  let crc = state >>> 0;
  for (const byte of data) {
    crc = (table[(crc ^ byte) & 0xff] as number) ^ (crc >>> 8);
  }
  return crc >>> 0;
}

/**
 * Feeds bytes into a raw reflected IEEE CRC state without the initial or final inversion;
 * LVM2 labels use it with their own seed (0xf597a6cf).
 */
export function crc32Update(state: number, data: Uint8Array): number {
  return update(IEEE_TABLE, state, data);
}

/** The IEEE CRC-32 of `data`, as GPT stores it (zlib's crc32). */
export function crc32(data: Uint8Array): number {
  return (update(IEEE_TABLE, 0xffffffff, data) ^ 0xffffffff) >>> 0;
}

/** The CRC-32C (Castagnoli) of `data`, as btrfs and XFS v5 store it. */
export function crc32c(data: Uint8Array): number {
  return (update(CASTAGNOLI_TABLE, 0xffffffff, data) ^ 0xffffffff) >>> 0;
}
