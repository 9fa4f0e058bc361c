import { accessSync, constants as fsConstants } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { CommandError, reasonOf, type ErrorCode } from '../errors.js';

export { reasonOf } from '../errors.js';

/** What a command printed and how it ended. */
export interface CommandResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** How one command runs and how its failure is described. */
export interface RunOptions {
  /** The action for the error message "Failed to <action>: <reason>", e.g. `attach loop device`. */
  action?: string;
  /** Picks the error code of a failed run (a tool's error table); default CommandFailed. */
  classify?: (failure: CommandResult) => ErrorCode;
  /** Text fed to the command's stdin. */
  input?: string;
  /** Exit codes that count as success besides 0 (e.g. a probe that answers by exit code). */
  allowExitCodes?: readonly number[];
  /** Kills the command after this many milliseconds (a Timeout error). */
  timeoutMs?: number;
}

/**
 * Runs external commands from argv arrays (never shell strings): the one chokepoint for
 * processes, so adapters can be tested with recorded transcripts instead of root.
 */
export interface CommandRunner {
  /** Runs `argv`; a non-zero exit (not allowed) or a spawn failure throws CommandError. */
  run(argv: readonly string[], options?: RunOptions): Promise<CommandResult>;
}

/** Builds the CommandError for a finished command that failed. */
export function commandFailure(
  argv: readonly string[],
  result: CommandResult,
  options: RunOptions = {},
  cause?: unknown,
): CommandError {
  const code = options.classify?.(result) ?? 'CommandFailed';
  const action = options.action ?? `run ${argv[0] ?? 'command'}`;
  return new CommandError(code, `Failed to ${action}: ${reasonOf(result.stderr, result.stdout)}`, {
    argv: [...argv],
    exitCode: result.exitCode,
    stdout: result.stdout,
    stderr: result.stderr,
    cause,
  });
}

/** The Debian package that ships each external tool, for "install it" hints. */
export const TOOL_PACKAGES: Readonly<Record<string, string>> = {
  losetup: 'mount',
  mount: 'mount',
  umount: 'mount',
  blockdev: 'util-linux',
  virsh: 'libvirt-clients',
  'qemu-img': 'qemu-utils',
  'qemu-nbd': 'qemu-utils',
  sfdisk: 'fdisk',
  'mkfs.ext4': 'e2fsprogs',
  debugfs: 'e2fsprogs',
  blkid: 'util-linux',
  cp: 'coreutils',
  truncate: 'coreutils',
  dd: 'coreutils',
};

/** How a command failed without an exit code. */
export interface SpawnFailure {
  kind: 'missing' | 'timeout' | 'other';
  message: string;
  cause?: unknown;
  stdout?: string;
  stderr?: string;
}

/** Builds the CommandError for a command that never produced an exit code. */
export function spawnFailure(
  argv: readonly string[],
  options: RunOptions,
  failure: SpawnFailure,
): CommandError {
  const file = argv[0] ?? 'command';
  const code: ErrorCode =
    failure.kind === 'timeout'
      ? 'Timeout'
      : failure.kind === 'missing'
        ? 'Unsupported'
        : 'CommandFailed';
  const reason =
    failure.kind === 'timeout'
      ? `timed out after ${options.timeoutMs} ms`
      : failure.kind === 'missing'
        ? `${file} is not installed`
        : failure.message;
  const pkg = TOOL_PACKAGES[file];
  return new CommandError(code, `Failed to ${options.action ?? `run ${file}`}: ${reason}`, {
    argv: [...argv],
    exitCode: undefined,
    stdout: failure.stdout ?? '',
    stderr: failure.stderr ?? '',
    cause: failure.cause,
    ...(failure.kind === 'missing' && pkg ? { hint: `Install the Debian package ${pkg}.` } : {}),
  });
}

/**
 * Whether a spawn error means the tool is not installed. execvp answers EACCES rather than
 * ENOENT for a bare name when some PATH directory could not be searched (an unprivileged user
 * with /root/... on PATH), so EACCES counts as missing when no PATH directory this user can
 * read holds an executable of that name.
 */
export function isMissingTool(
  file: string,
  cause: unknown,
  path = process.env['PATH'] ?? '',
): boolean {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT') return true;
  if (code !== 'EACCES' || file.includes('/')) return false;
  return !path.split(':').some((dir) => {
    try {
      accessSync(join(dir || '.', file), fsConstants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** Runs commands with execa: no shell, output captured, UTF-8. */
export class ExecaCommandRunner implements CommandRunner {
  async run(argv: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    const [file, ...args] = argv;
    if (file === undefined) {
      throw new CommandError('InvalidInput', 'Failed to run command: empty argv', {
        argv: [],
        exitCode: undefined,
        stdout: '',
        stderr: '',
      });
    }
    const result = await execa(file, args, {
      reject: false,
      stripFinalNewline: false,
      ...(options.input === undefined ? { stdin: 'ignore' as const } : { input: options.input }),
      ...(options.timeoutMs === undefined ? {} : { timeout: options.timeoutMs }),
      env: { LC_ALL: 'C' },
    });
    const stdout = String(result.stdout ?? '');
    const stderr = String(result.stderr ?? '');
    if (result.failed && result.exitCode === undefined) {
      const missing = isMissingTool(file, result.cause);
      throw spawnFailure(argv, options, {
        kind: result.timedOut ? 'timeout' : missing ? 'missing' : 'other',
        message: result.shortMessage ?? 'could not start',
        cause: result.cause ?? result,
        stdout,
        stderr,
      });
    }
    const exitCode = result.exitCode ?? 0;
    const outcome = { stdout, stderr, exitCode };
    if (exitCode !== 0 && !(options.allowExitCodes ?? []).includes(exitCode)) {
      throw commandFailure(argv, outcome, options);
    }
    return outcome;
  }
}
