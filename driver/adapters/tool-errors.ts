import type { ErrorCode } from '../errors.js';
import type { CommandResult } from './command-runner.js';

/** One row of a tool's error table: the first row whose pattern matches stderr wins. */
export interface ErrorRule {
  match: RegExp;
  code: ErrorCode;
  /** Only when the tool exited with this code. */
  exitCode?: number;
}

/** A classifier over a table; unmatched failures are CommandFailed. */
export function classifyBy(table: readonly ErrorRule[]): (failure: CommandResult) => ErrorCode {
  return (failure) =>
    table.find(
      (rule) =>
        (rule.exitCode === undefined || rule.exitCode === failure.exitCode) &&
        rule.match.test(failure.stderr),
    )?.code ?? 'CommandFailed';
}

/** losetup (util-linux 2.38): texts from test/fixtures/transcripts. */
export const LOSETUP_ERRORS: readonly ErrorRule[] = [
  { match: /cannot find an unused loop device|No free loop device/i, code: 'ResourceExhausted' },
  // EBUSY on attach: another process took the device between find and set-up.
  { match: /failed to set up loop device: Device or resource busy/, code: 'ResourceExhausted' },
  { match: /No such file or directory/, code: 'NotFound' },
  { match: /detach failed: No such device or address/, code: 'NotFound' },
  { match: /Device or resource busy/, code: 'Busy' },
  { match: /Invalid argument|File too large|offset is greater/i, code: 'InvalidInput' },
  { match: /failed to set up loop device: Not a directory/, code: 'NotFound' },
  { match: /File name too long|Too many levels of symbolic links/, code: 'InvalidInput' },
  { match: /Permission denied|Operation not permitted/, code: 'FailedPrecondition' },
];

/** mount (util-linux 2.38); failures exit 32. */
export const MOUNT_ERRORS: readonly ErrorRule[] = [
  { match: /already mounted|busy/i, code: 'Busy' },
  { match: /File name too long|mount point is not a directory/, code: 'InvalidInput' },
  { match: /does not exist|No such file or directory/, code: 'NotFound' },
  {
    match: /wrong fs type|bad superblock|can't read superblock|unknown filesystem type/,
    code: 'InvalidInput',
  },
  {
    match: /Permission denied|must be superuser|Operation not permitted/,
    code: 'FailedPrecondition',
  },
];

/** umount (util-linux 2.38); failures exit 32. */
export const UMOUNT_ERRORS: readonly ErrorRule[] = [
  { match: /File name too long/, code: 'InvalidInput' },
  { match: /not mounted|no mount point specified|No such file or directory/, code: 'NotFound' },
  { match: /target is busy|busy/i, code: 'Busy' },
  {
    match: /Permission denied|must be superuser|Operation not permitted/,
    code: 'FailedPrecondition',
  },
];

/** virsh (libvirt 9.0). */
export const VIRSH_ERRORS: readonly ErrorRule[] = [
  { match: /failed to get domain|Domain not found/, code: 'NotFound' },
  { match: /Some processes refused to die/, code: 'Busy' },
  { match: /already exists with uuid/, code: 'AlreadyExists' },
  { match: /domain is not running/, code: 'FailedPrecondition' },
  { match: /Domain is already active|domain is already running/, code: 'FailedPrecondition' },
  // libvirt_lxc's start failures (no init, bad rootfs) are preconditions of the rootfs.
  { match: /Failure in libvirt_lxc startup/, code: 'FailedPrecondition' },
  {
    match:
      /XML error|XML document failed to validate|domain_definition|Couldn't find end|unsupported configuration/,
    code: 'InvalidInput',
  },
  // Names libvirt refuses (captured with virsh define on libvirt 9.0).
  {
    match: /invalid char in name|missing name information|File name too long/,
    code: 'InvalidInput',
  },
  {
    match: /failed to connect to the hypervisor|Failed to connect socket/i,
    code: 'FailedPrecondition',
  },
];

/** qemu-img and qemu-nbd (qemu-utils 7.2). */
export const QEMU_ERRORS: readonly ErrorRule[] = [
  { match: /No such file or directory/, code: 'NotFound' },
  { match: /Device or resource busy/, code: 'Busy' },
  { match: /Unknown driver|Image is not in|invalid|Invalid/, code: 'InvalidInput' },
];
