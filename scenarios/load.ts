/** Finds scenario files and parses them, naming the file, line and column of any mistake. */
import { readFile, readdir, realpath, stat } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LineCounter, isMap, isPair, isScalar, isSeq, parseDocument, type Node } from 'yaml';
import { DriverError, isDriverError } from '../driver/errors.js';
import { parseScenario, type Locator, type Scenario } from './schema.js';

const here = dirname(fileURLToPath(import.meta.url));

/**
 * The folder holding the project's own scenario files (the examples a package ships), whether
 * this module runs from source (`scenarios/`) or built (`dist/scenarios/`).
 */
export const SCENARIOS_DIR =
  basename(dirname(here)) === 'dist' ? join(here, '..', '..', 'scenarios') : here;

/** Parses scenario YAML text; `file` is how messages name it. */
export function parseScenarioText(text: string, file: string): Scenario {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, {
    prettyErrors: true,
    uniqueKeys: true,
    merge: true,
    lineCounter,
  });
  const first = doc.errors[0];
  if (first) {
    const at = first.linePos?.[0];
    throw new DriverError(
      'InvalidInput',
      `${file}${at ? `:${at.line}:${at.col}` : ''}: not valid YAML: ${first.message}`,
      {
        hint: 'See scenarios/README.md for the scenario format.',
        details: { file, ...(at ? { line: at.line, column: at.col } : {}) },
      },
    );
  }
  const locate: Locator = (path) => {
    const offset = offsetOf(doc.contents, segments(path));
    if (offset === undefined) return undefined;
    const pos = lineCounter.linePos(offset);
    return { line: pos.line, column: pos.col };
  };
  return parseScenario(doc.toJS(), file, locate);
}

/** `steps[2].boot.block_device[0]`, `files["/etc/x"]` → its keys and indexes. */
function segments(path: string): (string | number)[] {
  if (path === '(document)') return [];
  const out: (string | number)[] = [];
  for (const m of path.matchAll(/\["((?:[^"\\]|\\.)*)"\]|\[(\d+)\]|([^.[\]]+)/g)) {
    if (m[1] !== undefined) out.push(m[1]);
    else if (m[2] !== undefined) out.push(Number(m[2]));
    else out.push(m[3]!);
  }
  return out;
}

/**
 * The offset of the deepest node along `path`: a mapping key's own position for a key (where a
 * mistyped key is), an item's for a list index. Paths that go inside a scalar (a field of a
 * `--block-device` string) stop at the scalar.
 */
function offsetOf(root: unknown, path: (string | number)[]): number | undefined {
  let node = root as Node | null | undefined;
  let offset = node?.range?.[0];
  for (const seg of path) {
    if (isMap(node)) {
      const pair = node.items.find(
        (p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg),
      );
      if (!pair) break;
      offset = (pair.key as Node).range?.[0] ?? offset;
      node = pair.value as Node | null;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg] as Node | undefined;
      if (!item) break;
      offset = item.range?.[0] ?? offset;
      node = item;
    } else {
      break;
    }
  }
  return offset;
}

/** Every `*.yaml` file under `dir`, sorted, skipping `fixtures/`. */
export async function findScenarioFiles(dir = SCENARIOS_DIR): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'fixtures' && entry.name !== 'node_modules')
        out.push(...(await findScenarioFiles(path)));
    } else if (/\.ya?ml$/.test(entry.name)) {
      out.push(path);
    }
  }
  return out.sort();
}

/** A file that could not be loaded, and why (a one-line message with file and position). */
export interface LoadError {
  file: string;
  message: string;
}

/** What loading the scenarios at some paths found. */
export interface LoadResult {
  scenarios: Scenario[];
  /** Files that did not load; the others still did. */
  errors: LoadError[];
  /** How many scenario files were found (loaded or not). */
  files: number;
}

/**
 * Loads the scenarios at `paths` (files or folders), or every one under scenarios/, going on
 * past a file that does not load. A file named twice (or reached through two paths) is loaded
 * once. Throws only for a path that does not exist.
 */
export async function loadScenarioFiles(paths: string[] = []): Promise<LoadResult> {
  const files: string[] = [];
  for (const path of paths.length > 0 ? paths : [SCENARIOS_DIR]) {
    const info = await stat(path).catch(() => null);
    if (!info) {
      throw new DriverError('InvalidInput', `Failed to load scenarios: ${path} does not exist`, {
        hint: 'Give scenario files or folders, or nothing for every scenario under scenarios/.',
        details: { path },
      });
    }
    files.push(...(info.isDirectory() ? await findScenarioFiles(path) : [path]));
  }
  const seen = new Set<string>();
  const unique: string[] = [];
  for (const file of files) {
    const real = await realpath(file).catch(() => resolve(file));
    if (seen.has(real)) continue;
    seen.add(real);
    unique.push(file);
  }
  const scenarios: Scenario[] = [];
  const errors: LoadError[] = [];
  const names = new Map<string, string>();
  for (const file of unique) {
    const shown = displayPath(file);
    let scenario: Scenario;
    try {
      scenario = parseScenarioText(await readFile(file, 'utf8'), shown);
    } catch (error) {
      if (!isDriverError(error)) throw error;
      errors.push({ file: shown, message: error.message });
      continue;
    }
    const clash = names.get(scenario.name);
    if (clash) {
      errors.push({
        file: shown,
        message: `${shown}: name: expected a name no other scenario has, got "${scenario.name}" (also in ${clash})`,
      });
      continue;
    }
    names.set(scenario.name, shown);
    scenarios.push(scenario);
  }
  return { scenarios, errors, files: unique.length };
}

/** Loads the scenarios at `paths`; throws the first file's error if any does not load. */
export async function loadScenarios(paths: string[] = []): Promise<Scenario[]> {
  const { scenarios, errors } = await loadScenarioFiles(paths);
  const first = errors[0];
  if (first)
    throw new DriverError('InvalidInput', first.message, { details: { file: first.file } });
  return scenarios;
}

/** A path relative to the working directory when it lies below it. */
function displayPath(file: string): string {
  const rel = relative(process.cwd(), resolve(file));
  return rel.startsWith('..') ? resolve(file) : rel;
}
