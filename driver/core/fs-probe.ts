/**
 * Filesystem recognition by superblock magic, the way blkid's low-level probes do it,
 * reduced to what root choice needs: the type, label, UUID and whether it mounts.
 */
import type { ByteReader } from './partition-table.js';

/** Filesystem and container types the probe recognises. */
export type FilesystemType =
  'ext2' | 'ext3' | 'ext4' | 'xfs' | 'btrfs' | 'vfat' | 'swap' | 'crypto_LUKS' | 'LVM2_member';

/** What a probe found at an offset. */
export interface FilesystemProbe {
  type: FilesystemType;
  label?: string;
  uuid?: string;
  /** False for swap, LUKS and LVM2: they hold no files to boot from. */
  mountable: boolean;
}

const EXT_COMPAT_HAS_JOURNAL = 0x4;
const EXT_INCOMPAT_JOURNAL_DEV = 0x8;
// Features ext3 understands (blkid's EXT3_FEATURE_*_SUPP); anything else makes it ext4.
const EXT3_INCOMPAT_SUPPORTED = 0x2 | 0x4 | 0x10;
const EXT3_RO_COMPAT_SUPPORTED = 0x1 | 0x2 | 0x4;
const SWAP_PAGE_SIZES = [4096, 8192, 16384, 32768, 65536];
const BTRFS_SUPER_OFFSET = 64 * 1024;

const utf8 = new TextDecoder('utf-8');

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function startsWith(bytes: Uint8Array, at: number, magic: string): boolean {
  if (at + magic.length > bytes.length) return false;
  for (let i = 0; i < magic.length; i++) {
    if (bytes[at + i] !== magic.charCodeAt(i)) return false;
  }
  return true;
}

/** Decodes a NUL-padded label; empty or whitespace-only labels count as absent. */
function text(bytes: Uint8Array, trimSpaces = false): string | undefined {
  const nul = bytes.indexOf(0);
  let value = utf8.decode(nul === -1 ? bytes : bytes.subarray(0, nul));
  if (trimSpaces) value = value.trimEnd();
  return value.length > 0 ? value : undefined;
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Formats 16 raw bytes as 8-4-4-4-12 (byte order as stored, like blkid). */
function uuid(bytes: Uint8Array): string | undefined {
  if (bytes.every((b) => b === 0)) return undefined;
  const h = hex(bytes.subarray(0, 16));
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function isPowerOfTwo(value: number): boolean {
  return value > 0 && (value & (value - 1)) === 0;
}

/**
 * True when a sector carries a plausible FAT BIOS parameter block (blkid's
 * fat_valid_superblock): a FAT filesystem on a bare disk ends with 55AA like an MBR.
 */
export function isFatBootSector(sector: Uint8Array): boolean {
  if (sector.length < 512) return false;
  const dv = view(sector);
  const bytesPerSector = dv.getUint16(11, true);
  const sectorsPerCluster = sector[13]!;
  const reserved = dv.getUint16(14, true);
  const fats = sector[16]!;
  const media = sector[21]!;
  if (startsWith(sector, 54, 'JFS     ') || startsWith(sector, 54, 'HPFS    ')) return false;
  return (
    isPowerOfTwo(bytesPerSector) &&
    bytesPerSector >= 512 &&
    bytesPerSector <= 32768 &&
    isPowerOfTwo(sectorsPerCluster) &&
    reserved > 0 &&
    fats > 0 &&
    (media === 0xf0 || media >= 0xf8)
  );
}

/** Reads within the probed region only; null when the range does not fit in it. */
type RegionReader = (at: number, length: number) => Promise<Uint8Array | null>;

async function probeLuks(read: RegionReader): Promise<FilesystemProbe | null> {
  const header = await read(0, 512);
  if (!header || !startsWith(header, 0, 'LUKS\xba\xbe')) return null;
  const version = view(header).getUint16(6, false);
  if (version !== 1 && version !== 2) return null;
  const probe: FilesystemProbe = { type: 'crypto_LUKS', mountable: false };
  const id = text(header.subarray(168, 208));
  if (id) probe.uuid = id;
  const label = version === 2 ? text(header.subarray(24, 72)) : undefined;
  if (label) probe.label = label;
  return probe;
}

async function probeLvm2(read: RegionReader): Promise<FilesystemProbe | null> {
  const sectors = await read(0, 4 * 512);
  if (!sectors) return null;
  for (let sector = 0; sector < 4; sector++) {
    const at = sector * 512;
    if (startsWith(sectors, at, 'LABELONE') && startsWith(sectors, at + 24, 'LVM2 001')) {
      const offset = view(sectors).getUint32(at + 20, true);
      const probe: FilesystemProbe = { type: 'LVM2_member', mountable: false };
      if (offset >= 32 && offset + 32 <= 512) {
        const raw = text(sectors.subarray(at + offset, at + offset + 32));
        if (raw && raw.length === 32) {
          // blkid prints the PV UUID as LVM does: 6-4-4-4-4-4-6.
          const parts = [6, 4, 4, 4, 4, 4, 6];
          let pos = 0;
          probe.uuid = parts.map((n) => raw.slice(pos, (pos += n))).join('-');
        }
      }
      return probe;
    }
  }
  return null;
}

async function probeXfs(read: RegionReader): Promise<FilesystemProbe | null> {
  const sb = await read(0, 512);
  if (!sb || !startsWith(sb, 0, 'XFSB')) return null;
  const dv = view(sb);
  const blockSize = dv.getUint32(4, false);
  const version = dv.getUint16(100, false) & 0x0f;
  const dataBlocks = dv.getBigUint64(8, false);
  // The magic alone is four letters; blkid also insists on a sane geometry.
  if (!isPowerOfTwo(blockSize) || blockSize < 512 || blockSize > 65536) return null;
  if (version < 1 || version > 5 || dataBlocks === 0n) return null;
  const probe: FilesystemProbe = { type: 'xfs', mountable: true };
  const label = text(sb.subarray(108, 120));
  if (label) probe.label = label;
  const id = uuid(sb.subarray(32, 48));
  if (id) probe.uuid = id;
  return probe;
}

async function probeExt(read: RegionReader): Promise<FilesystemProbe | null> {
  const sb = await read(1024, 1024);
  if (!sb) return null;
  const dv = view(sb);
  if (dv.getUint16(56, true) !== 0xef53) return null;
  const compat = dv.getUint32(92, true);
  const incompat = dv.getUint32(96, true);
  const roCompat = dv.getUint32(100, true);
  // An external journal device carries the ext magic but no files.
  if (incompat & EXT_INCOMPAT_JOURNAL_DEV) return null;
  let type: FilesystemType;
  if (incompat & ~EXT3_INCOMPAT_SUPPORTED || roCompat & ~EXT3_RO_COMPAT_SUPPORTED) {
    type = 'ext4';
  } else if (compat & EXT_COMPAT_HAS_JOURNAL) {
    type = 'ext3';
  } else {
    type = 'ext2';
  }
  const probe: FilesystemProbe = { type, mountable: true };
  const label = text(sb.subarray(120, 136));
  if (label) probe.label = label;
  const id = uuid(sb.subarray(104, 120));
  if (id) probe.uuid = id;
  return probe;
}

async function probeBtrfs(read: RegionReader): Promise<FilesystemProbe | null> {
  const sb = await read(BTRFS_SUPER_OFFSET, 4096);
  if (!sb || !startsWith(sb, 64, '_BHRfS_M')) return null;
  const probe: FilesystemProbe = { type: 'btrfs', mountable: true };
  const label = text(sb.subarray(299, 299 + 256));
  if (label) probe.label = label;
  const id = uuid(sb.subarray(32, 48));
  if (id) probe.uuid = id;
  return probe;
}

async function probeSwap(read: RegionReader): Promise<FilesystemProbe | null> {
  for (const pageSize of SWAP_PAGE_SIZES) {
    const tail = await read(pageSize - 10, 10);
    if (!tail) return null;
    if (startsWith(tail, 0, 'SWAPSPACE2') || startsWith(tail, 0, 'SWAP-SPACE')) {
      const probe: FilesystemProbe = { type: 'swap', mountable: false };
      const header = await read(1024, 44);
      if (header && startsWith(tail, 0, 'SWAPSPACE2')) {
        const id = uuid(header.subarray(12, 28));
        if (id) probe.uuid = id;
        const label = text(header.subarray(28, 44));
        if (label) probe.label = label;
      }
      return probe;
    }
  }
  return null;
}

async function probeVfat(read: RegionReader): Promise<FilesystemProbe | null> {
  const sector = await read(0, 512);
  if (!sector || !isFatBootSector(sector)) return null;
  const hasMagic =
    startsWith(sector, 54, 'FAT') ||
    startsWith(sector, 82, 'FAT32') ||
    startsWith(sector, 3, 'MSWIN');
  const hasSignature = sector[510] === 0x55 && sector[511] === 0xaa;
  if (!hasMagic && !hasSignature) return null;
  const fat32 = view(sector).getUint16(22, true) === 0;
  const base = fat32 ? 64 : 36;
  const probe: FilesystemProbe = { type: 'vfat', mountable: true };
  // Only BPBs with the extended boot signature carry a serial number and label.
  if (sector[base + 2] === 0x29) {
    const serial = sector.subarray(base + 3, base + 7);
    const h = hex(Uint8Array.of(serial[3]!, serial[2]!, serial[1]!, serial[0]!)).toUpperCase();
    probe.uuid = `${h.slice(0, 4)}-${h.slice(4)}`;
    const label = text(sector.subarray(base + 7, base + 18), true);
    if (label && label !== 'NO NAME') probe.label = label;
  }
  return probe;
}

// Containers first: a LUKS or LVM2 header wins over leftovers of an older filesystem.
const PROBES = [probeLuks, probeLvm2, probeXfs, probeExt, probeBtrfs, probeSwap, probeVfat];

/**
 * Identifies the filesystem (or swap/LUKS/LVM2 container) at `offset`, reading only inside
 * `size` bytes (default: to the end of the device). Resolves null when nothing is recognised.
 */
export async function probeFilesystem(
  reader: ByteReader,
  offset: number,
  size?: number,
): Promise<FilesystemProbe | null> {
  const end = Math.min(reader.size, offset + (size ?? reader.size - offset));
  const read: RegionReader = async (at, length) => {
    if (offset + at + length > end) return null;
    const bytes = await reader.read(offset + at, length);
    return bytes.length < length ? null : bytes;
  };
  for (const probe of PROBES) {
    const found = await probe(read);
    if (found) return found;
  }
  return null;
}
