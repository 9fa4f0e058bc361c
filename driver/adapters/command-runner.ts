import { accessSync, closeSync, constants as fsConstants, openSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
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
  /**
   * A file (or device) opened read-only as the command's stdin, instead of `input`. It is open
   * before run() returns, so a command that keeps it (a holder) holds it from then on.
   */
  stdinFile?: string;
  /** Kills the command (SIGKILL) when aborted; the run then fails as killed. */
  signal?: AbortSignal;
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
  rmdir: 'coreutils',
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

/** How a started (or not started) command ended, as a runner saw it. */
export interface RawOutcome {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  /** Why it could not start (an errno-coded error). */
  spawnError: Error | undefined;
  timedOut: boolean;
}

/** Resolves or rejects a run from how its command ended: one rule for every runner. */
export function commandOutcome(
  argv: readonly string[],
  options: RunOptions,
  raw: RawOutcome,
  resolve: (result: CommandResult) => void,
  reject: (error: unknown) => void,
): void {
  const { code, signal, stdout, stderr, spawnError, timedOut } = raw;
  if (spawnError || code === null) {
    const missing = spawnError !== undefined && isMissingTool(argv[0] ?? '', spawnError);
    reject(
      spawnFailure(argv, options, {
        kind: timedOut ? 'timeout' : missing ? 'missing' : 'other',
        message: spawnError
          ? `could not start: ${spawnError.message}`
          : `killed by ${signal ?? 'a signal'}`,
        cause: spawnError ?? { signal },
        stdout,
        stderr,
      }),
    );
    return;
  }
  const outcome = { stdout, stderr, exitCode: code };
  if (code !== 0 && !(options.allowExitCodes ?? []).includes(code)) {
    reject(commandFailure(argv, outcome, options));
    return;
  }
  resolve(outcome);
}

/**
 * Runs commands with node:child_process directly: no shell, output captured, UTF-8, LC_ALL=C.
 * execa cost 2.5–4 ms more per process on our hosts (measured by `npm run bench`'s real part,
 * which runs four per disk setup and teardown); the errors keep what execa's carried: argv,
 * exit code, stdout and stderr, and the reason line.
 */
export class ProcessCommandRunner implements CommandRunner {
  run(argv: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    const [file, ...args] = argv;
    if (file === undefined) {
      return Promise.reject(
        new CommandError('InvalidInput', 'Failed to run command: empty argv', {
          argv: [],
          exitCode: undefined,
          stdout: '',
          stderr: '',
        }),
      );
    }
    // Opened now (synchronously), and closed here once the child has its own copy.
    const stdinFd = options.stdinFile === undefined ? undefined : openSync(options.stdinFile, 'r');
    return new Promise((resolve, reject) => {
      let child;
      try {
        child = spawn(file, args, {
          stdio: [stdinFd ?? (options.input === undefined ? 'ignore' : 'pipe'), 'pipe', 'pipe'],
          env: { ...process.env, LC_ALL: 'C' },
        });
      } finally {
        if (stdinFd !== undefined) closeSync(stdinFd);
      }
      if (options.signal) {
        const kill = () => child.kill('SIGKILL');
        if (options.signal.aborted) kill();
        else options.signal.addEventListener('abort', kill, { once: true });
      }
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout?.on('data', (chunk: Buffer) => out.push(chunk));
      child.stderr?.on('data', (chunk: Buffer) => err.push(chunk));
      let timedOut = false;
      let spawnError: Error | undefined;
      const timer =
        options.timeoutMs === undefined
          ? undefined
          : setTimeout(() => {
              timedOut = true;
              child.kill('SIGTERM');
            }, options.timeoutMs);
      if (options.input !== undefined) {
        // A command that exits without reading its stdin is not an error of ours.
        child.stdin?.on('error', () => undefined);
        child.stdin?.end(options.input);
      }
      child.on('error', (error) => {
        spawnError = error;
      });
      child.on('close', (code, signal) => {
        if (timer) clearTimeout(timer);
        commandOutcome(
          argv,
          options,
          {
            code,
            signal,
            stdout: Buffer.concat(out).toString('utf8'),
            stderr: Buffer.concat(err).toString('utf8'),
            spawnError,
            timedOut,
          },
          resolve,
          reject,
        );
      });
    });
  }
}
