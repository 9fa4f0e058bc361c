import { readFile } from 'node:fs/promises';
import { relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  expandScenario,
  findScenarioFiles,
  parseScenarioText,
  runScenario,
  type ScenarioRun,
} from '../../scenarios/index.js';
import { BACKEND, makeHarness } from '../../harness/backend.js';

// Each file is parsed on its own, so one broken file is one failing test, not a dead suite.
const files = await findScenarioFiles();
const parsed = await Promise.all(
  files.map(async (file) => {
    const shown = relative(process.cwd(), file);
    try {
      return {
        file: shown,
        runs: expandScenario(parseScenarioText(await readFile(file, 'utf8'), shown)),
      };
    } catch (error) {
      return { file: shown, error: error instanceof Error ? error.message : String(error) };
    }
  }),
);
const runs: ScenarioRun[] = parsed.flatMap((p) => p.runs ?? []);

describe(`scenarios on the ${BACKEND} backend`, () => {
  it.each(parsed.map((p) => [p.file, p.error ?? ''] as const))(
    '%s is a valid scenario',
    (_file, error) => {
      expect(error).toBe('');
    },
  );

  it.for(runs.map((run) => [run.id, run] as const))('%s', async ([, run], ctx) => {
    const result = await runScenario(run, { backend: BACKEND, harness: makeHarness });
    if (result.status === 'skipped') {
      ctx.skip(result.error);
    }
    expect(result.error ?? '').toBe('');
    expect(result.status).toBe('passed');
  });
});
