/**
 * Minimal superblocks for fixture filesystems: enough for the driver's probe and for real
 * blkid to recognise type, label and UUID, not enough for a kernel to mount.
 */
import { DriverError } from '../../driver/errors.js';
import { crc32c, crc32Update } from '../../driver/core/crc32.js';
import type { FilesystemSpec } from '../disk-spec.js';
import type { SparseDisk } from '../../simulator/sparse-disk.js';

/** Deterministic pseudo-random bytes, so the same spec always yields the same disk. */
export function seededBytes(seed: string, length: number): Uint8Array {
  // FNV-1a of the seed, then xorshift32: reproducible, not cryptographic.
  let state = 0x811c9dc5;
  for (let i = 0; i < seed.length; i++) {
    state = Math.imul(state ^ seed.charCodeAt(i), 0x01000193) >>> 0;
  }
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    out[i] = state & 0xff;
  }
  return out;
}

/** 16 seeded bytes shaped as a version 4 UUID. */
export function seededUuid(seed: string): Uint8Array {
  const bytes = seededBytes(seed, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x40;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  return bytes;
}

/** A seeded version 4 UUID in text form. */
export function seededUuidText(seed: string): string {
  return uuidText(seededUuid(seed));
}

function uuidText(bytes: Uint8Array): string {
  const h = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

const utf8 = new TextEncoder();

function putText(target: Uint8Array, at: number, value: string, max: number, what: string): void {
  const bytes = utf8.encode(value);
  if (bytes.length > max) {
    throw new DriverError(
      'InvalidInput',
      `Failed to write a ${what} label '${value}': it is longer than ${max} bytes`,
    );
  }
  target.set(bytes, at);
}

function putAscii(target: Uint8Array, at: number, value: string): void {
  for (let i = 0; i < value.length; i++) target[at + i] = value.charCodeAt(i);
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** The region a filesystem's signature blocks are written into. */
interface Region {
  /** Its length in bytes. */
  size: number;
  fs: FilesystemSpec;
  /** Makes UUIDs and serial numbers reproducible. */
  seed: string;
}

/** Bytes to write at `at`, relative to the region's start. */
interface Block {
  at: number;
  bytes: Uint8Array;
}

/** One filesystem type: the least region it fits in, and its signature blocks, in order. */
interface FilesystemWriter {
  minimum: number;
  blocks(region: Region): Block[];
}

/** A type whose signature is one block of `length` bytes at `at`, filled in by `fill`. */
function oneBlock(
  minimum: number,
  at: number,
  length: number,
  fill: (bytes: Uint8Array, dv: DataView, region: Region) => void,
): FilesystemWriter {
  return {
    minimum,
    blocks(region) {
      const bytes = new Uint8Array(length);
      fill(bytes, view(bytes), region);
      return [{ at, bytes }];
    },
  };
}

const ext = oneBlock(64 * 1024, 1024, 1024, (sb, dv, { size, fs, seed }) => {
  const blocks = Math.floor(size / 4096);
  dv.setUint32(0, Math.max(16, Math.floor(blocks / 4)), true); // inodes
  dv.setUint32(4, blocks % 2 ** 32, true);
  dv.setUint32(24, 2, true); // log2(block size / 1024): 4 KiB blocks
  dv.setUint32(28, 2, true);
  dv.setUint32(32, 32768, true);
  dv.setUint32(36, 32768, true);
  dv.setUint32(40, 8192, true);
  dv.setUint16(56, 0xef53, true);
  dv.setUint16(58, 1, true); // cleanly unmounted
  dv.setUint16(60, 1, true);
  dv.setUint32(76, 1, true); // dynamic revision: UUID and label fields are valid
  dv.setUint32(84, 11, true);
  dv.setUint16(88, 256, true);
  // The journal and the incompat features are what blkid tells ext2, ext3 and ext4 apart by.
  const journal = fs.type === 'ext2' ? 0 : 0x4;
  dv.setUint32(92, journal | 0x8 | 0x20, true); // + ext_attr, dir_index
  dv.setUint32(96, fs.type === 'ext4' ? 0x2 | 0x40 | 0x80 | 0x200 : 0x2, true);
  // No metadata_csum: blkid would then verify a checksum this sketch does not keep.
  dv.setUint32(100, fs.type === 'ext4' ? 0x1 | 0x2 | 0x8 | 0x20 | 0x40 : 0x1 | 0x2, true);
  sb.set(seededUuid(seed), 104);
  if (fs.label) putText(sb, 120, fs.label, 16, fs.type);
  if (fs.type === 'ext4') dv.setUint32(336, Math.floor(blocks / 2 ** 32), true); // blocks_count_hi
});

const xfs = oneBlock(64 * 4096, 0, 512, (sb, dv, { size, fs, seed }) => {
  const blocks = Math.floor(size / 4096);
  // blkid requires agcount × agblocks to cover the data blocks and the last AG to hold ≥ 64.
  const agcount = Math.max(1, Math.ceil(blocks / 2 ** 30));
  const agblocks = Math.ceil(blocks / agcount);
  putAscii(sb, 0, 'XFSB');
  dv.setUint32(4, 4096, false);
  dv.setBigUint64(8, BigInt(blocks), false);
  sb.set(seededUuid(seed), 32);
  dv.setBigUint64(48, BigInt(Math.min(blocks - 1, 64)), false); // log start
  dv.setBigUint64(56, 128n, false); // root inode
  dv.setBigUint64(64, 129n, false);
  dv.setBigUint64(72, 130n, false);
  dv.setUint32(80, 1, false); // realtime extent: 1 block
  dv.setUint32(84, agblocks, false);
  dv.setUint32(88, agcount, false);
  dv.setUint32(96, Math.min(512, blocks), false); // log blocks
  dv.setUint16(100, 0x0004, false); // version 4: no CRC for blkid to verify
  dv.setUint16(102, 512, false);
  dv.setUint16(104, 256, false);
  dv.setUint16(106, 16, false);
  if (fs.label) putText(sb, 108, fs.label, 12, 'xfs');
  sb[120] = 12; // log2 block size
  sb[121] = 9; // log2 sector size
  sb[122] = 8; // log2 inode size
  sb[123] = 4; // log2 inodes per block
  sb[124] = Math.ceil(Math.log2(agblocks));
  sb[127] = 25; // max inode percentage
});

const btrfs = oneBlock(1024 * 1024, 65536, 4096, (sb, dv, { size, fs, seed }) => {
  const fsid = seededUuid(seed);
  sb.set(fsid, 32);
  dv.setBigUint64(48, 65536n, true); // this copy's byte offset
  putAscii(sb, 64, '_BHRfS_M');
  dv.setBigUint64(72, 1n, true); // generation
  dv.setBigUint64(112, BigInt(size), true);
  dv.setBigUint64(128, 6n, true); // root dir objectid
  dv.setBigUint64(136, 1n, true); // devices
  dv.setUint32(144, 4096, true);
  dv.setUint32(148, 16384, true);
  dv.setUint32(152, 16384, true);
  dv.setUint32(156, 4096, true);
  // dev_item: devid 1 spanning the region, with its own UUID and the fs UUID.
  dv.setBigUint64(201, 1n, true);
  dv.setBigUint64(209, BigInt(size), true);
  dv.setUint32(225, 4096, true);
  dv.setUint32(229, 4096, true);
  dv.setUint32(233, 4096, true);
  sb.set(seededUuid(`${seed}/dev`), 267);
  sb.set(fsid, 283);
  if (fs.label) putText(sb, 299, fs.label, 255, 'btrfs');
  // Newer blkid verifies the superblock checksum (crc32c over everything after it).
  dv.setUint32(0, crc32c(sb.subarray(32)), true);
});

const vfat: FilesystemWriter = {
  minimum: 256 * 1024,
  blocks({ size, fs, seed }) {
    const total = Math.floor(size / 512);
    // FAT12/16 up to 65524 clusters of ≤ 64 KiB; FAT32 beyond (as mkfs.vfat would choose).
    let sectorsPerCluster = 1;
    while (sectorsPerCluster < 128 && total / sectorsPerCluster > 65524) sectorsPerCluster *= 2;
    const fat32 = total / sectorsPerCluster > 65524;
    const reserved = fat32 ? 32 : 1;
    const rootEntries = fat32 ? 0 : 512;
    const rootSectors = (rootEntries * 32) / 512;
    let fatSectors = 1;
    let clusters = 0;
    for (let i = 0; i < 8; i++) {
      clusters = Math.floor((total - reserved - rootSectors - 2 * fatSectors) / sectorsPerCluster);
      const bits = fat32 ? 32 : clusters < 4085 ? 12 : 16;
      fatSectors = Math.ceil(((clusters + 2) * bits) / 8 / 512);
    }
    const fatBits = fat32 ? 32 : clusters < 4085 ? 12 : 16;
    const boot = new Uint8Array(512);
    const dv = view(boot);
    boot.set([0xeb, 0x3c, 0x90]);
    putAscii(boot, 3, 'mkfs.fat');
    dv.setUint16(11, 512, true);
    boot[13] = sectorsPerCluster;
    dv.setUint16(14, reserved, true);
    boot[16] = 2;
    dv.setUint16(17, rootEntries, true);
    if (total < 65536 && !fat32) dv.setUint16(19, total, true);
    else dv.setUint32(32, total, true);
    boot[21] = 0xf8;
    if (!fat32) dv.setUint16(22, fatSectors, true);
    dv.setUint16(24, 32, true);
    dv.setUint16(26, 64, true);
    const base = fat32 ? 64 : 36;
    if (fat32) {
      dv.setUint32(36, fatSectors, true);
      dv.setUint32(44, 2, true); // root directory cluster
      dv.setUint16(48, 1, true); // FSInfo sector
      dv.setUint16(50, 6, true); // backup boot sector
    }
    boot[base] = 0x80;
    boot[base + 2] = 0x29;
    boot.set(seededBytes(seed, 4), base + 3);
    // Case is kept (mkfs.fat would upper-case it) so `label:NAME` matches the declaration.
    const label = fs.label ?? 'NO NAME';
    if (label.length > 11) {
      throw new DriverError(
        'InvalidInput',
        `Failed to write a vfat label '${fs.label}': it is longer than 11 characters`,
      );
    }
    putAscii(boot, base + 7, label.padEnd(11, ' '));
    putAscii(boot, base + 18, `FAT${fatBits}`.padEnd(8, ' '));
    boot[510] = 0x55;
    boot[511] = 0xaa;
    const out: Block[] = [{ at: 0, bytes: boot }];
    if (fat32) {
      const info = new Uint8Array(512);
      const iv = view(info);
      putAscii(info, 0, 'RRaA');
      putAscii(info, 484, 'rrAa');
      iv.setUint32(488, 0xffffffff, true);
      iv.setUint32(492, 0xffffffff, true);
      info[510] = 0x55;
      info[511] = 0xaa;
      out.push({ at: 512, bytes: info }, { at: 6 * 512, bytes: boot });
    }
    // Media byte and end-of-chain markers open every FAT copy (cluster 2 is FAT32's root).
    const head =
      fatBits === 12
        ? Uint8Array.of(0xf8, 0xff, 0xff)
        : fatBits === 16
          ? Uint8Array.of(0xf8, 0xff, 0xff, 0xff)
          : Uint8Array.of(0xf8, 0xff, 0xff, 0x0f, 0xff, 0xff, 0xff, 0x0f, 0xff, 0xff, 0xff, 0x0f);
    for (let copy = 0; copy < 2; copy++) {
      out.push({ at: (reserved + copy * fatSectors) * 512, bytes: head });
    }
    if (fs.label) {
      // blkid's LABEL comes from the root directory's volume-label entry, not the boot sector.
      const entry = new Uint8Array(32);
      putAscii(entry, 0, label.padEnd(11, ' '));
      entry[11] = 0x08;
      // FAT12/16 keep it after the FATs; FAT32 in cluster 2, which starts at the same place.
      const rootDir = reserved + 2 * fatSectors;
      out.push({ at: rootDir * 512, bytes: entry });
    }
    return out;
  },
};

const swap = oneBlock(10 * 4096, 0, 4096, (page, dv, { size, fs, seed }) => {
  dv.setUint32(1024, 1, true); // version
  dv.setUint32(1028, Math.floor(size / 4096) - 1, true); // last page
  page.set(seededUuid(seed), 1036);
  if (fs.label) putText(page, 1052, fs.label, 16, 'swap');
  putAscii(page, 4086, 'SWAPSPACE2');
});

const luks = oneBlock(32 * 1024, 0, 512, (header, dv, { fs, seed }) => {
  putAscii(header, 0, 'LUKS\xba\xbe');
  dv.setUint16(6, 2, false);
  dv.setBigUint64(8, 16384n, false); // header size
  dv.setBigUint64(16, 1n, false); // sequence id
  if (fs.label) putText(header, 24, fs.label, 47, 'LUKS');
  putAscii(header, 72, 'sha256');
  header.set(seededBytes(`${seed}/salt`, 64), 104);
  putAscii(header, 168, uuidText(seededUuid(seed)));
  // hdr_offset (256) stays 0: blkid requires it to match where the header sits.
});

const lvm2 = oneBlock(2 * 1024 * 1024, 512, 512, (label, dv, { size, seed }) => {
  putAscii(label, 0, 'LABELONE');
  dv.setBigUint64(8, 1n, true); // the sector this label sits in
  dv.setUint32(20, 32, true); // offset of the PV header
  putAscii(label, 24, 'LVM2 001');
  const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  const id = Array.from(seededBytes(seed, 32), (b) => alphabet[b % alphabet.length]).join('');
  putAscii(label, 32, id);
  dv.setBigUint64(64, BigInt(size), true);
  dv.setBigUint64(72, 1024n * 1024n, true); // data area from 1 MiB
  dv.setBigUint64(104, 4096n, true); // metadata area
  dv.setBigUint64(112, 1024n * 1024n - 4096n, true);
  // LVM's CRC is the IEEE polynomial seeded with 0xf597a6cf and no final inversion.
  dv.setUint32(16, crc32Update(0xf597a6cf, label.subarray(20)), true);
});

const WRITERS = {
  ext2: ext,
  ext3: ext,
  ext4: ext,
  xfs,
  btrfs,
  vfat,
  swap,
  luks,
  lvm2,
} as const;

/**
 * Writes the signature blocks of `fs` into `[offset, offset + size)` of `disk`; `seed` makes
 * UUIDs and serial numbers reproducible.
 */
export function writeFilesystem(
  disk: SparseDisk,
  offset: number,
  size: number,
  fs: FilesystemSpec,
  seed: string,
): void {
  const writer = WRITERS[fs.type];
  if (!writer) {
    throw new DriverError(
      'NotModelled',
      `Failed to write a filesystem: type '${String(fs.type)}' is not modelled`,
    );
  }
  if (size < writer.minimum) {
    throw new DriverError(
      'InvalidInput',
      `Failed to write a ${fs.type} filesystem: its region of ${size} bytes is below the ${writer.minimum} bytes it needs`,
    );
  }
  for (const block of writer.blocks({ size, fs, seed })) disk.write(offset + block.at, block.bytes);
}
