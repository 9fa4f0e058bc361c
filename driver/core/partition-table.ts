/**
 * MBR (with extended/logical chains) and GPT parsing from raw device bytes. The input is
 * untrusted: every count, offset and chain is bounded, and inconsistencies are rejected
 * with InvalidInput rather than mapped onto a loop device.
 */
import { DriverError } from '../errors.js';
import { crc32 } from './crc32.js';
import { isFatBootSector } from './fs-probe.js';
import { MBR_EXTENDED_TYPES, MBR_PROTECTIVE_TYPE, decodeGuid } from './partition-types.js';

/** Random access to a device or image: the only IO the parsers need. */
export interface ByteReader {
  /** Size in bytes. */
  size: number;
  /** The device's logical sector size when it has one; image files have none. */
  sectorSizeHint?: number;
  /** Up to `length` bytes at `offset`; fewer only at the end. */
  read(offset: number, length: number): Promise<Uint8Array>;
}

/** One partition, in bytes. */
export interface Partition {
  number: number;
  start: number;
  size: number;
  /** MBR: two lowercase hex digits like '83'; GPT: lowercase type GUID. */
  type: string;
  kind: 'primary' | 'extended' | 'logical' | 'gpt';
  /** GPT partition name, UTF-16LE decoded. */
  name?: string;
  /** GPT unique partition GUID. */
  uuid?: string;
  /** MBR boot flag (0x80). */
  bootable?: boolean;
}

/** A parsed partition table. */
export interface PartitionTable {
  scheme: 'mbr' | 'gpt';
  sectorSize: number;
  /** Sorted by number. */
  partitions: Partition[];
  /** Problems worked around (a damaged primary GPT, a broken EBR chain). */
  warnings: string[];
  /** MBR disk signature as `0x1234abcd`, or the GPT disk GUID. */
  diskId?: string;
}

const MBR_SIZE = 512;
const GPT_SIGNATURE = 'EFI PART';
const GPT_MIN_HEADER = 92;
const GPT_MIN_ENTRY_SIZE = 128;
// The spec's default array is 16 KiB; 1 MiB leaves room for unusual tools, not for abuse.
const GPT_MAX_ENTRY_ARRAY = 1024 * 1024;
// Linux caps logical partitions far lower in practice; this only stops runaway chains.
const MAX_LOGICAL_PARTITIONS = 256;
const SECTOR_SIZES = [512, 4096];

interface MbrEntry {
  bootFlag: number;
  type: string;
  start: number;
  sectors: number;
}

function fail(reason: string, details: Record<string, unknown> = {}): never {
  throw new DriverError('InvalidInput', `Failed to read the partition table: ${reason}`, {
    hint: 'The device holds a corrupt or hostile partition table; repair it with sfdisk or gdisk.',
    details,
  });
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function hasBootSignature(sector: Uint8Array): boolean {
  return sector.length >= MBR_SIZE && sector[510] === 0x55 && sector[511] === 0xaa;
}

function parseMbrEntries(sector: Uint8Array): MbrEntry[] {
  const dv = view(sector);
  return [0, 1, 2, 3].map((i) => {
    const at = 446 + i * 16;
    return {
      bootFlag: sector[at]!,
      type: sector[at + 4]!.toString(16).padStart(2, '0'),
      start: dv.getUint32(at + 8, true),
      sectors: dv.getUint32(at + 12, true),
    };
  });
}

function describeRange(p: Partition): string {
  return `bytes ${p.start}-${p.start + p.size - 1}`;
}

/** Rejects overlaps, except logical partitions inside their extended container. */
function checkOverlaps(partitions: Partition[]): void {
  const sorted = [...partitions].sort((a, b) => a.start - b.start || a.number - b.number);
  for (let i = 0; i < sorted.length; i++) {
    const a = sorted[i]!;
    for (let j = i + 1; j < sorted.length; j++) {
      const b = sorted[j]!;
      if (b.start >= a.start + a.size) break;
      const nested =
        (a.kind === 'extended' && b.kind === 'logical') ||
        (b.kind === 'extended' && a.kind === 'logical');
      if (!nested) {
        fail(
          `partition ${a.number} (${describeRange(a)}) overlaps partition ${b.number} (${describeRange(b)})`,
          { partitions: [a.number, b.number] },
        );
      }
    }
  }
}

async function readMbr(
  reader: ByteReader,
  sector: Uint8Array,
  entries: MbrEntry[],
): Promise<PartitionTable> {
  // An MBR has no sector size of its own: trust the device, else the 512 every tool assumes.
  const sectorSize = reader.sectorSizeHint === 4096 ? 4096 : 512;
  const diskSectors = Math.floor(reader.size / sectorSize);
  const partitions: Partition[] = [];
  const warnings: string[] = [];
  let extended: { start: number; sectors: number; number: number } | undefined;

  entries.forEach((entry, index) => {
    const number = index + 1;
    if (entry.type === '00') return;
    // A stale entry with a type but no sectors: the kernel and libblkid skip it, so do we.
    if (entry.sectors === 0) {
      warnings.push(`partition ${number} has type ${entry.type} but zero size; it is skipped`);
      return;
    }
    if (entry.start === 0) {
      fail(`partition ${number} starts at sector 0, over the MBR itself`, { partition: number });
    }
    if (entry.start + entry.sectors > diskSectors) {
      fail(
        `partition ${number} (sectors ${entry.start}-${entry.start + entry.sectors - 1}) ` +
          `lies beyond the end of the disk (${diskSectors} sectors of ${sectorSize} bytes)`,
        { partition: number },
      );
    }
    const isExtended = MBR_EXTENDED_TYPES.includes(entry.type);
    partitions.push({
      number,
      start: entry.start * sectorSize,
      size: entry.sectors * sectorSize,
      type: entry.type,
      kind: isExtended ? 'extended' : 'primary',
      bootable: entry.bootFlag === 0x80,
    });
    if (isExtended) {
      if (extended) {
        warnings.push(
          `partition ${number} is a second extended partition; only the chain of partition ${extended.number} is read`,
        );
      } else {
        extended = { start: entry.start, sectors: entry.sectors, number };
      }
    }
  });

  if (extended) {
    partitions.push(...(await readLogicals(reader, sectorSize, extended, warnings)));
  }
  checkOverlaps(partitions);
  partitions.sort((a, b) => a.number - b.number);
  const diskId = `0x${view(sector).getUint32(440, true).toString(16).padStart(8, '0')}`;
  return { scheme: 'mbr', sectorSize, partitions, warnings, diskId };
}

async function readLogicals(
  reader: ByteReader,
  sectorSize: number,
  extended: { start: number; sectors: number; number: number },
  warnings: string[],
): Promise<Partition[]> {
  const logicals: Partition[] = [];
  const extEnd = extended.start + extended.sectors;
  const seen = new Set<number>();
  let ebrLba = extended.start;
  let number = 5;
  for (;;) {
    if (seen.has(ebrLba)) {
      fail(`the EBR chain of extended partition ${extended.number} loops back to sector ${ebrLba}`);
    }
    if (seen.size >= MAX_LOGICAL_PARTITIONS) {
      fail(`the EBR chain holds more than ${MAX_LOGICAL_PARTITIONS} logical partitions`);
    }
    seen.add(ebrLba);
    const ebr = await reader.read(ebrLba * sectorSize, MBR_SIZE);
    if (!hasBootSignature(ebr)) {
      // The kernel and blkid stop at a broken link instead of refusing the disk.
      if (ebrLba !== extended.start || ebr.some((b) => b !== 0)) {
        warnings.push(`the EBR at sector ${ebrLba} has no 55AA signature; the chain ends there`);
      }
      break;
    }
    let next: MbrEntry | undefined;
    let data: MbrEntry | undefined;
    for (const entry of parseMbrEntries(ebr).slice(0, 2)) {
      if (entry.type === '00') continue;
      if (MBR_EXTENDED_TYPES.includes(entry.type)) next ??= entry;
      else data ??= entry;
    }
    if (data && data.sectors === 0) {
      // The kernel's parse_extended skips an empty data entry without using up a number.
      warnings.push(`the EBR at sector ${ebrLba} has an empty data entry; it is skipped`);
      data = undefined;
    }
    if (data) {
      const start = ebrLba + data.start;
      if (data.start === 0 || start + data.sectors > extEnd) {
        fail(
          `logical partition ${number} (sectors ${start}-${start + data.sectors - 1}) lies outside ` +
            `extended partition ${extended.number} (sectors ${extended.start}-${extEnd - 1})`,
          { partition: number },
        );
      }
      logicals.push({
        number,
        start: start * sectorSize,
        size: data.sectors * sectorSize,
        type: data.type,
        kind: 'logical',
        bootable: data.bootFlag === 0x80,
      });
      number++;
    }
    if (!next) break;
    ebrLba = extended.start + next.start;
    if (ebrLba >= extEnd) {
      fail(
        `the EBR chain points to sector ${ebrLba}, outside extended partition ${extended.number}`,
      );
    }
  }
  return logicals;
}

/** Reads a little-endian u64 that must fit a JavaScript number exactly. */
function u64(dv: DataView, at: number, what: string): number {
  const value = dv.getBigUint64(at, true);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) fail(`GPT ${what} ${value} overflows`);
  return Number(value);
}

interface GptHeader {
  lba: number;
  firstUsable: number;
  lastUsable: number;
  alternate: number;
  diskGuid: string;
  partitions: Partition[];
}

type HeaderResult = { ok: true; header: GptHeader } | { ok: false; reason: string };

function decodeUtf16Name(bytes: Uint8Array): string {
  let name = '';
  for (let i = 0; i + 1 < bytes.length; i += 2) {
    const unit = bytes[i]! | (bytes[i + 1]! << 8);
    if (unit === 0) break;
    name += String.fromCharCode(unit);
  }
  return name;
}

/**
 * Reads one GPT header and its entries. Damage (bad signature or CRC) is reported so the
 * other copy can be tried; a header whose CRC holds but whose contents are absurd is hostile
 * and throws.
 */
async function readGptHeader(
  reader: ByteReader,
  sectorSize: number,
  lba: number,
): Promise<HeaderResult> {
  const diskSectors = Math.floor(reader.size / sectorSize);
  const bytes = await reader.read(lba * sectorSize, sectorSize);
  if (bytes.length < GPT_MIN_HEADER) return { ok: false, reason: 'it is cut short' };
  if (String.fromCharCode(...bytes.subarray(0, 8)) !== GPT_SIGNATURE) {
    return { ok: false, reason: 'no "EFI PART" signature' };
  }
  const dv = view(bytes);
  const headerSize = dv.getUint32(12, true);
  if (headerSize < GPT_MIN_HEADER || headerSize > sectorSize) {
    return { ok: false, reason: `header size ${headerSize} is out of range` };
  }
  const copy = bytes.slice(0, headerSize);
  copy.fill(0, 16, 20);
  if (crc32(copy) !== dv.getUint32(16, true)) {
    return { ok: false, reason: 'header CRC mismatch' };
  }
  const myLba = u64(dv, 24, 'header LBA');
  if (myLba !== lba) return { ok: false, reason: `header claims to be at LBA ${myLba}` };
  const alternate = u64(dv, 32, 'alternate header LBA');
  const firstUsable = u64(dv, 40, 'first usable LBA');
  const lastUsable = u64(dv, 48, 'last usable LBA');
  const diskGuid = decodeGuid(bytes.subarray(56, 72));
  const entriesLba = u64(dv, 72, 'partition entry LBA');
  const count = dv.getUint32(80, true);
  const entrySize = dv.getUint32(84, true);

  if (entrySize < GPT_MIN_ENTRY_SIZE || entrySize % 8 !== 0) {
    fail(`GPT entry size ${entrySize} is invalid (at least 128 and a multiple of 8)`);
  }
  const arrayBytes = count * entrySize;
  if (arrayBytes > GPT_MAX_ENTRY_ARRAY) {
    fail(
      `GPT partition entry array of ${count} entries × ${entrySize} bytes exceeds the ` +
        `${GPT_MAX_ENTRY_ARRAY} byte limit`,
    );
  }
  if (firstUsable > lastUsable || lastUsable >= diskSectors) {
    fail(
      `GPT usable area LBA ${firstUsable}-${lastUsable} does not fit the disk (${diskSectors} sectors)`,
    );
  }
  const arraySectors = Math.ceil(arrayBytes / sectorSize);
  const arrayEnd = entriesLba + Math.max(arraySectors, 1) - 1;
  const arrayRange = `LBA ${entriesLba}-${arrayEnd}`;
  if (entriesLba < 2) {
    fail(
      `GPT partition entry array at ${arrayRange} overlaps the ` +
        (entriesLba === 0 ? 'protective MBR at LBA 0' : 'primary GPT header at LBA 1'),
    );
  }
  if (entriesLba <= lba && arrayEnd >= lba) {
    fail(`GPT partition entry array at ${arrayRange} overlaps its own GPT header at LBA ${lba}`);
  }
  if (entriesLba * sectorSize + arrayBytes > reader.size) {
    fail(`GPT partition entry array at ${arrayRange} lies outside the disk`);
  }
  // The usable area must leave the protective MBR, both headers and the entry array alone,
  // or a partition could map them (the MBR parser refuses sector 0 for the same reason).
  const reserved: [number, number, string][] = [
    [0, 1, 'protective MBR and primary GPT header (LBA 0-1)'],
    [lba, lba, `GPT header at LBA ${lba}`],
  ];
  if (alternate !== lba && alternate < diskSectors) {
    reserved.push([alternate, alternate, `alternate GPT header at LBA ${alternate}`]);
  }
  if (arraySectors > 0) {
    reserved.push([entriesLba, arrayEnd, `partition entry array (${arrayRange})`]);
  }
  for (const [from, to, what] of reserved) {
    if (firstUsable <= to && lastUsable >= from) {
      fail(`GPT usable area LBA ${firstUsable}-${lastUsable} overlaps the ${what}`);
    }
  }
  const array = await reader.read(entriesLba * sectorSize, arrayBytes);
  if (array.length < arrayBytes) return { ok: false, reason: 'entry array is cut short' };
  if (crc32(array) !== dv.getUint32(88, true)) {
    return { ok: false, reason: 'partition entry array CRC mismatch' };
  }

  const partitions: Partition[] = [];
  const entries = view(array);
  for (let i = 0; i < count; i++) {
    const at = i * entrySize;
    const typeBytes = array.subarray(at, at + 16);
    if (typeBytes.every((b) => b === 0)) continue;
    const number = i + 1;
    const first = u64(entries, at + 32, `partition ${number} first LBA`);
    const last = u64(entries, at + 40, `partition ${number} last LBA`);
    if (last < first) {
      fail(`GPT partition ${number} ends (LBA ${last}) before it starts (LBA ${first})`, {
        partition: number,
      });
    }
    if (first < firstUsable || last > lastUsable) {
      fail(
        `GPT partition ${number} (LBA ${first}-${last}) lies outside the usable area ` +
          `LBA ${firstUsable}-${lastUsable} of the disk`,
        { partition: number },
      );
    }
    const partition: Partition = {
      number,
      start: first * sectorSize,
      size: (last - first + 1) * sectorSize,
      type: decodeGuid(typeBytes),
      kind: 'gpt',
      uuid: decodeGuid(array.subarray(at + 16, at + 32)),
    };
    const name = decodeUtf16Name(array.subarray(at + 56, at + Math.min(entrySize, 128)));
    if (name) partition.name = name;
    partitions.push(partition);
  }
  checkOverlaps(partitions);
  return { ok: true, header: { lba, firstUsable, lastUsable, alternate, diskGuid, partitions } };
}

async function hasSignatureAt(reader: ByteReader, offset: number): Promise<boolean> {
  if (offset < 0 || offset + 8 > reader.size) return false;
  const bytes = await reader.read(offset, 8);
  return bytes.length === 8 && String.fromCharCode(...bytes) === GPT_SIGNATURE;
}

async function readGpt(reader: ByteReader): Promise<PartitionTable> {
  const hint = reader.sectorSizeHint;
  const candidates =
    hint && SECTOR_SIZES.includes(hint)
      ? [hint, ...SECTOR_SIZES.filter((s) => s !== hint)]
      : SECTOR_SIZES;
  let sectorSize: number | undefined;
  // The header's position is the only trace of the sector size a GPT image was made with.
  for (const candidate of candidates) {
    if (await hasSignatureAt(reader, candidate)) {
      sectorSize = candidate;
      break;
    }
  }
  if (sectorSize === undefined) {
    for (const candidate of candidates) {
      const lastLba = Math.floor(reader.size / candidate) - 1;
      if (await hasSignatureAt(reader, lastLba * candidate)) {
        sectorSize = candidate;
        break;
      }
    }
  }
  if (sectorSize === undefined) {
    fail(
      'the protective MBR announces a GPT, but neither LBA 1 nor the last LBA holds a GPT header ' +
        `(sector sizes ${candidates.join(', ')} tried)`,
    );
  }
  const warnings: string[] = [];
  const lastLba = Math.floor(reader.size / sectorSize) - 1;
  let header: GptHeader;
  const primary = await readGptHeader(reader, sectorSize, 1);
  if (primary.ok) {
    header = primary.header;
    const backupLba =
      header.alternate <= lastLba && header.alternate > 1 ? header.alternate : lastLba;
    const backup = await readGptHeader(reader, sectorSize, backupLba).catch((error: unknown) => ({
      ok: false as const,
      reason: String((error as Error).message),
    }));
    if (!backup.ok) {
      warnings.push(`the backup GPT header at LBA ${backupLba} is damaged (${backup.reason})`);
    }
  } else {
    const backup = await readGptHeader(reader, sectorSize, lastLba);
    if (!backup.ok) {
      fail(
        `both GPT headers are damaged: primary at LBA 1: ${primary.reason}; ` +
          `backup at LBA ${lastLba}: ${backup.reason}`,
      );
    }
    header = backup.header;
    warnings.push(
      `the primary GPT header is damaged (${primary.reason}); using the backup at LBA ${lastLba}`,
    );
  }
  const partitions = header.partitions.sort((a, b) => a.number - b.number);
  return { scheme: 'gpt', sectorSize, partitions, warnings, diskId: header.diskGuid };
}

/**
 * Reads the MBR or GPT of a device. Resolves null when there is no partition table (no 55AA
 * signature, a FAT boot sector, or invalid boot flags, as blkid decides); throws InvalidInput
 * for tables that are corrupt or hostile.
 */
export async function readPartitionTable(reader: ByteReader): Promise<PartitionTable | null> {
  if (reader.size < MBR_SIZE) return null;
  const sector = await reader.read(0, MBR_SIZE);
  if (!hasBootSignature(sector)) return null;
  // A FAT filesystem on the bare disk also ends its boot sector with 55AA (blkid's order).
  if (isFatBootSector(sector)) return null;
  const entries = parseMbrEntries(sector);
  if (entries.some((e) => e.bootFlag !== 0 && e.bootFlag !== 0x80)) return null;
  if (entries.some((e) => e.type === MBR_PROTECTIVE_TYPE)) return readGpt(reader);
  return readMbr(reader, sector, entries);
}
