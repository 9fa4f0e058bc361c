import type { IdMap } from '../ports/host-files.js';

/** Nova keeps at most this many maps per kind (libvirt's own limit is higher; Nova's is five). */
const MAX_ID_MAPS = 5;

// Python's int(): surrounding whitespace, an optional sign, digits with single underscores.
const PYTHON_INT = /^\s*[+-]?\d+(?:_\d+)*\s*$/;

/**
 * Converts `[libvirt]uid_maps`/`gid_maps` entries (`start:target:count`) into id maps exactly
 * as Nova's `_create_idmaps` does: beyond five entries only the first five are kept, and a bad
 * entry is skipped with a warning rather than failing the spawn.
 */
export function parseIdMaps(
  entries: string[],
  kind: 'uid' | 'gid',
  warn: (msg: string) => void,
): IdMap[] {
  // `kind` mirrors Nova's `klass` argument; uid and gid maps share one shape here.
  void kind;
  let kept = entries;
  if (kept.length > MAX_ID_MAPS) {
    kept = kept.slice(0, MAX_ID_MAPS);
    warn('Too many id maps, only included first five.');
  }
  const maps: IdMap[] = [];
  for (const entry of kept) {
    const map = parseEntry(entry);
    if (map) {
      maps.push(map);
    } else {
      warn(`Invalid value for id mapping ${entry}`);
    }
  }
  return maps;
}

/**
 * Splits an oslo.config ListOpt value (`0:1000:100,1:2:3`) into its items; a list (from a
 * multi-valued source) is taken as it is.
 */
export function parseIdMapOption(value: string | string[]): string[] {
  if (Array.isArray(value)) {
    return [...value];
  }
  // oslo's List type strips the whole value and trailing commas, then each item.
  const trimmed = value.trim().replace(/,+$/, '');
  if (trimmed === '') {
    return [];
  }
  return trimmed.split(',').map((item) => item.trim());
}

/** One `start:target:count` entry, or undefined where Nova hits ValueError/IndexError. */
function parseEntry(entry: string): IdMap | undefined {
  // Nova converts every field before indexing, so a fourth numeric field is accepted and
  // ignored (`1:2:3:4`) while a fourth non-numeric one (`1:2:3:x`) rejects the entry.
  const values: number[] = [];
  for (const field of entry.split(':')) {
    if (!PYTHON_INT.test(field)) {
      return undefined;
    }
    const value = Number(field.trim().replaceAll('_', ''));
    // Python has big integers; ids beyond 2^53 cannot be represented here, and libvirt
    // would refuse them anyway, so they count as invalid.
    if (!Number.isSafeInteger(value)) {
      return undefined;
    }
    // `-0` is 0 to Python.
    values.push(value === 0 ? 0 : value);
  }
  const [start, target, count] = values;
  if (start === undefined || target === undefined || count === undefined) {
    return undefined;
  }
  return { start, target, count };
}
