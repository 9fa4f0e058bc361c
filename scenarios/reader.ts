/**
 * Reads values out of a parsed scenario document, failing with one clear message: the file
 * (with line and column when a locator knows them), the path inside the document, what was
 * expected and what was there, plus the closest allowed word for a typo.
 */
import { closest, distance } from 'fastest-levenshtein';
import { DriverError } from '../driver/errors.js';

type Dict = Record<string, unknown>;

/** Where a path inside the document (`steps[2].boot.volume`) is in the file, when known. */
export type Locator = (path: string) => { line: number; column: number } | undefined;

/** Reads one document, remembering the file for messages. */
export class Reader {
  constructor(
    readonly file: string,
    private readonly locate: Locator = () => undefined,
  ) {}

  fail(path: string, expected: string, got: unknown, suggestion?: string): never {
    const shown =
      got === undefined ? 'nothing' : typeof got === 'string' ? `"${got}"` : JSON.stringify(got);
    const at = this.locate(path);
    const where = at ? `${this.file}:${at.line}:${at.column}` : this.file;
    throw new DriverError(
      'InvalidInput',
      `${where}: ${path}: expected ${expected}, got ${shown}` +
        (suggestion === undefined ? '' : ` (did you mean "${suggestion}"?)`),
      {
        hint: 'See scenarios/README.md for the scenario format.',
        details: { file: this.file, path, ...(at ?? {}) },
      },
    );
  }

  dict(value: unknown, path: string, allowed: readonly string[]): Dict {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      this.fail(path, 'a mapping', value);
    }
    for (const key of Object.keys(value)) {
      if (!allowed.includes(key)) {
        this.fail(
          `${path}.${key}`,
          `one of the keys ${allowed.join(', ')}`,
          key,
          didYouMean(key, allowed),
        );
      }
    }
    return value as Dict;
  }

  list(value: unknown, path: string): unknown[] {
    if (!Array.isArray(value)) this.fail(path, 'a list', value);
    return value;
  }

  string(value: unknown, path: string, what = 'a string'): string {
    if (typeof value !== 'string' || value === '') this.fail(path, what, value);
    return value;
  }

  optString(value: unknown, path: string): string | undefined {
    return value === undefined ? undefined : this.string(value, path);
  }

  /** Numbers and strings both, as YAML users write `2` or `"2"` for a partition. */
  scalar(value: unknown, path: string): string {
    if (typeof value === 'number') return String(value);
    return this.string(value, path, 'a string or number');
  }

  int(value: unknown, path: string, min = 0): number {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
      this.fail(path, `a whole number ≥ ${min}`, value);
    }
    return value;
  }

  bool(value: unknown, path: string): boolean {
    if (typeof value !== 'boolean') this.fail(path, 'true or false', value);
    return value;
  }

  oneOf<T extends string>(value: unknown, path: string, options: readonly T[], note = ''): T {
    if (typeof value !== 'string' || !options.includes(value as T)) {
      this.fail(
        path,
        `one of ${options.join(', ')}${note}`,
        value,
        typeof value === 'string' ? didYouMean(value, options) : undefined,
      );
    }
    return value as T;
  }

  stringMap(value: unknown, path: string): Record<string, string> {
    if (value === undefined) return {};
    const dict = this.dict(value, path, Object.keys(value as Dict));
    const out: Record<string, string> = {};
    for (const [key, item] of Object.entries(dict)) {
      out[key] = this.scalar(item, `${path}.${key}`);
    }
    return out;
  }
}

/** The allowed word closest to a mistyped one, when it is close enough to be a typo. */
function didYouMean(word: string, allowed: readonly string[]): string | undefined {
  if (allowed.length === 0) return undefined;
  const best = closest(word, [...allowed]);
  return distance(word, best) <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}
