import { DriverError } from '../errors.js';
import type { LoopDevice } from '../ports/block-devices.js';

function bad(why: string): DriverError {
  return new DriverError('Internal', `Failed to parse losetup --json output: ${why}`);
}

function numberField(row: Record<string, unknown>, key: string): number {
  const value = row[key];
  // util-linux prints numbers as JSON numbers, but older releases quoted them.
  const parsed = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof parsed !== 'number' || !Number.isSafeInteger(parsed)) {
    throw bad(`"${key}" is not a number: ${JSON.stringify(value)}`);
  }
  return parsed;
}

function boolField(row: Record<string, unknown>, key: string): boolean {
  const value = row[key];
  if (typeof value === 'boolean') return value;
  if (value === '1' || value === 1) return true;
  if (value === '0' || value === 0) return false;
  throw bad(`"${key}" is not a flag: ${JSON.stringify(value)}`);
}

function loopNumber(device: string): number {
  return Number(/(\d+)$/.exec(device)?.[1] ?? Number.NaN);
}

/**
 * Parses `losetup --json --list --output NAME,BACK-FILE,OFFSET,SIZELIMIT,RO,LOG-SEC,AUTOCLEAR`.
 * Empty output (no devices on some util-linux versions) is an empty table.
 */
export function parseLosetupJson(text: string): LoopDevice[] {
  if (text.trim() === '') return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw bad(`not JSON (${(error as Error).message})`);
  }
  const rows = (parsed as { loopdevices?: unknown } | null)?.loopdevices;
  if (!Array.isArray(rows)) throw bad('no "loopdevices" array');
  return rows
    .map((row: unknown): LoopDevice => {
      if (typeof row !== 'object' || row === null) throw bad('a row is not an object');
      const record = row as Record<string, unknown>;
      const name = record['name'];
      if (typeof name !== 'string' || !/^\/dev\/loop\d+$/.test(name)) {
        throw bad(`bad device name ${JSON.stringify(name)}`);
      }
      const backing = record['back-file'];
      return {
        device: name,
        // The kernel appends " (deleted)" when the backing file was unlinked; keep it verbatim.
        backingFile: typeof backing === 'string' ? backing : '',
        offset: numberField(record, 'offset'),
        sizeLimit: numberField(record, 'sizelimit'),
        readOnly: boolField(record, 'ro'),
        sectorSize: numberField(record, 'log-sec'),
        autoclear: boolField(record, 'autoclear'),
      };
    })
    .sort((a, b) => loopNumber(a.device) - loopNumber(b.device));
}

/** Parses the single line `losetup --find --show` prints: the attached device. */
export function parseLosetupShow(stdout: string): string {
  const device = stdout.trim();
  if (!/^\/dev\/loop\d+$/.test(device)) {
    throw bad(`losetup --show printed ${JSON.stringify(stdout)}, not a loop device`);
  }
  return device;
}

/** Parses `blockdev --getsize64 --getss`: two lines, bytes then logical sector size. */
export function parseBlockdevGeometry(stdout: string): { size: number; logicalSectorSize: number } {
  const lines = stdout.trim().split('\n');
  const [size, sector] = lines.map((line) => Number(line.trim()));
  if (lines.length !== 2 || !Number.isSafeInteger(size) || !Number.isSafeInteger(sector)) {
    throw new DriverError(
      'Internal',
      `Failed to parse blockdev output: expected two numbers, got ${JSON.stringify(stdout)}`,
    );
  }
  return { size: size as number, logicalSectorSize: sector as number };
}

function sysfsNumber(device: string, field: string, text: string): number {
  const value = text.trim();
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) {
    throw new DriverError(
      'Internal',
      `Failed to read ${device} from sysfs: ${field} is not a number: ${JSON.stringify(text)}`,
    );
  }
  return Number(value);
}

/** A loop device from its sysfs attributes (/sys/block/loopN/{loop/*,ro,queue/...}). */
export function parseLoopSysfs(
  device: string,
  backingFile: string,
  fields: {
    offset: string;
    sizeLimit: string;
    autoclear: string;
    readOnly: string;
    sectorSize: string;
    /** Absent on kernels without /sys/block/loopN/diskseq. */
    diskseq?: string;
  },
): LoopDevice {
  const flag = (field: string, text: string): boolean => sysfsNumber(device, field, text) !== 0;
  return {
    device,
    // The kernel appends " (deleted)" when the backing file was unlinked; keep it verbatim.
    backingFile,
    offset: sysfsNumber(device, 'offset', fields.offset),
    sizeLimit: sysfsNumber(device, 'sizelimit', fields.sizeLimit),
    readOnly: flag('ro', fields.readOnly),
    sectorSize: sysfsNumber(device, 'logical_block_size', fields.sectorSize),
    autoclear: flag('autoclear', fields.autoclear),
    ...(fields.diskseq === undefined
      ? {}
      : { diskseq: sysfsNumber(device, 'diskseq', fields.diskseq) }),
  };
}

/** Geometry from sysfs: `size` counts 512-byte units whatever the device's sector size. */
export function parseSysfsGeometry(
  device: string,
  sectors: string,
  logicalBlockSize: string,
): { size: number; logicalSectorSize: number } {
  return {
    size: sysfsNumber(device, 'size', sectors) * 512,
    logicalSectorSize: sysfsNumber(device, 'logical_block_size', logicalBlockSize),
  };
}
