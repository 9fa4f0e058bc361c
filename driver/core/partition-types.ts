/**
 * Partition type codes shared by the partition-table reader, root choice and the
 * simulator's disk writer. GUIDs checked against `sfdisk --list-types --label gpt`
 * (util-linux 2.38.1) and the Discoverable Partitions Specification.
 */

/** MBR type bytes of extended partition containers (DOS, Win95 LBA, Linux). */
export const MBR_EXTENDED_TYPES: readonly string[] = ['05', '0f', '85'];

/** MBR type byte of the protective entry that marks a GPT disk. */
export const MBR_PROTECTIVE_TYPE = 'ee';

/** GPT type GUIDs by the names the fixtures use. */
export const GPT_TYPE_GUIDS = {
  linux: '0fc63daf-8483-4772-8e79-3d69d8477de4',
  swap: '0657fd6d-a4ab-43c4-84e5-0933c84b4f4f',
  efi: 'c12a7328-f81f-11d2-ba4b-00a0c93ec93b',
  lvm: 'e6d6d379-f507-44c2-a23c-238f2a3df928',
  'root-x86-64': '4f68bce3-e8cd-4db1-96e7-fbcaf984b709',
  'root-arm64': 'b921b045-1df0-41c3-af44-4c6f280d3fae',
} as const;

/** MBR type bytes by the names the fixtures use (no DPS equivalent exists on MBR). */
export const MBR_TYPE_BYTES = {
  linux: '83',
  swap: '82',
  extended: '05',
  efi: 'ef',
  lvm: '8e',
} as const;

/**
 * DPS root partition type GUIDs by architecture, keyed by uname -m spellings; Node's
 * `process.arch` spellings are mapped by {@link normaliseArch}.
 */
export const DPS_ROOT_TYPE_GUIDS: Readonly<Record<string, string>> = {
  x86_64: '4f68bce3-e8cd-4db1-96e7-fbcaf984b709',
  aarch64: 'b921b045-1df0-41c3-af44-4c6f280d3fae',
  i686: '44479540-f297-41b2-9af7-d131d5f0458a',
  armv7l: '69dad710-2ce4-4e3c-b16c-21a1d49abed3',
  alpha: '6523f8ae-3eb1-4e2a-a05a-18b695ae656f',
  arc: 'd27f46ed-2919-4cb8-bd25-9531f3c16534',
  ia64: '993d8d3d-f80e-4225-855a-9daf8ed7ea97',
  loongarch64: '77055800-792c-4f94-b39a-98c91b762bb6',
  mipsel: '37c58c8a-d913-4156-a25f-48b1b64e07f0',
  mips64el: '700bda43-7a34-4507-b179-eeb93d7a7ca3',
  ppc: '1de3f1ef-fa98-47b5-8dcd-4a860a654d78',
  ppc64: '912ade1d-a839-4913-8964-a10eee08fbd2',
  ppc64le: 'c31c45e6-3f39-412e-80fb-4809c4980599',
  riscv32: '60d5a7fe-8e7d-435c-b714-3dd8162144e1',
  riscv64: '72ec70a6-cf74-40e6-bd49-4bda08e8f224',
  s390: '08a7acea-624c-4a20-91e8-6e0fa67d23f9',
  s390x: '5eead9a9-fe09-4a1e-a1d7-520d00531306',
};

const ARCH_ALIASES: Readonly<Record<string, string>> = {
  x64: 'x86_64',
  amd64: 'x86_64',
  'x86-64': 'x86_64',
  arm64: 'aarch64',
  ia32: 'i686',
  x86: 'i686',
  i386: 'i686',
  i586: 'i686',
  arm: 'armv7l',
  armhf: 'armv7l',
  loong64: 'loongarch64',
};

/** Maps Node (`x64`), Debian (`amd64`) and uname (`x86_64`) spellings to the uname one. */
export function normaliseArch(arch: string): string {
  const lower = arch.trim().toLowerCase();
  return ARCH_ALIASES[lower] ?? lower;
}

/** The DPS root type GUID of an architecture, or undefined when the spec names none. */
export function dpsRootTypeGuid(arch: string): string | undefined {
  return DPS_ROOT_TYPE_GUIDS[normaliseArch(arch)];
}

const GUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** True for a GUID in the 8-4-4-4-12 text form (either case). */
export function isGuid(value: string): boolean {
  return GUID_PATTERN.test(value.toLowerCase());
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Decodes a GUID stored in GPT's mixed-endian layout into lowercase text. */
export function decodeGuid(bytes: Uint8Array): string {
  const b = bytes.subarray(0, 16);
  const first = hex(Uint8Array.of(b[3]!, b[2]!, b[1]!, b[0]!));
  const second = hex(Uint8Array.of(b[5]!, b[4]!));
  const third = hex(Uint8Array.of(b[7]!, b[6]!));
  return `${first}-${second}-${third}-${hex(b.subarray(8, 10))}-${hex(b.subarray(10, 16))}`;
}

/** Encodes a GUID's text form into GPT's mixed-endian 16-byte layout. */
export function encodeGuid(guid: string): Uint8Array {
  if (!isGuid(guid)) {
    throw new Error(`Invalid GUID '${guid}'`);
  }
  const digits = guid.replaceAll('-', '');
  const raw = Uint8Array.from({ length: 16 }, (_, i) =>
    Number.parseInt(digits.slice(i * 2, i * 2 + 2), 16),
  );
  const order = [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15];
  return Uint8Array.from(order, (i) => raw[i]!);
}
