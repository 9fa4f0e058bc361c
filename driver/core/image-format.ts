/**
 * Disk image format inspection from the first bytes of an image file, as Nova's and oslo.utils'
 * format_inspector do it after OSSA-2024-001 (CVE-2024-32498): the content is never trusted to
 * say what it is. The caller compares the detected format with Glance's `disk_format` and
 * refuses what no safe path handles (a qcow2 backing file or external data file, unknown
 * qcow2 features, encryption, formats nova-lxc does not boot).
 * @see https://opendev.org/openstack/oslo.utils/src/branch/master/oslo_utils/imageutils/format_inspector.py
 * @see https://gitlab.com/qemu-project/qemu/-/blob/master/docs/interop/qcow2.txt
 */
import { DriverError } from '../errors.js';
import type { ByteReader } from './partition-table.js';

/** Formats the inspector recognises; only raw and qcow2 can be booted. */
export type DetectedFormat =
  'raw' | 'qcow2' | 'qed' | 'vmdk' | 'vhd' | 'vhdx' | 'vdi' | 'iso' | 'luks';

/** What the header says. */
export interface ImageInspection {
  format: DetectedFormat;
  /** Virtual disk size in bytes (raw: the file size; other formats: 0 when not read). */
  virtualSize: number;
  /** qcow2: the backing file name as stored in the header. */
  backingFile?: string;
  /** qcow2: the backing file format from the header extension, when present. */
  backingFormat?: string;
  /** Reasons the image is unsafe to hand to qemu-img or qemu-nbd (empty when safe). */
  unsafe: readonly string[];
}

const QCOW2_MAGIC = 0x514649fb; // "QFI\xfb"
const QCOW2_V2_HEADER = 72;
const QCOW2_V3_MIN_HEADER = 104;
// qemu refuses backing file names longer than 1023 bytes.
const QCOW2_MAX_BACKING_NAME = 1023;
// Incompatible feature bits nova's inspector knows: dirty, corrupt, external data file,
// compression type. Anything else is refused, as oslo.utils does.
const QCOW2_INCOMPAT_DATA_FILE = 1n << 2n;
const QCOW2_INCOMPAT_KNOWN = 0xfn;
const QCOW2_EXT_BACKING_FORMAT = 0xe2792aca;
const QCOW2_EXT_DATA_FILE = 0x44415441;
// Header extensions live in the first cluster; this stops a hostile chain early.
const QCOW2_MAX_EXTENSIONS = 64;
const QCOW2_MAX_CLUSTER_BITS = 21;
const QCOW2_MIN_CLUSTER_BITS = 9;
const HEADER_BYTES = 512;
const ISO_DESCRIPTOR = 32 * 1024;

const ascii = new TextDecoder('latin1');

function invalid(reason: string): never {
  throw new DriverError('InvalidInput', `Failed to inspect image: ${reason}`, {
    hint: 'The image file is corrupt or hostile; upload it again with the right disk_format.',
  });
}

function startsWith(bytes: Uint8Array, at: number, magic: string): boolean {
  if (at + magic.length > bytes.length) return false;
  for (let i = 0; i < magic.length; i++) {
    if (bytes[at + i] !== magic.charCodeAt(i)) return false;
  }
  return true;
}

function u64(dv: DataView, at: number, what: string): number {
  const value = dv.getBigUint64(at, false);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) invalid(`qcow2 ${what} ${value} overflows`);
  return Number(value);
}

/** Every non-raw format whose signature the header carries (oslo's detect_file_format). */
function signatures(header: Uint8Array, iso: Uint8Array): DetectedFormat[] {
  const dv = new DataView(header.buffer, header.byteOffset, header.byteLength);
  const found: DetectedFormat[] = [];
  if (header.length >= 4 && dv.getUint32(0, false) === QCOW2_MAGIC) found.push('qcow2');
  if (startsWith(header, 0, 'QED\0')) found.push('qed');
  if (startsWith(header, 0, 'KDMV') || startsWith(header, 0, '# Disk DescriptorFile')) {
    found.push('vmdk');
  }
  if (startsWith(header, 0, 'conectix')) found.push('vhd');
  if (startsWith(header, 0, 'vhdxfile')) found.push('vhdx');
  if (header.length >= 0x44 && dv.getUint32(0x40, true) === 0xbeda107f) found.push('vdi');
  if (startsWith(header, 0, 'LUKS\xba\xbe')) found.push('luks');
  if (['CD001', 'NSR02', 'NSR03'].some((magic) => startsWith(iso, 1, magic))) found.push('iso');
  return found;
}

async function inspectQcow2(
  reader: ByteReader,
  header: Uint8Array,
): Promise<Omit<ImageInspection, 'format'>> {
  if (header.length < QCOW2_V2_HEADER) invalid('the qcow2 header is cut short');
  const dv = new DataView(header.buffer, header.byteOffset, header.byteLength);
  const version = dv.getUint32(4, false);
  if (version !== 2 && version !== 3) invalid(`qcow2 version ${version} is not 2 or 3`);
  const backingOffset = u64(dv, 8, 'backing file offset');
  const backingSize = dv.getUint32(16, false);
  const clusterBits = dv.getUint32(20, false);
  const virtualSize = u64(dv, 24, 'virtual size');
  const cryptMethod = dv.getUint32(32, false);
  if (clusterBits < QCOW2_MIN_CLUSTER_BITS || clusterBits > QCOW2_MAX_CLUSTER_BITS) {
    invalid(`qcow2 cluster bits ${clusterBits} are outside 9-21`);
  }
  const clusterSize = 2 ** clusterBits;
  const unsafe: string[] = [];
  const result: Omit<ImageInspection, 'format'> & { unsafe: string[] } = { virtualSize, unsafe };
  if (cryptMethod !== 0) unsafe.push(`it is encrypted (method ${cryptMethod})`);

  let headerLength = QCOW2_V2_HEADER;
  if (version === 3) {
    if (header.length < QCOW2_V3_MIN_HEADER) invalid('the qcow2 v3 header is cut short');
    headerLength = dv.getUint32(100, false);
    if (headerLength < QCOW2_V3_MIN_HEADER || headerLength > clusterSize) {
      invalid(`qcow2 header length ${headerLength} is invalid`);
    }
    const incompatible = dv.getBigUint64(72, false);
    if (incompatible & QCOW2_INCOMPAT_DATA_FILE) unsafe.push('it has an external data file');
    const unknown = incompatible & ~QCOW2_INCOMPAT_KNOWN;
    if (unknown !== 0n)
      unsafe.push(`it has unknown incompatible features 0x${unknown.toString(16)}`);
  }

  if (backingOffset !== 0) {
    if (backingSize > QCOW2_MAX_BACKING_NAME || backingOffset + backingSize > clusterSize) {
      invalid(`qcow2 backing file name (${backingSize} bytes at ${backingOffset}) is invalid`);
    }
    const name = await reader.read(backingOffset, backingSize);
    if (name.length < backingSize) invalid('the qcow2 backing file name is cut short');
    result.backingFile = ascii.decode(name);
    unsafe.push(`it has a backing file (${JSON.stringify(result.backingFile)})`);
  }

  // Header extensions follow the header, up to the backing file name or the cluster end.
  const end = backingOffset !== 0 ? backingOffset : clusterSize;
  let at = headerLength;
  for (let count = 0; count < QCOW2_MAX_EXTENSIONS && at + 8 <= end; count++) {
    const ext = await reader.read(at, 8);
    if (ext.length < 8) break;
    const ev = new DataView(ext.buffer, ext.byteOffset, 8);
    const type = ev.getUint32(0, false);
    const length = ev.getUint32(4, false);
    if (type === 0) break;
    if (at + 8 + length > end) invalid(`qcow2 header extension 0x${type.toString(16)} overruns`);
    if (type === QCOW2_EXT_BACKING_FORMAT || type === QCOW2_EXT_DATA_FILE) {
      const data = ascii.decode(await reader.read(at + 8, Math.min(length, 1024)));
      if (type === QCOW2_EXT_BACKING_FORMAT) result.backingFormat = data;
      else unsafe.push(`it names an external data file (${JSON.stringify(data)})`);
    }
    at += 8 + Math.ceil(length / 8) * 8;
  }
  return result;
}

/**
 * Detects an image file's format from its content. Throws InvalidInput for a header that is
 * corrupt, or that carries the signatures of two formats at once.
 */
export async function inspectImage(reader: ByteReader): Promise<ImageInspection> {
  const header = await reader.read(0, Math.min(HEADER_BYTES, reader.size));
  const iso =
    reader.size >= ISO_DESCRIPTOR + 6 ? await reader.read(ISO_DESCRIPTOR, 6) : new Uint8Array();
  const found = signatures(header, iso);
  if (found.length > 1) invalid(`multiple formats detected: ${found.join(', ')}`);
  const format = found[0] ?? 'raw';
  if (format === 'raw') return { format, virtualSize: reader.size, unsafe: [] };
  if (format === 'qcow2') return { format, ...(await inspectQcow2(reader, header)) };
  return { format, virtualSize: 0, unsafe: [`nova-lxc does not boot ${format} images`] };
}

/** Glance disk formats and what nova-lxc does with them. */
const BOOTABLE = new Set(['raw', 'qcow2']);

/**
 * Refuses an image nova-lxc must not touch: content that does not match Glance's declared
 * `disk_format`, or any unsafe trait. `allowedBacking` is the one backing file a qcow2 may name
 * (an instance overlay over its cached image, with that format); images from Glance get none.
 */
export function checkImage(
  what: string,
  inspection: ImageInspection,
  options: { declared?: string | null; allowedBacking?: { path: string; format: string } } = {},
): void {
  const fail = (reason: string, code: 'InvalidInput' | 'Unsupported' = 'InvalidInput'): never => {
    throw new DriverError(code, `Failed to use image ${what}: ${reason}`, {
      hint:
        code === 'Unsupported'
          ? 'Convert the image to raw or qcow2 and upload it with that disk_format.'
          : 'Upload the image again with the disk_format its content has, without a backing file or external data file.',
      details: { image: what, format: inspection.format, declared: options.declared },
    });
  };
  const declared = options.declared ?? undefined;
  if (declared !== undefined && !BOOTABLE.has(declared)) {
    fail(`disk_format ${declared} is not supported (raw or qcow2)`, 'Unsupported');
  }
  if (declared !== undefined && declared !== inspection.format) {
    fail(
      `image content does not match disk_format: declared ${declared}, found ${inspection.format}`,
    );
  }
  if (!BOOTABLE.has(inspection.format)) {
    fail(`nova-lxc does not boot ${inspection.format} images`, 'Unsupported');
  }
  const allowed = options.allowedBacking;
  const unsafe = inspection.unsafe.filter(
    (reason) =>
      !(
        allowed &&
        inspection.backingFile === allowed.path &&
        inspection.backingFormat === allowed.format &&
        reason.startsWith('it has a backing file')
      ),
  );
  if (allowed && inspection.backingFile !== undefined && inspection.backingFile !== allowed.path) {
    fail(
      `its backing file ${JSON.stringify(inspection.backingFile)} is not the cached image ${allowed.path}`,
    );
  }
  if (unsafe.length > 0) fail(`it does not pass the safety checks: ${unsafe.join('; ')}`);
}
