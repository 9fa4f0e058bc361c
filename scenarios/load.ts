/** Finds scenario files and parses them, naming the file and line of any YAML mistake. */
import { readFile, readdir, stat } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';
import { DriverError } from '../driver/errors.js';
import { parseScenario, type Scenario } from './schema.js';

const here = dirname(fileURLToPath(import.meta.url));

/**
 * The folder holding the project's own scenario files (the examples a package ships), whether
 * this module runs from source (`scenarios/`) or built (`dist/scenarios/`).
 */
export const SCENARIOS_DIR =
  basename(dirname(here)) === 'dist' ? join(here, '..', '..', 'scenarios') : here;

/** Parses scenario YAML text; `file` is how messages name it. */
export function parseScenarioText(text: string, file: string): Scenario {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true, merge: true });
  const first = doc.errors[0];
  if (first) {
    throw new DriverError('InvalidInput', `${file}: not valid YAML: ${first.message}`, {
      hint: 'See scenarios/README.md for the scenario format.',
      details: { file },
    });
  }
  return parseScenario(doc.toJS(), file);
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

/** Loads the scenarios at `paths` (files or folders), or every one under scenarios/. */
export async function loadScenarios(paths: string[] = []): Promise<Scenario[]> {
  const files: string[] = [];
  for (const path of paths.length > 0 ? paths : [SCENARIOS_DIR]) {
    const info = await stat(path).catch(() => null);
    if (!info) {
      throw new DriverError('InvalidInput', `Failed to load scenarios: ${path} does not exist`, {
        hint: 'Give scenario files or folders, or nothing for every scenario under scenarios/.',
      });
    }
    files.push(...(info.isDirectory() ? await findScenarioFiles(path) : [path]));
  }
  const scenarios: Scenario[] = [];
  const names = new Map<string, string>();
  for (const file of files) {
    const shown = displayPath(file);
    const scenario = parseScenarioText(await readFile(file, 'utf8'), shown);
    const clash = names.get(scenario.name);
    if (clash) {
      throw new DriverError(
        'InvalidInput',
        `${shown}: name: expected a name no other scenario has, got "${scenario.name}" (also in ${clash})`,
      );
    }
    names.set(scenario.name, shown);
    scenarios.push(scenario);
  }
  return scenarios;
}

/** A path relative to the working directory when it lies below it. */
function displayPath(file: string): string {
  const rel = relative(process.cwd(), resolve(file));
  return rel.startsWith('..') ? resolve(file) : rel;
}
