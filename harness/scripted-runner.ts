import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  commandFailure,
  spawnFailure,
  type CommandResult,
  type CommandRunner,
  type RunOptions,
} from '../driver/adapters/command-runner.js';
import { fsError, type FileStat, type SystemFiles } from '../driver/adapters/system-files.js';
import { DriverError, hasCode } from '../driver/errors.js';

/** Where a transcript came from: enough to record it again and to trust it. */
export interface TranscriptProvenance {
  recordedAt: string;
  host: string;
  /** Tool versions, e.g. `{ losetup: 'losetup from util-linux 2.38.1' }`. */
  tools: Record<string, string>;
  /** The command that recorded it. */
  recordedBy: string;
}

/** An fs failure as node:fs reported it. */
export interface RecordedFsError {
  errno: string;
  message: string;
}

/** One recorded interaction with the host, replayed in order. */
export type TranscriptStep =
  | {
      op: 'run';
      argv: string[];
      input?: string;
      stdout: string;
      stderr: string;
      /** null: the command never ran (`spawn` says why). */
      exitCode: number | null;
      spawn?: 'missing' | 'timeout' | 'other';
    }
  | { op: 'readText'; path: string; text?: string; error?: RecordedFsError }
  /** `texts[i]` null: `paths[i]` did not exist; `error`: the whole call failed. */
  | { op: 'readAttributes'; paths: string[]; texts?: (string | null)[]; error?: RecordedFsError }
  | {
      op: 'readBytes';
      path: string;
      offset: number;
      length: number;
      base64?: string;
      error?: RecordedFsError;
    }
  | { op: 'readAvailable'; path: string; text?: string; error?: RecordedFsError }
  | { op: 'stat'; path: string; stat: FileStat | null }
  | { op: 'readDir'; path: string; names?: string[]; error?: RecordedFsError }
  | { op: 'realpath'; path: string; result?: string; error?: RecordedFsError }
  | { op: 'tempFile'; name: string; content: string }
  | { op: 'signal'; pid: number; signal: string; error?: RecordedFsError };

/** What a call of an adapter returned or threw, in a form that compares across runs. */
export type Outcome =
  { call: string; value: unknown } | { call: string; error: string; message: string };

/** A recorded session: provenance, the paths it used, every step, and what the calls returned. */
export interface Transcript {
  name: string;
  provenance: TranscriptProvenance;
  /** Paths and names the scenario used (replayed verbatim). */
  context: Record<string, string>;
  steps: TranscriptStep[];
  outcomes: Outcome[];
}

/** The placeholder that stands for a temp file's real (random) directory in transcripts. */
export const TEMP_DIR_PLACEHOLDER = '/tmp/nova-lxc-TEMP';

/** Directory of recorded transcripts. */
export const TRANSCRIPTS_DIR = join(import.meta.dirname, '../test/fixtures/transcripts');

/** Loads `test/fixtures/transcripts/<name>.json`. */
export function loadTranscript(name: string): Transcript {
  return JSON.parse(readFileSync(join(TRANSCRIPTS_DIR, `${name}.json`), 'utf8')) as Transcript;
}

function rethrowFs(action: string, path: string, error: RecordedFsError): never {
  throw fsError(action, path, Object.assign(new Error(error.message), { code: error.errno }));
}

/**
 * Replays a transcript as both the CommandRunner and the SystemFiles of an adapter, strictly in
 * order: any call that is not the next recorded step fails the test with both sides shown.
 */
export class ScriptedHost implements CommandRunner, SystemFiles {
  private position = 0;

  constructor(private readonly transcript: Pick<Transcript, 'name' | 'steps'>) {}

  /** Fails unless every recorded step was replayed. */
  assertDone(): void {
    const left = this.transcript.steps.length - this.position;
    if (left > 0) {
      throw new Error(
        `Transcript ${this.transcript.name}: ${left} step(s) not replayed, next ${JSON.stringify(this.transcript.steps[this.position])}`,
      );
    }
  }

  private next<K extends TranscriptStep['op']>(
    op: K,
    actual: unknown,
    matches: (step: Extract<TranscriptStep, { op: K }>) => boolean,
  ): Extract<TranscriptStep, { op: K }> {
    const step = this.transcript.steps[this.position];
    if (!step || step.op !== op || !matches(step as Extract<TranscriptStep, { op: K }>)) {
      throw new Error(
        `Transcript ${this.transcript.name} step ${this.position}: unexpected ${op} ${JSON.stringify(actual)}; expected ${JSON.stringify(step ?? 'the end')}`,
      );
    }
    this.position++;
    return step as Extract<TranscriptStep, { op: K }>;
  }

  async run(argv: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    const step = this.next(
      'run',
      argv,
      (s) => JSON.stringify(s.argv) === JSON.stringify(argv) && s.input === options.input,
    );
    if (step.exitCode === null) {
      throw spawnFailure(argv, options, {
        kind: step.spawn ?? 'other',
        message: step.stderr,
        stdout: step.stdout,
        stderr: step.stderr,
      });
    }
    const result = { stdout: step.stdout, stderr: step.stderr, exitCode: step.exitCode };
    if (step.exitCode !== 0 && !(options.allowExitCodes ?? []).includes(step.exitCode)) {
      throw commandFailure(argv, result, options);
    }
    return result;
  }

  async readText(path: string): Promise<string> {
    const step = this.next('readText', path, (s) => s.path === path);
    if (step.error) rethrowFs('read', path, step.error);
    return step.text ?? '';
  }

  async readAttributes(paths: readonly string[]): Promise<(string | null)[]> {
    const step = this.next(
      'readAttributes',
      paths,
      (s) => JSON.stringify(s.paths) === JSON.stringify(paths),
    );
    if (step.error) rethrowFs('read', paths.join(', '), step.error);
    return step.texts ?? paths.map(() => null);
  }

  async readBytes(path: string, offset: number, length: number): Promise<Uint8Array> {
    const step = this.next(
      'readBytes',
      { path, offset, length },
      (s) => s.path === path && s.offset === offset && s.length === length,
    );
    if (step.error) rethrowFs('read', path, step.error);
    return new Uint8Array(Buffer.from(step.base64 ?? '', 'base64'));
  }

  async readAvailable(path: string): Promise<string> {
    const step = this.next('readAvailable', path, (s) => s.path === path);
    if (step.error) rethrowFs('read', path, step.error);
    return step.text ?? '';
  }

  async signal(pid: number, signal: 'SIGKILL'): Promise<void> {
    const step = this.next('signal', { pid, signal }, (s) => s.pid === pid && s.signal === signal);
    if (step.error) {
      if (step.error.errno === 'ESRCH') {
        throw new DriverError('NotFound', `Failed to signal process ${pid}: no such process`);
      }
      rethrowFs('signal process', String(pid), step.error);
    }
  }

  async stat(path: string): Promise<FileStat | null> {
    return this.next('stat', path, (s) => s.path === path).stat;
  }

  async readDir(path: string): Promise<string[]> {
    const step = this.next('readDir', path, (s) => s.path === path);
    if (step.error) rethrowFs('list', path, step.error);
    return step.names ?? [];
  }

  async realpath(path: string): Promise<string> {
    const step = this.next('realpath', path, (s) => s.path === path);
    if (step.error) rethrowFs('resolve', path, step.error);
    return step.result ?? path;
  }

  async withTempFile<T>(
    name: string,
    content: string,
    use: (path: string) => Promise<T>,
  ): Promise<T> {
    this.next('tempFile', { name, content }, (s) => s.name === name && s.content === content);
    return use(`${TEMP_DIR_PLACEHOLDER}/${name}`);
  }
}

function recordFsError(error: unknown): RecordedFsError {
  const cause =
    (error as { cause?: NodeJS.ErrnoException }).cause ?? (error as NodeJS.ErrnoException);
  return { errno: cause.code ?? 'EIO', message: cause.message };
}

/**
 * Wraps the real runner and system files and records every interaction as transcript steps
 * (used by tools/record-transcripts.ts on a prepared host).
 */
export class RecordingHost implements CommandRunner, SystemFiles {
  readonly steps: TranscriptStep[] = [];
  private tempDir: string | null = null;

  constructor(
    private readonly runner: CommandRunner,
    private readonly files: SystemFiles,
  ) {}

  async run(argv: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    const shown = argv.map((arg) =>
      this.tempDir ? arg.replaceAll(this.tempDir, TEMP_DIR_PLACEHOLDER) : arg,
    );
    const base = {
      op: 'run' as const,
      argv: shown,
      ...(options.input ? { input: options.input } : {}),
    };
    try {
      const result = await this.runner.run(argv, options);
      this.steps.push({ ...base, ...result });
      return result;
    } catch (error) {
      const failure = error as {
        exitCode?: number;
        stdout?: string;
        stderr?: string;
        code?: string;
      };
      this.steps.push({
        ...base,
        stdout: failure.stdout ?? '',
        stderr: failure.stderr ?? '',
        exitCode: failure.exitCode ?? null,
        ...(failure.exitCode === undefined
          ? {
              spawn:
                failure.code === 'Unsupported'
                  ? 'missing'
                  : failure.code === 'Timeout'
                    ? 'timeout'
                    : 'other',
            }
          : {}),
      } as TranscriptStep);
      throw error;
    }
  }

  async readText(path: string): Promise<string> {
    try {
      const text = await this.files.readText(path);
      this.steps.push({ op: 'readText', path, text });
      return text;
    } catch (error) {
      this.steps.push({ op: 'readText', path, error: recordFsError(error) });
      throw error;
    }
  }

  async readAttributes(paths: readonly string[]): Promise<(string | null)[]> {
    try {
      const texts = await this.files.readAttributes(paths);
      this.steps.push({ op: 'readAttributes', paths: [...paths], texts });
      return texts;
    } catch (error) {
      this.steps.push({ op: 'readAttributes', paths: [...paths], error: recordFsError(error) });
      throw error;
    }
  }

  async readBytes(path: string, offset: number, length: number): Promise<Uint8Array> {
    try {
      const bytes = await this.files.readBytes(path, offset, length);
      this.steps.push({
        op: 'readBytes',
        path,
        offset,
        length,
        base64: Buffer.from(bytes).toString('base64'),
      });
      return bytes;
    } catch (error) {
      this.steps.push({ op: 'readBytes', path, offset, length, error: recordFsError(error) });
      throw error;
    }
  }

  async readAvailable(path: string): Promise<string> {
    try {
      const text = await this.files.readAvailable(path);
      this.steps.push({ op: 'readAvailable', path, text });
      return text;
    } catch (error) {
      this.steps.push({ op: 'readAvailable', path, error: recordFsError(error) });
      throw error;
    }
  }

  async signal(pid: number, signal: 'SIGKILL'): Promise<void> {
    try {
      await this.files.signal(pid, signal);
      this.steps.push({ op: 'signal', pid, signal });
    } catch (error) {
      const errno = hasCode(error, 'NotFound') ? 'ESRCH' : recordFsError(error).errno;
      this.steps.push({ op: 'signal', pid, signal, error: { errno, message: String(error) } });
      throw error;
    }
  }

  async stat(path: string): Promise<FileStat | null> {
    const stat = await this.files.stat(path);
    this.steps.push({ op: 'stat', path, stat });
    return stat;
  }

  async readDir(path: string): Promise<string[]> {
    try {
      const names = await this.files.readDir(path);
      this.steps.push({ op: 'readDir', path, names });
      return names;
    } catch (error) {
      this.steps.push({ op: 'readDir', path, error: recordFsError(error) });
      throw error;
    }
  }

  async realpath(path: string): Promise<string> {
    try {
      const result = await this.files.realpath(path);
      this.steps.push({ op: 'realpath', path, result });
      return result;
    } catch (error) {
      this.steps.push({ op: 'realpath', path, error: recordFsError(error) });
      throw error;
    }
  }

  async withTempFile<T>(
    name: string,
    content: string,
    use: (path: string) => Promise<T>,
  ): Promise<T> {
    this.steps.push({ op: 'tempFile', name, content });
    return this.files.withTempFile(name, content, async (path) => {
      this.tempDir = path.slice(0, path.length - name.length - 1);
      try {
        return await use(path);
      } finally {
        this.tempDir = null;
      }
    });
  }
}

/** Runs `call` and records what it returned or threw (code and message). */
export async function outcome(
  outcomes: Outcome[],
  call: string,
  run: () => Promise<unknown>,
): Promise<Outcome> {
  let result: Outcome;
  try {
    const value = await run();
    result = {
      call,
      value: value instanceof Uint8Array ? Buffer.from(value).toString('hex') : (value ?? null),
    };
  } catch (error) {
    const { code, message } = error as { code?: string; message?: string };
    result = { call, error: code ?? 'thrown', message: message ?? String(error) };
  }
  outcomes.push(result);
  return result;
}
