import { CommandError, DriverError, reasonOf, type ErrorCode } from '../driver/errors.js';
import { STRERROR, type PathErrno } from './paths.js';

/**
 * Failures shaped like the real tools' (util-linux 2.38 and libvirt 9.0 on Debian 12):
 * the same argv, exit code and stderr text, so that error handling runs identically on
 * both backends. Texts come from the reference's observations (§10) and the real adapters'
 * recorded transcripts under test/fixtures/.
 */
export function toolFailure(
  code: ErrorCode,
  action: string,
  argv: string[],
  exitCode: number,
  stderr: string,
): CommandError {
  const reason = reasonOf(stderr);
  return new CommandError(code, `Failed to ${action}: ${reason}`, {
    argv,
    exitCode,
    stdout: '',
    stderr,
  });
}

/** losetup on a path that does not exist. */
export function losetupNoFile(argv: string[], path: string): CommandError {
  return toolFailure(
    'NotFound',
    'attach loop device',
    argv,
    1,
    `losetup: ${path}: failed to set up loop device: No such file or directory\n`,
  );
}

/** losetup on a path the kernel cannot look up (captured on our hosts with a 300-byte name). */
export function losetupPathFailure(argv: string[], path: string, errno: PathErrno): CommandError {
  return toolFailure(
    errno === 'ENOTDIR' ? 'NotFound' : 'InvalidInput',
    'attach loop device',
    argv,
    1,
    `losetup: ${path}: failed to set up loop device: ${STRERROR[errno]}\n`,
  );
}

/** mount on a target the kernel cannot use: too long a name, or not a directory (captured). */
export function mountBadTarget(argv: string[], target: string, errno: PathErrno): CommandError {
  const what =
    errno === 'ENOTDIR'
      ? 'mount point is not a directory.'
      : `mount(2) system call failed: ${STRERROR[errno]}.`;
  return toolFailure(
    'InvalidInput',
    'mount filesystem',
    argv,
    32,
    `mount: ${target}: ${what}\n       dmesg(1) may have more information after failed mount system call.\n`,
  );
}

/** umount of a target the kernel cannot look up (captured with a 300-byte name). */
export function umountBadTarget(argv: string[], target: string, errno: PathErrno): CommandError {
  return toolFailure(
    errno === 'ENOENT' || errno === 'ENOTDIR' ? 'NotFound' : 'InvalidInput',
    'unmount filesystem',
    argv,
    32,
    `umount: ${target}: umount(2) system call failed: ${STRERROR[errno]}.\n`,
  );
}

/** losetup when every loop device is taken and none can be created. */
export function losetupExhausted(argv: string[]): CommandError {
  return toolFailure(
    'ResourceExhausted',
    'attach loop device',
    argv,
    1,
    'losetup: cannot find an unused loop device\n',
  );
}

/** losetup --detach of a device that is not attached. */
export function losetupNotAttached(argv: string[], device: string): CommandError {
  return toolFailure(
    'NotFound',
    'detach loop device',
    argv,
    1,
    `losetup: ${device}: detach failed: No such device or address\n`,
  );
}

/** mount of a device without a filesystem of the requested type (exit 32, as observed). */
export function mountWrongFs(argv: string[], device: string, target: string): CommandError {
  return toolFailure(
    'InvalidInput',
    'mount filesystem',
    argv,
    32,
    `mount: ${target}: wrong fs type, bad option, bad superblock on ${device}, missing codepage or helper program, or other error.\n       dmesg(1) may have more information after failed mount system call.\n`,
  );
}

/** mount of a source that does not exist. */
export function mountNoSource(argv: string[], device: string, target: string): CommandError {
  return toolFailure(
    'NotFound',
    'mount filesystem',
    argv,
    32,
    `mount: ${target}: special device ${device} does not exist.\n`,
  );
}

/** mount on a directory that does not exist. */
export function mountNoTarget(argv: string[], target: string): CommandError {
  return toolFailure(
    'NotFound',
    'mount filesystem',
    argv,
    32,
    `mount: ${target}: mount point does not exist.\n`,
  );
}

/** umount of a directory where nothing is mounted. */
export function umountNotMounted(argv: string[], target: string): CommandError {
  return toolFailure(
    'NotFound',
    'unmount filesystem',
    argv,
    32,
    `umount: ${target}: not mounted.\n`,
  );
}

/** umount of a mount point that is in use. */
export function umountBusy(argv: string[], target: string): CommandError {
  return toolFailure(
    'Busy',
    'unmount filesystem',
    argv,
    32,
    `umount: ${target}: target is busy.\n`,
  );
}

/** Any virsh call on a domain libvirt does not know. */
export function virshNoDomain(argv: string[], action: string, name: string): CommandError {
  return toolFailure('NotFound', action, argv, 1, `error: failed to get domain '${name}'\n`);
}

/** virsh failing an operation with libvirt's own error line. */
export function virshFailed(
  code: ErrorCode,
  argv: string[],
  action: string,
  verb: string,
  name: string,
  error: string,
): CommandError {
  return toolFailure(
    code,
    action,
    argv,
    1,
    `error: Failed to ${verb} domain '${name}'\nerror: ${error}\n`,
  );
}

/** libvirt_lxc refusing to start a container whose rootfs lacks the init. */
export function lxcNoInit(argv: string[], name: string, init: string): CommandError {
  return virshFailed(
    'FailedPrecondition',
    argv,
    'start domain',
    'start',
    name,
    // Captured from libvirt 9.0 on Debian 12 (test/fixtures/transcripts/virsh.json).
    `internal error: Timed out while reading log output: Failure in libvirt_lxc startup: cannot find init path '${init}' relative to container root: No such file or directory`,
  );
}

/** An operation the simulator does not model: it fails loudly instead of pretending. */
export function notModelled(operation: string, why: string): DriverError {
  return new DriverError('NotModelled', `Failed to simulate ${operation}: ${why} is not modelled`, {
    hint: 'Extend the simulator (simulator/) or run this case on the real backend.',
  });
}
