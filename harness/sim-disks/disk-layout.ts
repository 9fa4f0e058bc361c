/**
 * Writes a fixture disk's real on-disk bytes (MBR with EBR chains, or GPT with both
 * headers) into a SparseDisk, so the driver reads the same bytes it would read on a host
 * and real sfdisk/blkid can check the result.
 */
import { DriverError } from '../../driver/errors.js';
import { crc32 } from '../../driver/core/crc32.js';
import {
  GPT_TYPE_GUIDS,
  MBR_EXTENDED_TYPES,
  MBR_TYPE_BYTES,
  encodeGuid,
  isGuid,
} from '../../driver/core/partition-types.js';
import { parseSize } from '../disk-spec.js';
import type { DiskSpec, FilesystemSpec, PartitionSpec } from '../disk-spec.js';
import { seededBytes, seededUuidText, writeFilesystem } from './disk-layout-filesystems.js';
import type { SparseDisk } from '../../simulator/sparse-disk.js';

/** Where a declared filesystem was written. */
export interface FilesystemRegion {
  /** Byte offset on the disk. */
  offset: number;
  /** Byte size of the partition (or the whole disk). */
  size: number;
  filesystem: FilesystemSpec;
  /** Absent for a filesystem on the whole disk. */
  partitionNumber?: number;
}

const GPT_ENTRIES = 128;
const GPT_ENTRY_SIZE = 128;
const MAX_MBR_LBA = 0xffffffff;

function invalid(reason: string, details: Record<string, unknown> = {}): never {
  throw new DriverError('InvalidInput', `Failed to lay out the disk: ${reason}`, { details });
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function mbrType(partition: PartitionSpec): string {
  const type = (partition.type ?? 'linux').toLowerCase();
  const named = MBR_TYPE_BYTES[type as keyof typeof MBR_TYPE_BYTES];
  if (named) return named;
  if (/^[0-9a-f]{2}$/.test(type) && type !== '00') return type;
  return invalid(
    `partition ${partition.number} has type '${partition.type}', which an MBR cannot hold`,
    {
      partition: partition.number,
    },
  );
}

function gptType(partition: PartitionSpec): string {
  const type = (partition.type ?? 'linux').toLowerCase();
  const named = GPT_TYPE_GUIDS[type as keyof typeof GPT_TYPE_GUIDS];
  if (named) return named;
  if (isGuid(type) && type !== '00000000-0000-0000-0000-000000000000') return type;
  return invalid(
    `partition ${partition.number} has type '${partition.type}', which a GPT cannot hold`,
    {
      partition: partition.number,
    },
  );
}

/** Checks number, bounds and overlaps in sectors; `nested` pairs (extended/logical) may overlap. */
function checkPartitions(
  partitions: PartitionSpec[],
  first: number,
  last: number,
  nested: (a: PartitionSpec, b: PartitionSpec) => boolean,
): void {
  const numbers = new Set<number>();
  for (const p of partitions) {
    if (!Number.isSafeInteger(p.number) || p.number < 1)
      invalid(`partition number ${p.number} is not 1 or more`);
    if (numbers.has(p.number))
      invalid(`partition ${p.number} is declared twice`, { partition: p.number });
    numbers.add(p.number);
    if (!Number.isSafeInteger(p.start) || !Number.isSafeInteger(p.size) || p.size < 1) {
      invalid(`partition ${p.number} needs a whole start and a size of at least one sector`, {
        partition: p.number,
      });
    }
    if (p.start < first || p.start + p.size - 1 > last) {
      invalid(
        `partition ${p.number} (sectors ${p.start}-${p.start + p.size - 1}) lies outside the usable sectors ${first}-${last}`,
        { partition: p.number },
      );
    }
  }
  for (const a of partitions) {
    for (const b of partitions) {
      if (a.number >= b.number || nested(a, b) || nested(b, a)) continue;
      if (a.start < b.start + b.size && b.start < a.start + a.size) {
        invalid(`partition ${a.number} overlaps partition ${b.number}`, {
          partitions: [a.number, b.number],
        });
      }
    }
  }
}

function putMbrEntry(
  sector: Uint8Array,
  index: number,
  type: string,
  start: number,
  sectors: number,
  boot = 0,
): void {
  const at = 446 + index * 16;
  const dv = view(sector);
  sector[at] = boot;
  // CHS fields say "use LBA" (1023/254/63), as tools do for anything past 8 GiB.
  sector.set([0xfe, 0xff, 0xff], at + 1);
  sector[at + 4] = Number.parseInt(type, 16);
  sector.set([0xfe, 0xff, 0xff], at + 5);
  dv.setUint32(at + 8, start, true);
  dv.setUint32(at + 12, sectors, true);
}

function signed(sector: Uint8Array): Uint8Array {
  sector[510] = 0x55;
  sector[511] = 0xaa;
  return sector;
}

function writeMbr(disk: SparseDisk, spec: DiskSpec, seed: string): void {
  const ss = disk.sectorSize;
  const sectors = Math.min(Math.floor(disk.size / ss), MAX_MBR_LBA + 1);
  const partitions = spec.partitions ?? [];
  const primaries = partitions.filter((p) => p.number <= 4);
  const logicals = partitions.filter((p) => p.number >= 5).sort((a, b) => a.number - b.number);
  const extendedOf = (p: PartitionSpec): boolean => MBR_EXTENDED_TYPES.includes(mbrType(p));
  const extendeds = primaries.filter(extendedOf);
  if (extendeds.length > 1) invalid('an MBR holds at most one extended partition');
  const extended = extendeds[0];
  checkPartitions(partitions, 1, sectors - 1, (a, b) => extendedOf(a) && b.number >= 5);

  const mbr = new Uint8Array(512);
  view(mbr).setUint32(440, view(seededBytes(`${seed}/id`, 4)).getUint32(0, true), true);
  for (const p of primaries) putMbrEntry(mbr, p.number - 1, mbrType(p), p.start, p.size);
  disk.write(0, signed(mbr));
  if (!extended) {
    if (logicals.length > 0) {
      invalid(
        `logical partition ${logicals[0]!.number} needs an extended partition (type 'extended') among 1-4`,
      );
    }
    return;
  }

  // EBR k sits in the sector after logical k-1 (the first at the container's start).
  const ebrs: number[] = [];
  logicals.forEach((p, k) => {
    if (p.number !== 5 + k)
      invalid(`logical partitions must be numbered 5, 6, ... without gaps; found ${p.number}`);
    const previous = logicals[k - 1];
    const ebr = previous ? previous.start + previous.size : extended.start;
    if (p.start <= ebr || p.start + p.size > extended.start + extended.size) {
      invalid(
        `logical partition ${p.number} must lie inside extended partition ${extended.number} after ` +
          `its EBR at sector ${ebr}, in number order`,
        { partition: p.number },
      );
    }
    ebrs.push(ebr);
  });
  if (logicals.length === 0) {
    disk.write(extended.start * ss, signed(new Uint8Array(512)));
    return;
  }
  logicals.forEach((p, k) => {
    const ebr = new Uint8Array(512);
    putMbrEntry(ebr, 0, mbrType(p), p.start - ebrs[k]!, p.size);
    const next = logicals[k + 1];
    if (next) {
      const nextEbr = ebrs[k + 1]!;
      putMbrEntry(ebr, 1, '05', nextEbr - extended.start, next.start + next.size - nextEbr);
    }
    disk.write(ebrs[k]! * ss, signed(ebr));
  });
}

function gptHeader(fields: {
  myLba: number;
  alternateLba: number;
  firstUsable: number;
  lastUsable: number;
  diskGuid: Uint8Array;
  entriesLba: number;
  entriesCrc: number;
  sectorSize: number;
}): Uint8Array {
  const header = new Uint8Array(fields.sectorSize);
  const dv = view(header);
  for (let i = 0; i < 8; i++) header[i] = 'EFI PART'.charCodeAt(i);
  dv.setUint32(8, 0x00010000, true);
  dv.setUint32(12, 92, true);
  dv.setBigUint64(24, BigInt(fields.myLba), true);
  dv.setBigUint64(32, BigInt(fields.alternateLba), true);
  dv.setBigUint64(40, BigInt(fields.firstUsable), true);
  dv.setBigUint64(48, BigInt(fields.lastUsable), true);
  header.set(fields.diskGuid, 56);
  dv.setBigUint64(72, BigInt(fields.entriesLba), true);
  dv.setUint32(80, GPT_ENTRIES, true);
  dv.setUint32(84, GPT_ENTRY_SIZE, true);
  dv.setUint32(88, fields.entriesCrc, true);
  dv.setUint32(16, crc32(header.subarray(0, 92)), true);
  return header;
}

function writeGpt(disk: SparseDisk, spec: DiskSpec, seed: string): void {
  const ss = disk.sectorSize;
  const sectors = Math.floor(disk.size / ss);
  const entrySectors = (GPT_ENTRIES * GPT_ENTRY_SIZE) / ss;
  const firstUsable = 2 + entrySectors;
  const lastUsable = sectors - 2 - entrySectors;
  if (lastUsable < firstUsable) invalid(`${disk.size} bytes is too small for a GPT`);
  const partitions = spec.partitions ?? [];
  checkPartitions(partitions, firstUsable, lastUsable, () => false);

  const entries = new Uint8Array(GPT_ENTRIES * GPT_ENTRY_SIZE);
  const dv = view(entries);
  for (const p of partitions) {
    if (p.number > GPT_ENTRIES)
      invalid(`partition ${p.number} exceeds the ${GPT_ENTRIES} GPT entries`);
    const at = (p.number - 1) * GPT_ENTRY_SIZE;
    entries.set(encodeGuid(gptType(p)), at);
    entries.set(encodeGuid(seededUuidText(`${seed}/part${p.number}`)), at + 16);
    dv.setBigUint64(at + 32, BigInt(p.start), true);
    dv.setBigUint64(at + 40, BigInt(p.start + p.size - 1), true);
    const name = p.name ?? '';
    if (name.length > 36)
      invalid(`partition ${p.number} name '${name}' is longer than 36 characters`);
    for (let i = 0; i < name.length; i++) dv.setUint16(at + 56 + i * 2, name.charCodeAt(i), true);
  }
  const entriesCrc = crc32(entries);
  const diskGuid = encodeGuid(seededUuidText(`${seed}/disk`));
  const common = { firstUsable, lastUsable, diskGuid, entriesCrc, sectorSize: ss };

  // The protective MBR covers the whole disk (capped at what 32 bits can say).
  const pmbr = new Uint8Array(512);
  putMbrEntry(pmbr, 0, 'ee', 1, Math.min(sectors - 1, MAX_MBR_LBA));
  pmbr.set([0x00, 0x02, 0x00], 447);
  disk.write(0, signed(pmbr));

  const primary = gptHeader({ ...common, myLba: 1, alternateLba: sectors - 1, entriesLba: 2 });
  if (spec.damagePrimaryGpt) primary[16] = primary[16]! ^ 0xff; // CRC mismatch, signature intact
  disk.write(ss, primary);
  disk.write(2 * ss, entries);
  disk.write((lastUsable + 1) * ss, entries);
  disk.write(
    (sectors - 1) * ss,
    gptHeader({ ...common, myLba: sectors - 1, alternateLba: 1, entriesLba: lastUsable + 1 }),
  );
}

/**
 * Writes `spec`'s partition table and filesystem signatures into `disk` and returns where
 * each declared filesystem lies. Throws InvalidInput naming the offending partition when the
 * declaration cannot be laid out (outside the disk, overlapping, wrong type for the table).
 */
export function writeDiskLayout(disk: SparseDisk, spec: DiskSpec): FilesystemRegion[] {
  const size = parseSize(spec.size, 'disk size');
  if (size !== disk.size) invalid(`the spec declares ${size} bytes but the disk has ${disk.size}`);
  const ss = spec.sectorSize ?? 512;
  if (ss !== disk.sectorSize)
    invalid(`the spec declares ${ss}-byte sectors but the disk has ${disk.sectorSize}`);
  const seed = JSON.stringify({
    size,
    ss,
    table: spec.table,
    partitions: spec.partitions,
    fs: spec.filesystem,
  });
  const partitions = spec.partitions ?? [];

  if (spec.table === 'none') {
    if (partitions.length > 0) invalid("partitions need table 'mbr' or 'gpt', not 'none'");
    if (!spec.filesystem) return [];
    writeFilesystem(disk, 0, disk.size, spec.filesystem, `${seed}/fs`);
    return [{ offset: 0, size: disk.size, filesystem: spec.filesystem }];
  }
  if (spec.filesystem)
    invalid(`a whole-disk filesystem cannot share the disk with an ${spec.table} table`);
  if (spec.damagePrimaryGpt && spec.table !== 'gpt') invalid('damagePrimaryGpt needs table gpt');
  if (spec.table === 'mbr') writeMbr(disk, spec, seed);
  else if (spec.table === 'gpt') writeGpt(disk, spec, seed);
  else invalid(`unknown table '${String(spec.table)}'`);

  const regions: FilesystemRegion[] = [];
  for (const p of [...partitions].sort((a, b) => a.number - b.number)) {
    if (!p.filesystem) continue;
    if (spec.table === 'mbr' && MBR_EXTENDED_TYPES.includes(mbrType(p))) {
      invalid(`partition ${p.number} is an extended container and cannot hold a filesystem`);
    }
    const region = {
      offset: p.start * ss,
      size: p.size * ss,
      filesystem: p.filesystem,
      partitionNumber: p.number,
    };
    writeFilesystem(disk, region.offset, region.size, p.filesystem, `${seed}/part${p.number}/fs`);
    regions.push(region);
  }
  return regions;
}
