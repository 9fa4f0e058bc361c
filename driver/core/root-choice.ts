/**
 * Chooses the filesystem a container boots from: the whole device when it holds no
 * partition table, else partition 1 unless the image or host overrides it. Never "the first
 * partition that works": a wrong guess boots the wrong system.
 */
import { DriverError, isDriverError } from '../errors.js';
import { probeFilesystem } from './fs-probe.js';
import type { FilesystemProbe } from './fs-probe.js';
import { readPartitionTable } from './partition-table.js';
import type { ByteReader, Partition, PartitionTable } from './partition-table.js';
import { dpsRootTypeGuid } from './partition-types.js';

/** Which partition holds the root filesystem. */
export type RootPartitionPolicy =
  | { kind: 'first' }
  | { kind: 'number'; number: number }
  | { kind: 'label'; label: string }
  | { kind: 'dps'; arch: string };

/** The filesystem to mount: the whole device, or a byte range of it. */
export type RootChoice =
  | { kind: 'whole'; fstype: string; label?: string }
  | {
      kind: 'partition';
      number: number;
      /** Byte offset of the partition: the loop device's offset. */
      offset: number;
      /** Byte size of the partition: the loop device's size limit. */
      size: number;
      fstype: string;
      label?: string;
      scheme: 'mbr' | 'gpt';
      sectorSize: number;
      warnings: string[];
    };

const OVERRIDE_HINT =
  'Choose the root partition with the image property lxc_root_partition ' +
  '(N, label:NAME or dps) or the host option --root-partition.';

// GPT allows 128 entries by default; the cap only rejects nonsense like 10^20.
const MAX_PARTITION_NUMBER = 4096;

/**
 * Parses `first`, a partition number, `label:NAME`, `dps` or `dps:ARCH`; `source` names where
 * the value came from (e.g. "image property lxc_root_partition") for the error message.
 */
export function parseRootPartitionPolicy(
  value: string,
  source: string,
  arch = '',
): RootPartitionPolicy {
  const trimmed = value.trim();
  const invalid = (reason: string): never => {
    throw new DriverError('InvalidInput', `Failed to parse ${source} '${value}': ${reason}`, {
      hint: `Set ${source} to first, a partition number (1, 2, ...), label:NAME or dps.`,
      details: { source, value },
    });
  };
  if (trimmed === 'first') return { kind: 'first' };
  if (/^\d+$/.test(trimmed)) {
    const number = Number(trimmed);
    if (number < 1 || number > MAX_PARTITION_NUMBER) {
      invalid(`partition numbers run from 1 to ${MAX_PARTITION_NUMBER}`);
    }
    return { kind: 'number', number };
  }
  if (trimmed.startsWith('label:')) {
    const label = trimmed.slice('label:'.length);
    if (label === '') invalid('the label is empty');
    return { kind: 'label', label };
  }
  if (trimmed === 'dps') return { kind: 'dps', arch };
  if (trimmed.startsWith('dps:')) {
    const named = trimmed.slice('dps:'.length);
    if (!dpsRootTypeGuid(named))
      invalid(`the Discoverable Partitions Specification names no root type for '${named}'`);
    return { kind: 'dps', arch: named };
  }
  return invalid('expected first, a partition number, label:NAME or dps');
}

function describeProbe(probe: FilesystemProbe | null): string {
  if (!probe) return 'no recognisable filesystem';
  switch (probe.type) {
    case 'swap':
      return 'swap';
    case 'crypto_LUKS':
      return 'LUKS encrypted data';
    case 'LVM2_member':
      return 'an LVM2 physical volume';
    default:
      return `a ${probe.type} filesystem`;
  }
}

function noRoot(device: string, reason: string, details: Record<string, unknown>): never {
  throw new DriverError(
    'NoRootFilesystem',
    `Failed to choose the root filesystem of ${device}: ${reason}`,
    { hint: OVERRIDE_HINT, details: { device, ...details } },
  );
}

function describePartitions(table: PartitionTable): string {
  if (table.partitions.length === 0) return 'none';
  return table.partitions.map((p) => `${p.number}${p.name ? ` (${p.name})` : ''}`).join(', ');
}

async function readTable(reader: ByteReader, device: string): Promise<PartitionTable | null> {
  try {
    return await readPartitionTable(reader);
  } catch (error) {
    if (isDriverError(error)) {
      throw new DriverError(error.code, `${error.message} (on ${device})`, {
        hint: error.hint,
        cause: error,
        details: { ...error.details, device },
      });
    }
    throw error;
  }
}

async function chooseWhole(
  reader: ByteReader,
  device: string,
  policy: RootPartitionPolicy,
): Promise<RootChoice> {
  if (policy.kind === 'number' || policy.kind === 'dps') {
    const wanted = policy.kind === 'number' ? `partition ${policy.number}` : 'DPS root partition';
    noRoot(device, `it holds no partition table, so there is no ${wanted}`, { policy });
  }
  const probe = await probeFilesystem(reader, 0);
  if (!probe) {
    noRoot(device, 'it holds no partition table and no filesystem we recognise', {
      holds: 'nothing',
    });
  }
  if (!probe.mountable) {
    noRoot(device, `it holds no partition table, only ${describeProbe(probe)}`, {
      holds: probe.type,
    });
  }
  if (policy.kind === 'label' && probe.label !== policy.label) {
    noRoot(
      device,
      `it holds no partition table and its ${probe.type} filesystem is labelled ` +
        `${probe.label === undefined ? 'nothing' : `'${probe.label}'`}, not '${policy.label}'`,
      { policy },
    );
  }
  const choice: RootChoice = { kind: 'whole', fstype: probe.type };
  if (probe.label !== undefined) choice.label = probe.label;
  return choice;
}

async function partitionByLabel(
  reader: ByteReader,
  device: string,
  table: PartitionTable,
  label: string,
): Promise<Partition> {
  const candidates: string[] = [];
  const matches: Partition[] = [];
  for (const partition of table.partitions) {
    if (partition.kind === 'extended') continue;
    const probe = await probeFilesystem(reader, partition.start, partition.size);
    const names = [partition.name, probe?.label].filter((n): n is string => n !== undefined);
    candidates.push(
      `${partition.number}: ${names.length ? names.map((n) => `'${n}'`).join('/') : 'unlabelled'}`,
    );
    if (names.includes(label)) matches.push(partition);
  }
  if (matches.length === 1) return matches[0]!;
  if (matches.length === 0) {
    noRoot(
      device,
      `no partition is named or labelled '${label}' (partitions: ${candidates.join(', ') || 'none'})`,
      { policy: { kind: 'label', label } },
    );
  }
  throw new DriverError(
    'InvalidInput',
    `Failed to choose the root filesystem of ${device}: label '${label}' matches partitions ` +
      `${matches.map((p) => p.number).join(' and ')} (partitions: ${candidates.join(', ')})`,
    {
      hint: 'Select the partition by number instead, or relabel one of them.',
      details: { device },
    },
  );
}

function partitionByDps(device: string, table: PartitionTable, arch: string): Partition {
  if (!arch) {
    throw new DriverError(
      'InvalidInput',
      `Failed to choose the root filesystem of ${device}: dps needs the host architecture`,
      {
        details: { device },
      },
    );
  }
  const guid = dpsRootTypeGuid(arch);
  if (!guid) {
    throw new DriverError(
      'Unsupported',
      `Failed to choose the root filesystem of ${device}: the Discoverable Partitions Specification names no root type for architecture '${arch}'`,
      { hint: 'Select the partition by number or label instead.', details: { device, arch } },
    );
  }
  if (table.scheme !== 'gpt') {
    throw new DriverError(
      'InvalidInput',
      `Failed to choose the root filesystem of ${device}: dps needs a GPT disk, but it holds an MBR partition table`,
      { hint: 'Select the partition by number or label instead.', details: { device } },
    );
  }
  // The spec picks the first partition of the type; later ones are ignored.
  const found = table.partitions.find((p) => p.type === guid);
  if (!found) {
    const types = table.partitions.map((p) => `${p.number}: ${p.type}`).join(', ') || 'none';
    noRoot(device, `no partition has the ${arch} root type ${guid} (partitions: ${types})`, {
      policy: { kind: 'dps', arch },
    });
  }
  return found;
}

/**
 * Decides which filesystem of `device` to mount, reading its partition table and
 * superblocks through `reader`. Throws NoRootFilesystem (naming the device and what the
 * chosen partition holds) when there is nothing to boot, InvalidInput for a corrupt table
 * or an override that cannot apply.
 */
export async function chooseRootFilesystem(
  reader: ByteReader,
  device: string,
  policy: RootPartitionPolicy,
  options: { arch?: string } = {},
): Promise<RootChoice> {
  const table = await readTable(reader, device);
  if (!table) return chooseWhole(reader, device, policy);

  let partition: Partition | undefined;
  let wanted: number;
  switch (policy.kind) {
    case 'first':
    case 'number':
      wanted = policy.kind === 'first' ? 1 : policy.number;
      partition = table.partitions.find((p) => p.number === wanted);
      if (!partition) {
        noRoot(
          device,
          `its ${table.scheme.toUpperCase()} partition table has no partition ${wanted} ` +
            `(partitions: ${describePartitions(table)})`,
          { partition: wanted, holds: 'missing' },
        );
      }
      break;
    case 'label':
      partition = await partitionByLabel(reader, device, table, policy.label);
      break;
    case 'dps':
      partition = partitionByDps(device, table, policy.arch || options.arch || '');
      break;
  }

  if (partition.kind === 'extended') {
    noRoot(device, `partition ${partition.number} is an extended partition container`, {
      partition: partition.number,
      holds: 'extended',
    });
  }
  const probe = await probeFilesystem(reader, partition.start, partition.size);
  if (!probe || !probe.mountable) {
    noRoot(device, `partition ${partition.number} holds ${describeProbe(probe)}`, {
      partition: partition.number,
      holds: probe?.type ?? 'nothing',
    });
  }
  const choice: RootChoice = {
    kind: 'partition',
    number: partition.number,
    offset: partition.start,
    size: partition.size,
    fstype: probe.type,
    scheme: table.scheme,
    sectorSize: table.sectorSize,
    warnings: table.warnings,
  };
  if (probe.label !== undefined) choice.label = probe.label;
  return choice;
}
