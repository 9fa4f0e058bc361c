/**
 * The closed set of error codes callers act on. Each names a class of failure, not a tool.
 * Messages read "Failed to <action>: <reason>", with a hint of what to do.
 */
export const ERROR_CODES = [
  'NotFound',
  'AlreadyExists',
  'Busy',
  'ResourceExhausted',
  'InvalidInput',
  'FailedPrecondition',
  'Unsupported',
  'DeviceChanged',
  'NoRootFilesystem',
  'CommandFailed',
  'Timeout',
  'NotModelled',
  'Internal',
] as const;

/** One of ERROR_CODES. */
export type ErrorCode = (typeof ERROR_CODES)[number];

const BRAND = Symbol.for('nova-lxc.DriverError');

/** Options shared by every driver error. */
export interface DriverErrorOptions {
  /** What the user can do about it, one sentence. */
  hint?: string;
  cause?: unknown;
  /** Structured facts for logs and traces (device names, paths); never secrets. */
  details?: Record<string, unknown>;
}

/** An error with a stable code and a "Failed to <action>: <reason>" message. */
export class DriverError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  readonly details: Record<string, unknown>;
  readonly [BRAND] = true;

  constructor(code: ErrorCode, message: string, options: DriverErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DriverError';
    this.code = code;
    this.hint = options.hint;
    this.details = options.details ?? {};
  }

  /** The message followed by the hint, as printed for a user. */
  describe(): string {
    return this.hint ? `${this.message}\n  hint: ${this.hint}` : this.message;
  }

  toJSON(): Record<string, unknown> {
    return { name: this.name, code: this.code, message: this.message, hint: this.hint };
  }
}

/** Options of a failed external command. */
export interface CommandErrorOptions extends DriverErrorOptions {
  argv: readonly string[];
  exitCode: number | undefined;
  stdout: string;
  stderr: string;
}

/** A command that exited non-zero (or could not start): carries argv, exit code and output. */
export class CommandError extends DriverError {
  readonly argv: readonly string[];
  readonly exitCode: number | undefined;
  readonly stdout: string;
  readonly stderr: string;

  constructor(code: ErrorCode, message: string, options: CommandErrorOptions) {
    super(code, message, options);
    this.name = 'CommandError';
    this.argv = options.argv;
    this.exitCode = options.exitCode;
    this.stdout = options.stdout;
    this.stderr = options.stderr;
  }

  override toJSON(): Record<string, unknown> {
    return {
      ...super.toJSON(),
      argv: this.argv,
      exitCode: this.exitCode,
      stdout: this.stdout,
      stderr: this.stderr,
    };
  }
}

/** True for any DriverError, also across module copies (no instanceof). */
export function isDriverError(value: unknown): value is DriverError {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as Record<symbol, unknown>)[BRAND] === true
  );
}

/** True when `value` is a DriverError with one of the given codes. */
export function hasCode(value: unknown, ...codes: ErrorCode[]): value is DriverError {
  return isDriverError(value) && codes.includes(value.code);
}

/**
 * The line of a tool's output that says what went wrong, for "Failed to <action>: <reason>":
 * stderr (stdout when stderr is empty), the second line when virsh leads with "error: Failed
 * to ...", without the "error: " prefix. Used by the command runner and the simulator alike.
 */
export function reasonOf(stderr: string, stdout = ''): string {
  const lines = (stderr.trim() ? stderr : stdout)
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.length > 0 && !/^debugfs \d/.test(line));
  const first = lines[0];
  const chosen = lines.length > 1 && /^error: Failed/i.test(first ?? '') ? lines[1] : first;
  return (chosen ?? 'no error output').replace(/^error: /, '');
}
